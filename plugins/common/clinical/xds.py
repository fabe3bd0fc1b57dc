"""XDS.b metadata: the ebRIM `SubmitObjectsRequest` (submission set + document entries + HasMember).

Shared by the DMP feed (ITI-41 wraps it in `ProvideAndRegisterDocumentSetRequest`) and the MSSanté
XDM (`METADATA.XML` is the same `SubmitObjectsRequest`, with a `URI` slot naming each file).

API:
- `document_entry(meta, content, *, uri=None)` -> `DocumentEntry` (hash = SHA-1 hex of `content`, size);
- `submission_set(meta, *, submission_time=None)` -> `SubmissionSet` (ids derived from the document);
- `submit_objects_request(submission, entries, *, replaces=None)` -> lxml element
  (`replaces` maps a new entry's entryUUID to the entryUUID of the version it replaces: RPLC);
- `read_registry_objects(root)` -> `EntryView`s read back from any element holding ExtrinsicObjects
  (a SubmitObjectsRequest, an AdhocQueryResponse); used by the DMP client (TD3.1) and the sandbox.

Classifications and external identifiers carry the IHE UUIDs (ITI TF-3 §4.2.5); codes come from the
value sets through `DocumentMetadata`, never from here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from plugins.common.clinical.model import DocumentMetadata, derived_uuid, hl7_time, oid_from_uuid
from plugins.common.clinical.valuesets import Code

NS_LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
NS_RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS_QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
NS_RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
_R = f"{{{NS_RIM}}}"

# ITI TF-3 4.2.5: classification schemes, identification schemes, object types.
DOCUMENT_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
CLASSIFICATION_NODE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ClassificationNode"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"

CLASSIFIED_CODES = {  # DocumentEntry code metadata: attribute of EntryView -> scheme
    "class_code": DE_CLASS, "type_code": DE_TYPE, "format_code": DE_FORMAT,
    "facility_type": DE_FACILITY, "practice_setting": DE_PRACTICE,
}
REQUIRED_ENTRY_SLOTS = ("creationTime", "languageCode", "sourcePatientId", "hash", "size")


@dataclass(frozen=True)
class DocumentEntry:
    meta: DocumentMetadata
    hash: str  # SHA-1 hex of the document's bytes (the CDA for the DMP)
    size: int
    uri: str | None = None  # XDM only: the file name inside the IHE_XDM folder
    logical_id: str | None = None  # ITI-57 metadata update: the entryUUID of the first version (lid)
    previous_version: str | None = None  # ITI-57: the versionName being replaced ("1", ...)


@dataclass(frozen=True)
class SubmissionSet:
    unique_id: str
    entry_uuid: str
    submission_time: dt.datetime
    source_oid: str
    patient_id: str  # XDS patientId (CX)
    content_type: Code
    meta: DocumentMetadata  # the (first) document: author, institution
    title: str = ""
    # XDM (ITI-32) only: who the set is meant for, each an XON|XCN|XTN value, e.g. `|^^Internet^a@b.fr`.
    intended_recipients: tuple[str, ...] = ()


def document_entry(meta: DocumentMetadata, content: bytes, *, uri: str | None = None) -> DocumentEntry:
    return DocumentEntry(meta=meta, hash=hashlib.sha1(content).hexdigest(), size=len(content), uri=uri)


def submission_set(meta: DocumentMetadata, *, submission_time: dt.datetime | None = None,
                   attempt: str = "") -> SubmissionSet:
    """The submission set of one document; its ids derive from the document (and `attempt`, when a
    later submission of the same document must not reuse the set's uniqueId)."""
    seed = meta.unique_id + attempt
    return SubmissionSet(
        unique_id=oid_from_uuid(derived_uuid(seed, "submission-set")),
        entry_uuid=f"urn:uuid:{derived_uuid(seed, 'submission-set-entry')}",
        submission_time=submission_time or dt.datetime.now(dt.UTC), source_oid=meta.source_oid,
        patient_id=meta.patient.xds_patient_id, content_type=meta.content_type, meta=meta, title=meta.title)


# -- building ----------------------------------------------------------------------------------
def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = etree.SubElement(parent, _R + "Slot", name=name)
    holder = etree.SubElement(slot, _R + "ValueList")
    for value in values:
        etree.SubElement(holder, _R + "Value").text = value


def _localized(parent: etree._Element, tag: str, text: str) -> None:
    holder = etree.SubElement(parent, _R + tag)
    etree.SubElement(holder, _R + "LocalizedString", value=text, charset="UTF-8", lang="fr-FR")


class _Ids:
    """Local ids for Classification / ExternalIdentifier elements (unique inside one request)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, kind: str) -> str:
        self.n += 1
        return f"{kind}{self.n:02d}"


def _classification(parent: etree._Element, ids: _Ids, scheme: str, obj: str, code: Code) -> None:
    el = etree.SubElement(parent, _R + "Classification", id=ids("cl"), classificationScheme=scheme,
                          classifiedObject=obj, nodeRepresentation=code.code, objectType=_R_CLASSIFICATION)
    _slot(el, "codingScheme", code.system)
    _localized(el, "Name", code.display)


_R_CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
_R_EXTERNAL_ID = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"


def _author(parent: etree._Element, ids: _Ids, scheme: str, obj: str, meta: DocumentMetadata) -> None:
    el = etree.SubElement(parent, _R + "Classification", id=ids("cl"), classificationScheme=scheme,
                          classifiedObject=obj, nodeRepresentation="", objectType=_R_CLASSIFICATION)
    _slot(el, "authorPerson", meta.author.xcn)
    _slot(el, "authorInstitution", meta.organisation.xon)
    spec = meta.author.specialty
    _slot(el, "authorSpecialty", f"{spec.code}^{spec.display}^{spec.system}")


def _external_id(parent: etree._Element, ids: _Ids, scheme: str, obj: str, value: str, name: str) -> None:
    el = etree.SubElement(parent, _R + "ExternalIdentifier", id=ids("ei"), identificationScheme=scheme,
                          registryObject=obj, value=value, objectType=_R_EXTERNAL_ID)
    _localized(el, "Name", name)


def _extrinsic(parent: etree._Element, ids: _Ids, entry: DocumentEntry) -> None:
    m = entry.meta
    obj = m.entry_uuid
    el = etree.SubElement(parent, _R + "ExtrinsicObject", id=obj, mimeType=m.mime_type, objectType=DOCUMENT_ENTRY,
                          status=APPROVED)
    if entry.logical_id:
        el.set("lid", entry.logical_id)
    _slot(el, "creationTime", hl7_time(m.creation_time))
    _slot(el, "hash", entry.hash)
    _slot(el, "languageCode", m.language)
    _slot(el, "legalAuthenticator", m.author.xcn)
    _slot(el, "serviceStartTime", hl7_time(m.service_start))
    _slot(el, "serviceStopTime", hl7_time(m.service_stop))
    _slot(el, "size", str(entry.size))
    _slot(el, "sourcePatientId", m.patient.source_patient_id)
    p = m.patient
    info = [f"PID-5|{p.birth_name}^{p.given}^^^^^L", f"PID-8|{p.sex}"]
    if p.birth_date:
        info.insert(1, f"PID-7|{p.birth_date}")
    _slot(el, "sourcePatientInfo", *info)
    if entry.uri:
        _slot(el, "URI", entry.uri)
    _localized(el, "Name", m.title)
    _author(el, ids, DE_AUTHOR, obj, m)
    _classification(el, ids, DE_CLASS, obj, m.class_code)
    for code in m.confidentiality:
        _classification(el, ids, DE_CONFIDENTIALITY, obj, code)
    _classification(el, ids, DE_FORMAT, obj, m.format_code)
    _classification(el, ids, DE_FACILITY, obj, m.facility_type)
    _classification(el, ids, DE_PRACTICE, obj, m.practice_setting)
    _classification(el, ids, DE_TYPE, obj, m.type_code)
    _external_id(el, ids, DE_PATIENT_ID, obj, m.patient.xds_patient_id, "XDSDocumentEntry.patientId")
    _external_id(el, ids, DE_UNIQUE_ID, obj, m.unique_id, "XDSDocumentEntry.uniqueId")


def _package(parent: etree._Element, ids: _Ids, ss: SubmissionSet) -> None:
    obj = ss.entry_uuid
    el = etree.SubElement(parent, _R + "RegistryPackage", id=obj, objectType=_R_REGISTRY_PACKAGE)
    _slot(el, "submissionTime", hl7_time(ss.submission_time))
    if ss.intended_recipients:
        _slot(el, "intendedRecipient", *ss.intended_recipients)
    if ss.title:
        _localized(el, "Name", ss.title)
    _author(el, ids, SS_AUTHOR, obj, ss.meta)
    _classification(el, ids, SS_CONTENT_TYPE, obj, ss.content_type)
    _external_id(el, ids, SS_UNIQUE_ID, obj, ss.unique_id, "XDSSubmissionSet.uniqueId")
    _external_id(el, ids, SS_SOURCE_ID, obj, ss.source_oid, "XDSSubmissionSet.sourceId")
    _external_id(el, ids, SS_PATIENT_ID, obj, ss.patient_id, "XDSSubmissionSet.patientId")
    etree.SubElement(parent, _R + "Classification", id=ids("cl"), classifiedObject=obj,
                     classificationNode=SUBMISSION_SET, objectType=_R_CLASSIFICATION)


_R_REGISTRY_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
_R_ASSOCIATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"


def association(parent: etree._Element, ident: str, kind: str, source: str, target: str,
                **slots: str) -> etree._Element:
    el = etree.SubElement(parent, _R + "Association", id=ident, associationType=kind, sourceObject=source,
                          targetObject=target, objectType=_R_ASSOCIATION)
    for name, value in slots.items():
        _slot(el, name, value)
    return el


def submit_objects_request(submission: SubmissionSet, entries: Sequence[DocumentEntry], *,
                           replaces: Mapping[str, str] | None = None) -> etree._Element:
    """`lcm:SubmitObjectsRequest` with the submission set, the entries, a HasMember per entry (slot
    SubmissionSetStatus=Original) and an RPLC association per replaced entry."""
    root = etree.Element(f"{{{NS_LCM}}}SubmitObjectsRequest", nsmap={"lcm": NS_LCM, "rim": NS_RIM})
    objects = etree.SubElement(root, _R + "RegistryObjectList")
    ids = _Ids()
    _package(objects, ids, submission)
    for entry in entries:
        _extrinsic(objects, ids, entry)
    for n, entry in enumerate(entries, 1):
        extra = {"PreviousVersion": entry.previous_version} if entry.previous_version else {}
        association(objects, f"as{n:02d}", HAS_MEMBER, submission.entry_uuid, entry.meta.entry_uuid,
                    SubmissionSetStatus="Original", **extra)
    for n, (new, old) in enumerate((replaces or {}).items(), 1):
        association(objects, f"rplc{n:02d}", RPLC, new, old)
    return root


# -- reading -----------------------------------------------------------------------------------
@dataclass
class EntryView:
    """A DocumentEntry read from ebRIM (what a registry answers to FindDocuments)."""

    entry_uuid: str
    unique_id: str | None = None
    patient_id: str | None = None
    status: str | None = None
    mime_type: str | None = None
    title: str | None = None
    codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # attr -> (code, codingScheme)
    confidentiality: list[tuple[str, str | None]] = field(default_factory=list)
    slots: dict[str, list[str]] = field(default_factory=dict)
    has_author: bool = False
    logical_id: str | None = None

    def first(self, slot: str) -> str | None:
        values = self.slots.get(slot)
        return values[0] if values else None

    @property
    def hash(self) -> str | None:
        return self.first("hash")

    @property
    def size(self) -> int | None:
        value = self.first("size")
        return int(value) if value and value.isdigit() else None

    @property
    def creation_time(self) -> str | None:
        return self.first("creationTime")


def _slots(el: etree._Element) -> dict[str, list[str]]:
    return {s.get("name", ""): [v.text or "" for v in s.iterfind(f"{_R}ValueList/{_R}Value")]
            for s in el.iterfind(f"{_R}Slot")}


def read_registry_objects(root: etree._Element) -> list[EntryView]:
    """Every ExtrinsicObject under `root`, namespace-aware whatever the prefixes."""
    schemes = {v: k for k, v in CLASSIFIED_CODES.items()}
    entries: list[EntryView] = []
    for el in root.iter(_R + "ExtrinsicObject"):
        view = EntryView(entry_uuid=el.get("id", ""), status=el.get("status"), mime_type=el.get("mimeType"),
                         slots=_slots(el), logical_id=el.get("lid") or el.get("id"))
        name = el.find(f"{_R}Name/{_R}LocalizedString")
        view.title = name.get("value") if name is not None else None
        for cl in el.iterfind(_R + "Classification"):
            scheme = cl.get("classificationScheme", "")
            coding = next(iter(_slots(cl).get("codingScheme") or []), None)
            code = cl.get("nodeRepresentation", "")
            if scheme == DE_CONFIDENTIALITY:
                view.confidentiality.append((code, coding))
            elif scheme == DE_AUTHOR:
                view.has_author = True
            elif scheme in schemes:
                view.codes[schemes[scheme]] = (code, coding)
        for ei in el.iterfind(_R + "ExternalIdentifier"):
            if ei.get("identificationScheme") == DE_UNIQUE_ID:
                view.unique_id = ei.get("value")
            elif ei.get("identificationScheme") == DE_PATIENT_ID:
                view.patient_id = ei.get("value")
        entries.append(view)
    return entries
