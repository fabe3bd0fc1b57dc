"""From a validated document to what a send needs: the subject line, the label, and the shared CDA.

The document -> metadata mapping is the shared one (`plugins.common.clinical.derive.metadata_for`, the
same the DMP feed uses), so the CDA mailed and the one fed to the DMP have the same uniqueId and
header. What is MSSanté's own: a patient whose INS is not qualified still gets a CDA for the
professionals, identified by the practice's local id (`[plugins.mss] ipp_oid`), never by that INS;
the mail then says `X-MSS-INS: N`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from agent.documents import ValidatedDocument
from plugins.common.clinical import cda, derive
from plugins.common.clinical import valuesets as vs
from plugins.common.clinical.model import DocumentMetadata
from plugins.mss.message import PatientLine
from plugins.mss.settings import MssSettings


@dataclass(frozen=True)
class Prepared:
    """What a send needs from the document; `meta`/`cda` when the patient can be identified in a CDA."""

    patient: PatientLine
    label: str  # CDA code@displayName (or the producer's label)
    type_code: str
    author_name: str
    masking: tuple[str, ...]
    meta: DocumentMetadata | None
    cda: bytes | None

    @property
    def ins_qualified(self) -> bool:
        return self.meta is not None and self.meta.patient.qualified


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
    if not vs.contains(vs.TYPE_CODES, document.type_code):  # not a DMP type code: the producer's label, no CDA
        return Prepared(line, document.type_label, document.type_code, document.author.name, masking, None, None)
    label = vs.lookup(vs.TYPE_CODES, document.type_code).display
    try:
        meta = derive.metadata_for(document, settings.practice(), document.type_code, masking=masking,
                                   require_ins=False)
    except vs.UnknownCode:  # a practice code outside its value set: a configuration error, not a fallback
        raise
    except ValueError:  # unqualified, and no local id under an ipp_oid: the PDF alone
        return Prepared(line, label, document.type_code, document.author.name, masking, None, None)
    return Prepared(line, label, document.type_code, document.author.name, masking, meta,
                    cda.build_cda(meta, document.pdf))
