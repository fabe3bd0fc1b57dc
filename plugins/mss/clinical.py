"""From a validated document to the shared `DocumentMetadata` and CDA (plugins/common/clinical).

Only the mapping lives here (document + practice settings -> metadata); the CDA and the XDS
metadata are built by the shared builders, the same ones the DMP feed uses, so the CDA mailed and
the one fed to the DMP have the same uniqueId and header.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from agent.documents import ValidatedDocument
from plugins.common.clinical import cda
from plugins.common.clinical import valuesets as vs
from plugins.common.clinical.model import (
    Author,
    DocumentMetadata,
    Organisation,
    Patient,
    derived_uuid,
    oid_from_uuid,
)
from plugins.mss.message import PatientLine
from plugins.mss.settings import MssSettings

_TITLES = ("dr ", "dr. ", "docteur ", "pr ", "professeur ")


@dataclass(frozen=True)
class Prepared:
    """What a send needs from the document; `meta`/`cda` only when the INS is qualified."""

    patient: PatientLine
    label: str  # CDA code@displayName (or the producer's label)
    type_code: str
    author_name: str
    masking: tuple[str, ...]
    meta: DocumentMetadata | None
    cda: bytes | None


def _split_name(name: str) -> tuple[str, str]:
    text = name.strip()
    for t in _TITLES:
        if text.lower().startswith(t):
            text = text[len(t):]
    parts = text.split()
    if len(parts) < 2:
        return (parts[0].upper() if parts else "INCONNU"), ""
    return parts[-1].upper(), " ".join(parts[:-1])


def patient_line(document: ValidatedDocument) -> PatientLine:
    p = dict(document.metadata.get("patient") or {})
    first = p.get("first_names") or ""
    if isinstance(first, list):
        first = first[0] if first else ""
    first = str(first).split(" ")[0] if first else ""
    birth = p.get("birth_date")
    return PatientLine(birth_name=str(p.get("birth_name") or ""), first_name=first,
                       birth_date=dt.date.fromisoformat(birth) if birth else None)


def masking_of(document: ValidatedDocument) -> tuple[str, ...]:
    raw = document.metadata.get("masking") or ()
    return tuple(m for m in raw if m in vs.MASKING_OPTIONS)


def prepare(document: ValidatedDocument, settings: MssSettings) -> Prepared:
    """CPU-bound (CDA with the base64 PDF): run it in a worker thread."""
    line = patient_line(document)
    masking = masking_of(document)
    try:
        type_code = vs.lookup(vs.TYPE_CODES, document.type_code)
        label = type_code.display
    except Exception:  # not a DMP type code: mailed with the producer's label, no CDA
        return Prepared(line, document.type_label, document.type_code, document.author.name, masking, None, None)
    if document.patient_ins is None:
        return Prepared(line, label, document.type_code, document.author.name, masking, None, None)
    p = dict(document.metadata.get("patient") or {})
    family, given = _split_name(document.author.name)
    created = dt.datetime.fromtimestamp(document.created_at, dt.UTC)
    meta = DocumentMetadata(
        unique_id=oid_from_uuid(derived_uuid(document.id, "document")),
        entry_uuid=f"urn:uuid:{derived_uuid(document.id, 'entry')}",
        set_id=oid_from_uuid(derived_uuid(document.id, "set")), version=1, title=document.title,
        type_code=type_code, class_code=vs.class_for_type(document.type_code),
        format_code=vs.lookup(vs.FORMAT_CODES, vs.FORMAT_PDF), confidentiality=vs.confidentiality_codes(masking),
        facility_type=vs.lookup(vs.FACILITY_TYPES, settings.facility_type),
        practice_setting=vs.lookup(vs.PRACTICE_SETTINGS, settings.practice_setting),
        content_type=vs.lookup(vs.CONTENT_TYPES, "07"), creation_time=created, service_start=created,
        service_stop=created,
        patient=Patient(ins=document.patient_ins.matricule, ins_oid=document.patient_ins.oid,
                        birth_name=line.birth_name.upper(), given=line.first_name, sex=str(p.get("sex") or "U"),
                        birth_date=line.birth_date.strftime("%Y%m%d") if line.birth_date else None,
                        used_name=p.get("used_name") or None),
        author=Author(rpps=document.author.rpps or "", family=family, given=given,
                      specialty=vs.lookup(vs.AUTHOR_SPECIALTIES, settings.specialty)),
        organisation=Organisation(id_nat=settings.structure_id, name=settings.structure_name),
        source_oid=settings.source_oid)
    return Prepared(line, label, document.type_code, document.author.name, masking, meta,
                    cda.build_cda(meta, document.pdf))
