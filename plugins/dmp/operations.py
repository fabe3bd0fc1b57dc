"""The DMP transactions as async calls on a started `DmpClient` (one call each; no state, no retry).

The service decides when to call them and what to do with `DmpError`; this module only assembles the
requests (CDA, metadata, MTOM) and reads the answers. Building an ITI-41 (CDA + base64 + SHA-1 + ebRIM +
MTOM) is CPU work on big PDFs: `send` runs it in a worker thread.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lxml import etree

from plugins.common.clinical import cda, xds
from plugins.common.clinical.model import DocumentMetadata
from plugins.dmp import soap
from plugins.dmp import transactions as tx
from plugins.dmp.client import DmpClient
from plugins.dmp.errors import DUPLICATE_CODES, DmpError, explain_registry
from plugins.dmp.vihf import VihfContext


@dataclass(frozen=True)
class BuiltSubmission:
    body: etree._Element  # ProvideAndRegisterDocumentSetRequest
    part: soap.Part
    size: int
    sha1: str


def build_iti41(meta: DocumentMetadata, pdf: bytes, *, attempt: str = "",
                replaces_entry_uuid: str | None = None) -> BuiltSubmission:
    """CDA + metadata + the MTOM part (blocking CPU work)."""
    document = cda.build_cda(meta, pdf)
    content_id = f"{uuid.uuid4().hex}@vigie"
    entry = xds.document_entry(meta, document)  # SHA-1 and size, once
    body = tx.iti41_request(meta, entry, content_id=content_id, attempt=attempt,
                            replaces_entry_uuid=replaces_entry_uuid)
    return BuiltSubmission(body=body, part=soap.Part(content_id, document), size=entry.size, sha1=entry.hash)


async def send(client: DmpClient, ctx: VihfContext, meta: DocumentMetadata, pdf: bytes, *, attempt: str = "",
               replaces_entry_uuid: str | None = None) -> str:
    """ITI-41; returns "sent" or "duplicate" (already in the DMP); DmpError otherwise."""
    built = await client.lane.run(build_iti41, meta, pdf, attempt=attempt, replaces_entry_uuid=replaces_entry_uuid)
    answer = await client.call(tx.ACTION_ITI41, built.body, ctx, parts=[built.part])
    result = _registry(answer.element)
    if result.ok:
        return "sent"
    if set(result.error_codes) & set(DUPLICATE_CODES):
        return "duplicate"
    raise explain_registry(result.errors)


def _registry(element: etree._Element) -> tx.RegistryResult:
    try:
        return tx.read_registry(element)
    except ValueError as exc:
        raise DmpError("transport", "Réponse du DMP illisible.", detail=str(exc)[:200]) from None


async def find_by_unique_id(client: DmpClient, ctx: VihfContext, unique_id: str) -> xds.EntryView | None:
    """TD3.1b: the entry with this uniqueId, if the DMP has it (Approved or not)."""
    answer = await client.call(tx.ACTION_ITI18, tx.iti18_by_unique_id(unique_id), ctx)
    result = _registry(answer.element)
    if not result.ok:
        raise explain_registry(result.errors)
    found = [e for e in result.entries if e.unique_id == unique_id]
    approved = [e for e in found if e.status == xds.APPROVED]
    candidates = approved or found
    return candidates[-1] if candidates else None


async def find_documents(client: DmpClient, ctx: VihfContext, patient_id: str) -> list[xds.EntryView]:
    answer = await client.call(tx.ACTION_ITI18, tx.iti18_find(patient_id), ctx)
    result = _registry(answer.element)
    if not result.ok:
        raise explain_registry(result.errors)
    return result.entries


async def retrieve(client: DmpClient, ctx: VihfContext, repository_id: str, unique_id: str) -> bytes:
    answer = await client.call(tx.ACTION_ITI43, tx.iti43_request(repository_id, unique_id), ctx)
    result = _registry(answer.element)
    if not result.ok:
        raise explain_registry(result.errors)
    cid = result.documents.get(unique_id)
    if cid is None or cid not in answer.attachments:
        raise DmpError("rejected", "Le DMP n'a pas renvoyé le document demandé.")
    return answer.attachments[cid]


async def update_metadata(client: DmpClient, ctx: VihfContext, meta: DocumentMetadata, entry: xds.EntryView,
                          *, seed: str, previous_version: str = "1") -> None:
    """ITI-57: new confidentiality codes (masking) for an entry already in the DMP."""
    body = tx.iti57_metadata(meta, entry, version=previous_version, seed=seed)
    result = _registry((await client.call(tx.ACTION_ITI57, body, ctx)).element)
    if not result.ok:
        raise explain_registry(result.errors)


async def update_status(client: DmpClient, ctx: VihfContext, meta: DocumentMetadata, entry_uuid: str, *,
                        new: str, seed: str) -> None:
    body = tx.iti57_status(meta, entry_uuid, original=xds.APPROVED, new=new, seed=seed)
    result = _registry((await client.call(tx.ACTION_ITI57, body, ctx)).element)
    if not result.ok:
        raise explain_registry(result.errors)


async def status(client: DmpClient, ctx: VihfContext) -> tx.DmpStatus:
    body = tx.td02_request(ctx.patient_ins, ctx.patient_ins_oid, sender_oid=client.settings.source_oid)
    answer = await client.call(tx.ACTION_TD02, body, ctx)
    try:
        return tx.read_td02(answer.element)
    except ValueError as exc:
        raise DmpError("transport", "Réponse TD0.2 du DMP illisible.", detail=str(exc)[:200]) from None


async def authorize(client: DmpClient, ctx: VihfContext) -> bool:
    answer = await client.call(tx.ACTION_TD03, tx.td03_request(), ctx)
    return tx.read_td03(answer.element)
