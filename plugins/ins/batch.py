"""The start-of-day batch: the day's patients recorded at once, their INSi lookups queued.

One transaction records every valid line (a bad line is rejected with its French reason, the others
go on); each identity that needs INSi gets an `ins.batch_lookup` job, run under the batch's own
concurrency and rate limit (plugins/ins/lookups.py). `batch.progress` events count the answers.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import TYPE_CHECKING, Any

from agent.errors import StoreUnavailable, UserFacingError
from plugins.ins import repository as repo
from plugins.ins.identities import Identities
from plugins.ins.models import Traits

if TYPE_CHECKING:
    from agent.context import OutboxPort
    from agent.emitter import Emitter

BATCH_HANDLER = "ins.batch_lookup"


Parsed = list[tuple[int, Traits | None, str | None, str | None]]  # position, traits, local id, problem


def record_batch(conn: sqlite3.Connection, identities: Identities, parsed: Parsed, batch_id: str, name: str | None,
                 now: float) -> tuple[list[tuple[int, str]], int, list[dict[str, Any]]]:
    """One transaction: every valid line's identity, the batch rows; (position, identity) to look up,
    how many were skipped, the rejected lines. Also the merge of a batch kept in the local spool."""
    items: list[tuple[str, str]] = []
    queued: list[tuple[int, str]] = []
    rejected: list[dict[str, Any]] = []
    for position, traits, local_id, problem in parsed:
        if traits is None:
            rejected.append({"position": position, "message": problem})
            continue
        row, needs_call = identities.upsert(conn, traits, local_id, "batch", now)
        if needs_call:
            queued.append((len(items), row.id))
        items.append((row.id, "pending" if needs_call else "skipped"))
    repo.create_batch(conn, batch_id, items, name=name, rejected=rejected)
    return queued, len(items) - len(queued), rejected


def lookup_jobs(batch_id: str, queued: list[tuple[int, str]]) -> list[tuple[dict[str, Any], str]]:
    return [({"identity_id": identity_id, "batch_id": batch_id, "position": position}, f"batch:{batch_id}:{position}")
            for position, identity_id in queued]


async def start_batch(identities: Identities, outbox: OutboxPort, emitter: Emitter,
                      patients: list[dict[str, Any]], *, name: str | None = None) -> dict[str, Any]:
    parsed: Parsed = []
    for position, patient in enumerate(patients):
        try:
            parsed.append((position, identities.parse_traits(patient["traits"]), patient.get("local_id"), None))
        except UserFacingError as exc:
            parsed.append((position, None, patient.get("local_id"), exc.message))
    batch_id = str(uuid.uuid4())
    now = time.time()
    try:
        queued, skipped, rejected = await identities.store.transaction(
            lambda conn: record_batch(conn, identities, parsed, batch_id, name, now))
    except StoreUnavailable:
        if identities.offline is None:
            raise
        # The practice database is away: the whole batch waits in the local spool, merged (identities,
        # batch rows and lookup jobs in one transaction) when it is back; its lookups run then.
        return await identities.offline.spool_batch(parsed, batch_id, name, now)
    for _, identity_id in queued:  # their panels join this workstation's queue (plugin.py)
        identities.note_here(identity_id)
    total = len(queued) + skipped
    # Announced before the first job is queued: a fast lookup must not report progress before the start.
    emitter.publish("batch.progress", {"batch_id": batch_id, "done": skipped, "total": total})
    await outbox.enqueue_many(BATCH_HANDLER, lookup_jobs(batch_id, queued))
    return {"batch_id": batch_id, "total": total, "queued": len(queued), "skipped": skipped,
            "rejected": rejected}
