"""Bodies of the DMP transactions and readers of their answers (pure, lxml, namespace-aware).

- TD0.2 `td02_request` (HL7v3 PRPA_IN201307UV02, reasonCode TEST_EXST), service `patients`;
- TD0.3 `td03_request` (setAuthorization, body `<action>AJOUT</action>`, patient from the VIHF),
  service `habilitations`;
- TD2.1 `iti41_request` (ProvideAndRegisterDocumentSet-b, MTOM), service `repository`;
- TD3.1 `iti18_find` (FindDocuments) / `iti18_by_unique_id` (GetDocuments), service `registry`;
- TD3.2 `iti43_request` (RetrieveDocumentSet), service `repository`;
- TD3.3 `iti57_metadata` / `iti57_status` (UpdateDocumentSet), service `registry`.

The TD0.2 request follows the ANS's public DRIMbox; the answer's "AUTORISATION" observation with a
VALIDE/INTERDIT code is what DRIMbox reads too; the "médecin traitant" and feeding-opposition
observations are our convention (docs/dmp.md, marked [?] there).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from lxml import etree

from plugins.common.clinical import xds
from plugins.common.clinical.model import DocumentMetadata, derived_uuid, oid_from_uuid
from plugins.dmp.soap import xop_include

NS_HL7 = "urn:hl7-org:v3"
NS_XDSB = "urn:ihe:iti:xds-b:2007"
NS_HAB = "urn:si-dmp-habilitations"
ACTION_TD02 = "urn:hl7-org:v3:PRPA_IN201307UV02"
ACTION_TD03 = "urn:si-dmp-habilitations:HabilitationsEndPoint:setAuthorization"
ACTION_ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI43 = "urn:ihe:iti:2007:RetrieveDocumentSet"
ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
SERVICES = {ACTION_TD02: "patients", ACTION_TD03: "habilitations", ACTION_ITI41: "repository",
            ACTION_ITI18: "registry", ACTION_ITI43: "repository", ACTION_ITI57: "registry"}
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
UPDATE_AVAILABILITY = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
REASON_SYSTEM = "1.2.250.1.213.1.1.4.11"
DMP_DEVICE_OID = "1.2.250.1.213.4.1.1.1"
_R = f"{{{xds.NS_RIM}}}"


def _e(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


# -- TD0.2 / TD0.3 -----------------------------------------------------------------------------
def td02_request(ins: str, ins_oid: str, *, sender_oid: str, now: dt.datetime | None = None) -> etree._Element:
    h = f"{{{NS_HL7}}}"
    root = etree.Element(h + "PRPA_IN201307UV02", nsmap={"hl7": NS_HL7}, ITSVersion="XML_1.0")
    _e(root, h + "id", root=str(uuid.uuid4()))
    _e(root, h + "creationTime", value=(now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S"))
    _e(root, h + "interactionId", root="2.16.840.1.113883.1.6", extension="PRPA_IN201307UV02")
    _e(root, h + "processingCode", code="P")
    _e(root, h + "processingModeCode", code="T")
    _e(root, h + "acceptAckCode", code="AL")
    # The DMP as receiver device, as the ANS's own DRIMbox addresses it (VerifyAuthorizationRequest.java
    # in ansforge/DRIM-M_DRIMbox): id 1.2.250.1.213.4.1.1.1, softwareName "DMP".
    for kind, oid, name in (("receiver", DMP_DEVICE_OID, "DMP"), ("sender", sender_oid, "Vigie")):
        device = _e(_e(root, h + kind, typeCode="RCV" if kind == "receiver" else "SND"), h + "device",
                    classCode="DEV", determinerCode="INSTANCE")
        _e(device, h + "id", root=oid)
        _e(device, h + "softwareName", name)
    act = _e(root, h + "controlActProcess", classCode="CACT", moodCode="EVN")
    _e(act, h + "code", code="PRPA_TE201307UV02", codeSystem="2.16.840.1.113883.1.6")
    _e(act, h + "reasonCode", code="TEST_EXST", codeSystem=REASON_SYSTEM)
    query = _e(act, h + "queryByParameter")
    _e(query, h + "queryId", root=str(uuid.uuid4()))
    _e(query, h + "statusCode", code="new")
    _e(query, h + "responsePriorityCode", code="I")
    ident = _e(_e(query, h + "parameterList"), h + "patientIdentifier")
    _e(ident, h + "value", root=ins_oid, extension=ins)
    _e(ident, h + "semanticsText", "Patient.id")
    return root


@dataclass(frozen=True)
class DmpStatus:
    """TD0.2: does the patient have a DMP, may this professional read it, is he the médecin traitant."""

    exists: bool
    closed: bool = False
    authorization: str = "NON_AUTORISE"  # VALIDE | NON_AUTORISE | INTERDIT (patient opposition)
    treating_physician: bool = False
    opposition_to_feeding: bool = False


def read_td02(answer: etree._Element) -> DmpStatus:
    s = {"h": NS_HL7}
    ack = answer.find("h:acknowledgement", s)
    if answer.tag != f"{{{NS_HL7}}}PRPA_IN201306UV02" or ack is None:
        raise ValueError("TD0.2: PRPA_IN201306UV02 with an acknowledgement expected")
    code = answer.find("h:controlActProcess/h:queryAck/h:queryResponseCode", s)
    if code is None or code.get("code") == "NF":
        return DmpStatus(exists=False)
    event = answer.find("h:controlActProcess/h:subject/h:registrationEvent", s)
    if event is None:
        raise ValueError("TD0.2: registrationEvent missing from an OK answer")
    status = event.find("h:statusCode", s)
    observations: dict[str, etree._Element] = {}
    for obs in event.iterfind("h:subject1/h:patient/h:subjectOf/h:observation", s):
        code_el, value_el = obs.find("h:code", s), obs.find("h:value", s)
        if code_el is not None and value_el is not None:
            observations[code_el.get("code", "")] = value_el

    def value(name: str) -> str | None:
        el = observations.get(name)
        return el.get("code") if el is not None else None

    return DmpStatus(exists=True, closed=status is not None and status.get("code") != "active",
                     authorization=value("AUTORISATION") or "NON_AUTORISE",
                     treating_physician=value("MEDECIN_TRAITANT") == "true",
                     opposition_to_feeding=value("OPPOSITION_ALIMENTATION") == "true")


def td03_request(action: str = "AJOUT") -> etree._Element:
    """TD0.3 body: only the action (spec §1.1 and DRIMbox's GiveAuthorizationRequest); the patient and the
    professional are the VIHF's (its resource-id and subject), not repeated in the body."""
    h = f"{{{NS_HAB}}}"
    root = etree.Element(h + "setAuthorization", nsmap={"hab": NS_HAB})
    _e(root, h + "action", action)
    return root


def read_td03(answer: etree._Element) -> bool:
    status = next((el.text for el in answer.iter(f"{{{NS_HAB}}}status")), None)
    return (status or "").strip() == "OK"


# -- registry responses -------------------------------------------------------------------------
@dataclass
class RegistryResult:
    status: str
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (errorCode, codeContext, severity)
    entries: list[xds.EntryView] = field(default_factory=list)
    documents: dict[str, str] = field(default_factory=dict)  # uniqueId -> content-id (ITI-43) or "inline"

    @property
    def ok(self) -> bool:
        return self.status.endswith(":Success") or self.status.endswith(":PartialSuccess")

    @property
    def error_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _, _ in self.errors)


def read_registry(answer: etree._Element) -> RegistryResult:
    """RegistryResponse, AdhocQueryResponse or RetrieveDocumentSetResponse (status, errors, objects)."""
    rs = answer if answer.get("status") else next(answer.iter(f"{{{xds.NS_RS}}}RegistryResponse"), None)
    if rs is None or not rs.get("status"):
        raise ValueError(f"registry answer without status: {answer.tag}")
    result = RegistryResult(status=rs.get("status", ""))
    for error in answer.iter(f"{{{xds.NS_RS}}}RegistryError"):
        result.errors.append((error.get("errorCode", ""), error.get("codeContext", ""), error.get("severity", "")))
    result.entries = xds.read_registry_objects(answer)
    for response in answer.iter(f"{{{NS_XDSB}}}DocumentResponse"):
        uid = response.findtext(f"{{{NS_XDSB}}}DocumentUniqueId") or ""
        doc = response.find(f"{{{NS_XDSB}}}Document")
        include = doc.find("{http://www.w3.org/2004/08/xop/include}Include") if doc is not None else None
        href = include.get("href", "") if include is not None else ""
        result.documents[uid] = href.removeprefix("cid:") if href else "inline"
    return result


# -- ITI-41 --------------------------------------------------------------------------------------
def iti41_request(meta: DocumentMetadata, entry: xds.DocumentEntry, *, content_id: str, attempt: str = "",
                  replaces_entry_uuid: str | None = None) -> etree._Element:
    """ProvideAndRegisterDocumentSetRequest: the metadata of `entry` (`xds.document_entry(meta, cda)`) and
    an `xop:Include` of the CDA part."""
    submission = xds.submission_set(meta, attempt=attempt)
    replaces = {meta.entry_uuid: replaces_entry_uuid} if replaces_entry_uuid else None
    root = etree.Element(f"{{{NS_XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": NS_XDSB})
    root.append(xds.submit_objects_request(submission, [entry], replaces=replaces))
    document = _e(root, f"{{{NS_XDSB}}}Document", id=meta.entry_uuid)
    xop_include(document, content_id)
    return root


# -- ITI-18 --------------------------------------------------------------------------------------
def _query(query_id: str, slots: dict[str, list[str]]) -> etree._Element:
    q = f"{{{xds.NS_QUERY}}}"
    root = etree.Element(q + "AdhocQueryRequest", nsmap={"query": xds.NS_QUERY, "rim": xds.NS_RIM})
    _e(root, q + "ResponseOption", returnComposedObjects="true", returnType="LeafClass")
    adhoc = _e(root, _R + "AdhocQuery", id=query_id)
    for name, values in slots.items():
        holder = _e(_e(adhoc, _R + "Slot", name=name), _R + "ValueList")
        for value in values:
            _e(holder, _R + "Value", value)
    return root


def iti18_find(patient_id: str, *, statuses: tuple[str, ...] = (xds.APPROVED,)) -> etree._Element:
    return _query(FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": [f"'{patient_id}'"],
                                   "$XDSDocumentEntryStatus": ["(" + ",".join(f"'{s}'" for s in statuses) + ")"]})


def iti18_by_unique_id(unique_id: str) -> etree._Element:
    """GetDocuments by uniqueId (TD3.1b): is this document already in the DMP?"""
    return _query(GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [f"('{unique_id}')"]})


# -- ITI-43 --------------------------------------------------------------------------------------
def iti43_request(repository_id: str, unique_id: str) -> etree._Element:
    x = f"{{{NS_XDSB}}}"
    root = etree.Element(x + "RetrieveDocumentSetRequest", nsmap={"xdsb": NS_XDSB})
    request = _e(root, x + "DocumentRequest")
    _e(request, x + "RepositoryUniqueId", repository_id)
    _e(request, x + "DocumentUniqueId", unique_id)
    return root


# -- ITI-57 --------------------------------------------------------------------------------------
def iti57_metadata(meta: DocumentMetadata, entry: xds.EntryView, *, version: str, seed: str) -> etree._Element:
    """A new version of `entry`'s metadata (e.g. new confidentiality codes): same uniqueId and lid,
    new entryUUID, HasMember with PreviousVersion."""
    new_uuid = f"urn:uuid:{derived_uuid(seed, 'update-entry')}"
    updated = DocumentMetadata(**{**meta.__dict__, "entry_uuid": new_uuid})
    document = xds.DocumentEntry(meta=updated, hash=entry.hash or "", size=entry.size or 0,
                                 logical_id=entry.logical_id or entry.entry_uuid, previous_version=version)
    submission = xds.SubmissionSet(
        unique_id=oid_from_uuid(derived_uuid(seed, "update-set")),
        entry_uuid=f"urn:uuid:{derived_uuid(seed, 'update-set-entry')}", submission_time=dt.datetime.now(dt.UTC),
        source_oid=meta.source_oid, patient_id=meta.patient.xds_patient_id, content_type=meta.content_type,
        meta=meta, title=meta.title)
    return xds.submit_objects_request(submission, [document])


def iti57_status(meta: DocumentMetadata, entry_uuid: str, *, original: str, new: str, seed: str) -> etree._Element:
    """UpdateAvailabilityStatus of `entry_uuid` (e.g. Approved -> Deleted)."""
    submission = xds.SubmissionSet(
        unique_id=oid_from_uuid(derived_uuid(seed, "status-set")),
        entry_uuid=f"urn:uuid:{derived_uuid(seed, 'status-set-entry')}", submission_time=dt.datetime.now(dt.UTC),
        source_oid=meta.source_oid, patient_id=meta.patient.xds_patient_id, content_type=meta.content_type,
        meta=meta, title=meta.title)
    root = xds.submit_objects_request(submission, [])
    objects = root.find(_R + "RegistryObjectList")
    assert objects is not None
    xds.association(objects, "status01", UPDATE_AVAILABILITY, submission.entry_uuid, entry_uuid,
                    OriginalStatus=original, NewStatus=new)
    return root
