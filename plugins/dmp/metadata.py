"""From a validated document and the practice settings to the XDS/CDA metadata, and what blocks a send.

Pure. `problem(document, ...)` says why a document cannot go (French): `wait` (it will go once fixed:
the identity is not qualified) or `refuse` (it never can as is: not a PDF, too big, no RPPS, a type code
outside JDV_J66). `metadata_for` builds the `DocumentMetadata` the CDA and the ebRIM share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.documents import ValidatedDocument
from plugins.common.clinical import derive
from plugins.common.clinical import valuesets as vs
from plugins.common.clinical.derive import unique_id as unique_id
from plugins.common.clinical.model import DocumentMetadata
from plugins.dmp.settings import DmpSettings

WAIT, REFUSE = "wait", "refuse"
NOT_QUALIFIED = ("Identité non qualifiée : qualifiez l'identité du patient (INS) pour que le document parte au "
                 "DMP ; il partira alors tout seul.")


@dataclass(frozen=True)
class Problem:
    kind: str  # wait | refuse
    reason: str  # French


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


def metadata_for(document: ValidatedDocument, settings: DmpSettings, type_code: str, *,
                 masking: Sequence[str] = (), version: int = 1,
                 replaces_unique_id: str | None = None) -> DocumentMetadata:
    """The metadata of `document` (assumes `problem(...)` returned None)."""
    return derive.metadata_for(document, settings.practice(), type_code, masking=masking, version=version,
                               replaces_unique_id=replaces_unique_id)
