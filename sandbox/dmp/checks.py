"""What the DMP stand-in checks in an ITI-41 submission, as the real registry/repository would.

- ebRIM structure: one RegistryPackage classified as a submission set (classificationNode), with its
  uniqueId / sourceId / patientId external identifiers and the submissionTime slot; ExtrinsicObjects of
  the DocumentEntry object type with every required slot, the author classification, class/type/format/
  facility/practice codes and at least one confidentiality code, patientId and uniqueId identifiers;
  one HasMember association per document (slot SubmissionSetStatus=Original); RPLC targets known.
- Value sets: every code is in its JDV (with the right coding scheme); classCode agrees with typeCode
  through ASS_X04; typeCode is in JDV_J66; confidentiality codes are N plus TRE_A07 ones.
- Document: the MTOM part exists, its SHA-1 and size match the metadata, it is a CDA R2 N1 whose header
  (id, code, INS, author, facility, practice setting, templateIds) agrees with the metadata, and the
  embedded PDF is a PDF.

Each problem is an (errorCode, codeContext) pair; codeContext is French, like the DMP's.
"""

from __future__ import annotations

import hashlib

from lxml import etree

from plugins.common.clinical import cda, xds
from plugins.common.clinical import valuesets as vs

R = f"{{{xds.NS_RIM}}}"
META = "XDSRegistryMetadataError"
_SCHEMES = {  # EntryView.codes attribute -> value set the code must belong to
    "class_code": vs.CLASS_CODES, "type_code": vs.TYPE_CODES, "format_code": vs.FORMAT_CODES,
    "facility_type": vs.FACILITY_TYPES, "practice_setting": vs.PRACTICE_SETTINGS,
}

Problem = tuple[str, str]


def _slot_values(el: etree._Element, name: str) -> list[str]:
    return [v.text or "" for v in el.iterfind(f"{R}Slot[@name='{name}']/{R}ValueList/{R}Value")]


def check_submission(submit: etree._Element) -> tuple[list[Problem], list[xds.EntryView], str | None]:
    """Problems with the SubmitObjectsRequest, its document entries, and the submission set's patientId."""
    problems: list[Problem] = []
    objects = submit.find(f"{R}RegistryObjectList")
    if submit.tag != f"{{{xds.NS_LCM}}}SubmitObjectsRequest" or objects is None:
        return [(META, "SubmitObjectsRequest/RegistryObjectList absent.")], [], None
    packages = objects.findall(f"{R}RegistryPackage")
    ss_nodes = [c for c in objects.findall(f"{R}Classification") if c.get("classificationNode") == xds.SUBMISSION_SET]
    if len(packages) != 1 or len(ss_nodes) != 1 or ss_nodes[0].get("classifiedObject") != packages[0].get("id"):
        problems.append((META, "Un lot de soumission (RegistryPackage classé SubmissionSet) est attendu."))
        return problems, [], None
    package = packages[0]
    ss_ids = {e.get("identificationScheme"): e.get("value") for e in package.iterfind(f"{R}ExternalIdentifier")}
    for scheme, label in ((xds.SS_UNIQUE_ID, "uniqueId"), (xds.SS_SOURCE_ID, "sourceId"),
                          (xds.SS_PATIENT_ID, "patientId")):
        if not ss_ids.get(scheme):
            problems.append((META, f"Lot de soumission sans {label}."))
    if not _slot_values(package, "submissionTime"):
        problems.append((META, "Lot de soumission sans submissionTime."))
    if not any(c.get("classificationScheme") == xds.SS_CONTENT_TYPE for c in package.iterfind(f"{R}Classification")):
        problems.append((META, "Lot de soumission sans contentTypeCode."))
    entries = xds.read_registry_objects(objects)
    members = {a.get("targetObject"): a for a in objects.iterfind(f"{R}Association")
               if a.get("associationType") == xds.HAS_MEMBER and a.get("sourceObject") == package.get("id")}
    patient = ss_ids.get(xds.SS_PATIENT_ID)
    for entry in entries:
        problems.extend(_check_entry(objects, entry, patient))
        member = members.get(entry.entry_uuid)
        if member is None or _slot_values(member, "SubmissionSetStatus") != ["Original"]:
            problems.append((META, "Association HasMember (SubmissionSetStatus=Original) absente pour une fiche."))
    return problems, entries, patient


def _check_entry(objects: etree._Element, e: xds.EntryView, patient: str | None) -> list[Problem]:
    problems: list[Problem] = []
    el = objects.find(f"{R}ExtrinsicObject[@id='{e.entry_uuid}']")
    assert el is not None
    if el.get("objectType") != xds.DOCUMENT_ENTRY:
        problems.append((META, "objectType de la fiche différent de DocumentEntry."))
    if e.mime_type != "text/xml":
        problems.append((META, f"mimeType {e.mime_type!r} : text/xml attendu (CDA)."))
    for slot in (*xds.REQUIRED_ENTRY_SLOTS, "serviceStartTime", "legalAuthenticator"):
        if not e.slots.get(slot):
            problems.append((META, f"Métadonnée {slot} absente."))
    if not e.has_author:
        problems.append((META, "Auteur (authorPerson/authorInstitution) absent."))
    if not e.unique_id or not e.patient_id:
        problems.append((META, "uniqueId ou patientId de la fiche absent."))
    elif patient and e.patient_id != patient:
        problems.append(("XDSPatientIdDoesNotMatch", "patientId de la fiche différent de celui du lot."))
    for attr, value_set in _SCHEMES.items():
        code = e.codes.get(attr)
        if code is None:
            problems.append((META, f"{attr} absent."))
        elif not vs.contains(value_set, code[0], code[1]):
            problems.append((META, f"{attr} {code[0]} hors du jeu de valeurs {value_set}."))
    type_code, class_code = e.codes.get("type_code"), e.codes.get("class_code")
    if type_code and class_code and vs.contains(vs.TYPE_CODES, type_code[0]):
        try:
            expected = vs.class_for_type(type_code[0]).code
        except vs.UnknownCode:
            expected = None
        if expected != class_code[0]:
            problems.append((META, f"classCode {class_code[0]} incohérent avec typeCode {type_code[0]} (ASS_X04)."))
    confidentiality = [c for c, _ in e.confidentiality]
    if "N" not in confidentiality:
        problems.append((META, "confidentialityCode N absent."))
    for conf, system in e.confidentiality:
        if not vs.contains(vs.CONFIDENTIALITY, conf, system):
            problems.append((META, f"confidentialityCode {conf} inconnu."))
    return problems


def check_document(entry: xds.EntryView, content: bytes | None) -> list[Problem]:
    """The MTOM part against its entry: SHA-1, size, CDA header, embedded PDF."""
    if content is None:
        return [("XDSMissingDocument", "Aucune partie MTOM pour la fiche.")]
    problems: list[Problem] = []
    if entry.hash != hashlib.sha1(content).hexdigest():
        problems.append(("XDSNonIdenticalHash", "L'empreinte SHA-1 ne correspond pas au document reçu."))
    if entry.size != len(content):
        problems.append(("XDSNonIdenticalSize", "La taille ne correspond pas au document reçu."))
    try:
        header = cda.read_header(content)
    except cda.CdaError as exc:
        return [*problems, ("DMPInvalidDocument", f"Document CDA invalide : {exc}.")]
    expected = {
        "id": (header.unique_id, entry.unique_id), "code": (header.type_code, entry.codes.get("type_code", ("",))[0]),
        "healthCareFacility": (header.facility_type, entry.codes.get("facility_type", ("",))[0]),
        "standardIndustryClassCode": (header.practice_setting, entry.codes.get("practice_setting", ("",))[0]),
        "patientRole/id": (f"{header.ins}^^^&{header.ins_oid}&ISO^NH", entry.patient_id),
    }
    for what, (in_cda, in_meta) in expected.items():
        if in_cda != in_meta:
            problems.append(("DMPInvalidDocument", f"En-tête CDA ({what}) différent des métadonnées."))
    if tuple(header.template_ids) != cda.TEMPLATE_IDS:
        problems.append(("DMPInvalidDocument", "templateId CDA R2 N1 (HL7 France, CI-SIS, XDS-SD) attendus."))
    author = (entry.slots.get("legalAuthenticator") or [""])[0].split("^")[0]
    if header.author_id != author:
        problems.append(("DMPInvalidDocument", "Auteur de l'en-tête CDA différent des métadonnées."))
    if header.media_type != "application/pdf" or not header.pdf.startswith(b"%PDF-"):
        problems.append(("DMPInvalidDocument", "Le corps du CDA n'est pas un PDF."))
    return problems
