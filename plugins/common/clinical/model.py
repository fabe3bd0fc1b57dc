"""What a shared clinical document says about itself: the input of the CDA and XDS metadata builders.

One `DocumentMetadata` feeds both `cda.build_cda` (the CDA R2 level 1 header) and
`xds.submit_objects_request` (the ebRIM DocumentEntry), so the two never disagree (the DMP checks
that the CDA header and the metadata match). Built by the DMP plugin from a `ValidatedDocument`
and the practice settings (plugins/dmp/metadata.py); the MSSanté plugin reuses it for its XDM.

Identifiers: `unique_id` is an OID (`2.25.<uuid as integer>`, derived from the document id, so it is
stable across retries: the idempotence key for "is it already in the DMP?"); `entry_uuid` is the
ebRIM id (`urn:uuid:…`). Times are aware datetimes, written in UTC as `YYYYMMDDhhmmss`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from plugins.common.clinical.valuesets import Code

OID_RPPS = "1.2.250.1.71.4.2.1"  # national PS identifiers (the XCN id is "8" + RPPS)
OID_STRUCTURE = "1.2.250.1.71.4.2.2"  # national structure identifiers (1 = FINESS, 3 = SIRET, ...)
_NAMESPACE = uuid.UUID("4f6b0a4e-1d0c-4f55-9a3e-76c1e5d2a8b1")  # Vigie's uuid5 namespace (fixed forever)


def oid_from_uuid(value: uuid.UUID) -> str:
    """The `2.25` OID of a UUID (ITU-T X.667): a valid XDS uniqueId with no registered root needed."""
    return f"2.25.{value.int}"


def derived_uuid(seed: str, purpose: str) -> uuid.UUID:
    """A UUID fixed by `seed` and `purpose` (the same document always gets the same ids)."""
    return uuid.uuid5(_NAMESPACE, f"{purpose}:{seed}")


def hl7_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


@dataclass(frozen=True)
class Patient:
    """The patient: the qualified INS, the local IPP, the birth traits.

    `ins` is set only for a **qualified** identity: an unqualified INS must never be transmitted as an
    INS (CI-SIS). Without it the patient is identified by the practice's local identifier (`ipp`, under
    the practice's own OID `ipp_oid`): the XDS patientId is then that `PI` identifier. The DMP never
    gets such a patient (it is fed only for a qualified INS); an MSSanté XDM to professionals may.
    """

    ins: str | None  # 15 characters (matricule + key); None when the identity is not qualified
    ins_oid: str | None  # 1.2.250.1.213.1.4.8 / .9 / .10 / .11
    birth_name: str
    given: str  # first birth first name, as on the INS
    sex: str  # M / F / U
    birth_date: str | None = None  # YYYYMMDD
    used_name: str | None = None
    ipp: str | None = None
    ipp_oid: str | None = None

    def __post_init__(self) -> None:
        if not (self.ins and self.ins_oid) and not (self.ipp and self.ipp_oid):
            raise ValueError("a patient needs a qualified INS or a local identifier with its OID")

    @property
    def qualified(self) -> bool:
        return bool(self.ins and self.ins_oid)

    @property
    def local_patient_id(self) -> str | None:
        return f"{self.ipp}^^^&{self.ipp_oid}&ISO^PI" if self.ipp and self.ipp_oid else None

    @property
    def xds_patient_id(self) -> str:
        if self.ins and self.ins_oid:
            return f"{self.ins}^^^&{self.ins_oid}&ISO^NH"
        assert self.local_patient_id is not None  # __post_init__
        return self.local_patient_id

    @property
    def source_patient_id(self) -> str:
        return self.local_patient_id or self.xds_patient_id


@dataclass(frozen=True)
class Author:
    """The practitioner who validated the document (authorPerson / assignedAuthor / legalAuthenticator)."""

    rpps: str  # 11 digits
    family: str
    given: str
    specialty: Code  # AuthorSpecialty, e.g. G15_10/SM54

    @property
    def national_id(self) -> str:
        return "8" + self.rpps

    @property
    def xcn(self) -> str:
        return f"{self.national_id}^{self.family}^{self.given}^^^^^^&{OID_RPPS}&ISO^D^^^IDNPS"


@dataclass(frozen=True)
class Organisation:
    """The structure (cabinet) the author acts for: authorInstitution, custodian, represented organisation."""

    id_nat: str  # Identifiant_Structure, prefixed (3 + SIRET, 1 + FINESS, ...)
    name: str

    @property
    def xon(self) -> str:
        return f"{self.name}^^^^^&{OID_STRUCTURE}&ISO^IDNST^^^{self.id_nat}"


@dataclass(frozen=True)
class DocumentMetadata:
    unique_id: str  # OID; CDA id@root, XDSDocumentEntry.uniqueId
    entry_uuid: str  # urn:uuid:...
    set_id: str  # OID; the same for every version of the document
    version: int
    title: str
    type_code: Code  # JDV_J66
    class_code: Code  # from type_code via ASS_X04
    format_code: Code  # JDV_J60
    confidentiality: tuple[Code, ...]  # N, then the masking codes
    facility_type: Code  # JDV_J61
    practice_setting: Code  # JDV_J62
    content_type: Code  # JDV_J59 (submission set)
    creation_time: dt.datetime
    service_start: dt.datetime
    service_stop: dt.datetime
    patient: Patient
    author: Author
    organisation: Organisation
    source_oid: str  # the software's OID (sourceId)
    language: str = "fr-FR"
    mime_type: str = "text/xml"
    replaces_unique_id: str | None = None  # RPLC: the previous version's uniqueId (CDA relatedDocument)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def confidentiality_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.confidentiality)
