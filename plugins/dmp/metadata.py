"""From a validated document and the practice settings to the XDS/CDA metadata, and what blocks a send.

Pure. `problem(document, ...)` says why a document cannot go (French): `wait` (it will go once fixed:
the identity is not qualified) or `refuse` (it never can as is: not a PDF, too big, no RPPS, a type code
outside JDV_J66). `metadata_for` builds the `DocumentMetadata` the CDA and the ebRIM share.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.documents import ValidatedDocument
from plugins.common.clinical import valuesets as vs
from plugins.common.clinical.model import (
    Author,
    DocumentMetadata,
    Organisation,
    Patient,
    derived_uuid,
    oid_from_uuid,
)
from plugins.dmp.settings import DmpSettings

WAIT, REFUSE = "wait", "refuse"
NOT_QUALIFIED = ("Identité non qualifiée : qualifiez l'identité du patient (INS) pour que le document parte au "
                 "DMP ; il partira alors tout seul.")
_TITLES = re.compile(r"^(dr\.?|docteur|pr\.?|professeur|m\.|mme)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    kind: str  # wait | refuse
    reason: str  # French


def unique_id(document_id: str) -> str:
    return oid_from_uuid(derived_uuid(document_id, "document"))


def problem(document: ValidatedDocument, settings: DmpSettings, type_code: str) -> Problem | None:
    if not document.pdf.startswith(b"%PDF-"):
        return Problem(REFUSE, "Le document n'est pas un PDF valide : il ne peut pas être envoyé au DMP.")
    if len(document.pdf) > settings.max_document_bytes:
        size, limit = len(document.pdf) / 1e6, settings.max_document_bytes / 1e6
        return Problem(REFUSE, f"Document trop volumineux pour le DMP ({size:.1f} Mo, maximum {limit:.1f} Mo).")
    if not vs.contains(vs.TYPE_CODES, type_code):
        return Problem(REFUSE, f"Type de document non accepté par le DMP (code {type_code}).")
    if not (document.author.rpps or settings.practitioner.rpps):
        return Problem(REFUSE, "RPPS du praticien absent : le document ne peut pas être signé pour le DMP.")
    if document.patient_ins is None:
        return Problem(WAIT, NOT_QUALIFIED)
    return None


def split_name(display: str) -> tuple[str, str]:
    """("Dr Marie Durand") -> ("DURAND", "Marie"): the last word is the family name."""
    words = _TITLES.sub("", display.strip()).split()
    if not words:
        return "", ""
    return words[-1].upper(), " ".join(words[:-1])


def metadata_for(document: ValidatedDocument, settings: DmpSettings, type_code: str, *,
                 masking: Sequence[str] = (), version: int = 1,
                 replaces_unique_id: str | None = None) -> DocumentMetadata:
    """The metadata of `document` (assumes `problem(...)` returned None)."""
    ins = document.patient_ins
    assert ins is not None
    traits = dict(document.metadata.get("patient") or {})
    first_names = traits.get("first_names") or [""]
    birth = traits.get("birth_date")
    patient = Patient(
        ins=ins.matricule, ins_oid=ins.oid, birth_name=str(traits.get("birth_name") or ""),
        given=str(first_names[0] if isinstance(first_names, list) else first_names).split(" ")[0],
        sex=str(traits.get("sex") or "U"), birth_date=str(birth).replace("-", "") if birth else None,
        used_name=traits.get("used_name"), ipp=traits.get("ipp"), ipp_oid=settings.ipp_oid)
    pr = settings.practitioner
    rpps = document.author.rpps or pr.rpps
    family, given = split_name(document.author.name)
    if pr.rpps and pr.rpps == rpps and pr.family:
        family, given = pr.family, pr.given
    author = Author(rpps=rpps, family=family, given=given,
                    specialty=vs.lookup(vs.AUTHOR_SPECIALTIES, f"G15_{pr.profession}/{pr.specialty}"))
    created = dt.datetime.fromtimestamp(document.created_at, dt.UTC)
    seed = document.id if version == 1 else f"{document.id}#v{version}"
    return DocumentMetadata(
        unique_id=unique_id(seed), entry_uuid=f"urn:uuid:{derived_uuid(seed, 'entry')}",
        set_id=oid_from_uuid(derived_uuid(document.id, "set")), version=version, title=document.title,
        type_code=vs.lookup(vs.TYPE_CODES, type_code), class_code=vs.class_for_type(type_code),
        format_code=vs.lookup(vs.FORMAT_CODES, vs.FORMAT_PDF), confidentiality=vs.confidentiality_codes(masking),
        facility_type=vs.lookup(vs.FACILITY_TYPES, settings.activity_sector),
        practice_setting=vs.lookup(vs.PRACTICE_SETTINGS, settings.practice_setting),
        content_type=vs.lookup(vs.CONTENT_TYPES, "07"), creation_time=created, service_start=created,
        service_stop=created, patient=patient, author=author,
        organisation=Organisation(id_nat=settings.structure_id, name=settings.structure_name or settings.structure_id),
        source_oid=settings.source_oid, replaces_unique_id=replaces_unique_id)
