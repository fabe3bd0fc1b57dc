"""From a `ValidatedDocument` and the practice to the `DocumentMetadata` both builders take (pure).

Shared by the DMP feed and the MSSanté XDM: the same document gets the same uniqueId, codes and header
whichever channel carries it. The type code is chosen before (the `document_type_code` decision hook);
the class code follows from it (ASS_X04).
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

_TITLES = re.compile(r"^(dr\.?|docteur|pr\.?|professeur|m\.|mme)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Practice:
    """The structure and its defaults, from a plugin's settings (e.g. `DmpSettings.practice()`)."""

    structure_id: str  # Identifiant_Structure, prefixed (3 + SIRET, 1 + FINESS, ...)
    structure_name: str
    source_oid: str  # the software's OID (XDS sourceId)
    activity_sector: str = "SA07"  # JDV_J61
    practice_setting: str = "AMBULATOIRE"  # JDV_J62
    ipp_oid: str | None = None
    # The practitioner when the document does not say (and the names of a known RPPS).
    rpps: str = ""
    family: str = ""
    given: str = ""
    profession: str = "10"
    specialty: str = "SM54"


def unique_id(document_id: str) -> str:
    """The XDS uniqueId of a document: fixed by its id (the same after any retry, on any channel)."""
    return oid_from_uuid(derived_uuid(document_id, "document"))


def split_name(display: str) -> tuple[str, str]:
    """("Dr Marie Durand") -> ("DURAND", "Marie"): the last word is the family name."""
    words = _TITLES.sub("", display.strip()).split()
    if not words:
        return "", ""
    return words[-1].upper(), " ".join(words[:-1])


def local_id(document: ValidatedDocument) -> str | None:
    """The practice's own identifier of the patient (IPP): the producer's `ipp`, else Vigie's identity id
    (the practice's identity record). Written under `Practice.ipp_oid`."""
    traits = dict(document.metadata.get("patient") or {})
    value = traits.get("ipp") or traits.get("identity_id")
    return str(value) if value else None


def metadata_for(document: ValidatedDocument, practice: Practice, type_code: str, *,
                 masking: Sequence[str] = (), version: int = 1, replaces_unique_id: str | None = None,
                 require_ins: bool = True) -> DocumentMetadata:
    """The metadata of `document`.

    With `require_ins` (the DMP) the INS must be set: only a qualified identity is shared. Without it
    (MSSanté to professionals) an unqualified patient is identified by the local id alone (`local_id`,
    under `practice.ipp_oid`): the unqualified INS is never written. ValueError when the patient cannot
    be identified that way; vs.UnknownCode when `type_code` (or the practice's codes) are outside their
    value sets.
    """
    ins = document.patient_ins
    if ins is None and require_ins:
        raise ValueError("a document is shared only for a qualified identity (patient_ins)")
    ipp = local_id(document) if practice.ipp_oid else None
    if ins is None and ipp is None:
        raise ValueError("an unqualified patient needs a local identifier and the practice's ipp_oid")
    traits = dict(document.metadata.get("patient") or {})
    first_names = traits.get("first_names") or [""]
    birth = traits.get("birth_date")
    patient = Patient(
        ins=ins.matricule if ins else None, ins_oid=ins.oid if ins else None,
        birth_name=str(traits.get("birth_name") or ""),
        given=str(first_names[0] if isinstance(first_names, list) else first_names).split(" ")[0],
        sex=str(traits.get("sex") or "U"), birth_date=str(birth).replace("-", "") if birth else None,
        used_name=traits.get("used_name"), ipp=ipp, ipp_oid=practice.ipp_oid if ipp else None)
    rpps = document.author.rpps or practice.rpps
    family, given = split_name(document.author.name)
    if practice.rpps and practice.rpps == rpps and practice.family:
        family, given = practice.family, practice.given
    author = Author(rpps=rpps, family=family, given=given,
                    specialty=vs.lookup(vs.AUTHOR_SPECIALTIES, f"G15_{practice.profession}/{practice.specialty}"))
    created = dt.datetime.fromtimestamp(document.created_at, dt.UTC)
    seed = document.id if version == 1 else f"{document.id}#v{version}"
    return DocumentMetadata(
        unique_id=unique_id(seed), entry_uuid=f"urn:uuid:{derived_uuid(seed, 'entry')}",
        set_id=oid_from_uuid(derived_uuid(document.id, "set")), version=version, title=document.title,
        type_code=vs.lookup(vs.TYPE_CODES, type_code), class_code=vs.class_for_type(type_code),
        format_code=vs.lookup(vs.FORMAT_CODES, vs.FORMAT_PDF), confidentiality=vs.confidentiality_codes(masking),
        facility_type=vs.lookup(vs.FACILITY_TYPES, practice.activity_sector),
        practice_setting=vs.lookup(vs.PRACTICE_SETTINGS, practice.practice_setting),
        content_type=vs.lookup(vs.CONTENT_TYPES, "07"), creation_time=created, service_start=created,
        service_stop=created, patient=patient, author=author,
        organisation=Organisation(id_nat=practice.structure_id, name=practice.structure_name or practice.structure_id),
        source_oid=practice.source_oid, replaces_unique_id=replaces_unique_id)
