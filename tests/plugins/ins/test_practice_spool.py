"""The practice database away: work started on a workstation is kept in its local spool (agent/spool.py),
its INSi lookup shown, and merged exactly once when the database is back, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from agent.documents import JOB_HANDLER, DocumentAuthor, ValidatedDocument, publish
from agent.outbox import Job
from sandbox.insi.identities import synthetic_identities
from sandbox.insi.server import InsiSandbox
from tests.pgkit import PgServer
from tests.plugins.ins.conftest import DOMINIQUE, wait_until
from tests.plugins.ins.test_batch import patients
from tests.plugins.ins.test_practice_shared import LgcFactory, Workstations, found, workstation

__all__ = ["workstation"]  # the fixture, shared with test_practice_shared

DOC = ValidatedDocument(
    id="doc-spool-1", pdf=b"%PDF-1.4 spool", type_code="57833-6", type_label="Prescription de produits de santé",
    title="Ordonnance du 02/11/2026", author=DocumentAuthor(name="Dr Marie DURAND", rpps="10000123454"),
    created_at=1.5, source_plugin="test", patient_ins=None, metadata={},
)


async def _identities(agent: Any, birth_name: str) -> list[Any]:
    return await agent.store.fetchall("SELECT id, status FROM ins_identities WHERE traits LIKE ?",
                                      (f"%{birth_name}%",))


async def test_practice_spool_work_started_while_database_away_is_merged_once(
        workstation: Workstations, lgc_for: LgcFactory, pg_server: PgServer, insi_sandbox: InsiSandbox) -> None:
    reception, room = await workstation("accueil"), await workstation("cabinet-1")
    desk, doctor = await lgc_for(reception), await lgc_for(room)
    runs: list[str] = []

    async def count(job: Job) -> None:
        runs.append(job.key)

    room.outbox.register("test.count", count)  # only the consulting room can run it: it must come from the merge
    assert reception.merger is not None
    await asyncio.to_thread(pg_server.stop, "fast")
    try:
        submitted = await desk.result("identity.submit", {"local_id": "dossier-7", "traits": DOMINIQUE})
        identity_id = submitted["identity_id"]
        assert submitted["queued_locally"] is True and submitted["status"] == "PROV", submitted
        # INSi is not the practice's database: the lookup runs from here and is shown at once.
        await desk.event("identity.updated", found(identity_id))
        shown = await desk.result("identity.get", {"identity_id": identity_id})
        assert shown["status"] == "RECUP" and shown["queued_locally"] is True
        assert shown["ins"]["matricule"] == "297022A02077878"
        panel = await desk.result("identity.view", {"identity_id": identity_id})  # what the popup shows
        assert panel["panel_message"].startswith("Base du cabinet injoignable : identité gardée sur ce poste")
        assert panel["columns"]["insi"] is not None  # INSi's traits, to compare as usual
        assert not panel["actions"]["qualify_attestation"]["allowed"]
        assert panel["actions"]["qualify_attestation"]["reason"] == "Qualification possible dès le retour de la base " \
            "du cabinet."
        # The record opened again during the outage: the same waiting identity, no second call.
        again = await desk.result("identity.submit", {"local_id": "dossier-7", "traits": DOMINIQUE})
        assert again["identity_id"] == identity_id
        assert insi_sandbox.stats.total == 1

        assert await publish(reception, DOC) == 0  # a validated document: kept here, no job id yet
        assert await reception.outbox.enqueue("test.count", {"n": 1}, key="count:1") == 0

        qualify = await desk.call("identity.qualify", {"identity_id": identity_id, "method": "attestation"})
        assert qualify["error"]["message"].startswith(
            "Qualification impossible tant que la base du cabinet est injoignable"), qualify
        info = await desk.result("agent.info")
        store = info["services"]["store"]
        assert store["state"] == "injoignable" and store["spooled"] == 3, store
        assert store["label"].startswith("Base du cabinet injoignable : 3 opérations en attente locale"), store
    finally:
        await asyncio.to_thread(pg_server.start)

    notice = await desk.event("agent.notice", lambda p: p.get("topic") == "store.merged", timeout=20)
    assert notice["text"].startswith("Base du cabinet de retour : 3 opérations"), notice
    assert reception.spool is not None and reception.spool.count == 0
    # Seen by the other workstation, with the id the reception already showed; one identity, one audit trail.
    seen = await doctor.result("identity.get", {"identity_id": identity_id})
    assert seen["status"] == "RECUP" and "queued_locally" not in seen
    assert len(await _identities(room, "DOMINIQUE")) == 1
    trail = await doctor.result("identity.audit", {"identity_id": identity_id})
    assert [e["action"] for e in trail["entries"]] == ["created", "insi_result"]
    calls = await room.store.fetchall("SELECT COUNT(*) FROM ins_insi_calls WHERE identity_id = ?", (identity_id,))
    assert calls[0][0] >= 1  # the call made during the outage is in the audit table
    assert insi_sandbox.stats.total == 1  # and not made again
    await wait_until(lambda: runs == ["count:1"], what="spooled job run by the consulting room")
    docs = await room.store.fetchall("SELECT COUNT(*) FROM outbox WHERE handler = ?", (JOB_HANDLER,))
    assert docs[0][0] == 1

    # A crash after the merge committed but before the local copy was deleted: the operation is still
    # in the spool at the next start. Its id is in spool_applied, so it is only forgotten, not applied again.
    op = (await room.store.fetchall("SELECT op_id FROM spool_applied WHERE kind = 'ins.identity_submit'"))[0][0]
    await reception.spool.add("ins.identity_submit", {"identity_id": op, "traits": DOMINIQUE, "local_id": None,
                                                     "source": "lgc", "at": 0.0}, op_id=op)
    assert await reception.merger.merge() == 0
    assert reception.spool.count == 0
    trail = await doctor.result("identity.audit", {"identity_id": identity_id})
    assert [e["action"] for e in trail["entries"]] == ["created", "insi_result"]
    await asyncio.sleep(0.3)
    assert runs == ["count:1"]


async def test_practice_spool_identity_created_meanwhile_elsewhere_receives_the_merge(
        workstation: Workstations, lgc_for: LgcFactory, pg_server: PgServer, insi_sandbox: InsiSandbox) -> None:
    reception, room = await workstation("accueil"), await workstation("cabinet-1")
    desk, doctor = await lgc_for(reception), await lgc_for(room)
    assert reception.merger is not None
    await asyncio.to_thread(pg_server.stop, "fast")
    try:
        queued = (await desk.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
        await desk.event("identity.updated", found(queued))
    finally:
        await reception.merger.stop()  # the reception stays cut off a little longer than the room
        await asyncio.to_thread(pg_server.start)
    shared = (await doctor.result("identity.submit", {"local_id": "dossier-9", "traits": DOMINIQUE}))["identity_id"]
    await doctor.event("identity.updated", found(shared))
    assert shared != queued
    assert await reception.merger.merge() == 1
    merged = await desk.event("identity.merged", lambda p: p["queued_id"] == queued)
    assert merged["identity_id"] == shared
    rows = await _identities(room, "DOMINIQUE")
    assert [r["id"] for r in rows] == [shared]  # one patient, one record
    trail = await doctor.result("identity.audit", {"identity_id": shared})
    assert [e["action"] for e in trail["entries"]] == ["created", "insi_result"]  # no second creation
    # Both INSi calls are in the audit table (the room's, and the one the reception made offline).
    calls = await room.store.fetchall("SELECT COUNT(*) FROM ins_insi_calls WHERE identity_id = ?", (shared,))
    assert calls[0][0] == insi_sandbox.stats.total == 2


async def test_practice_spool_batch_started_while_database_away_runs_once_when_back(
        workstation: Workstations, lgc_for: LgcFactory, pg_server: PgServer, insi_sandbox: InsiSandbox) -> None:
    count = 12
    insi_sandbox.configure(extra_identities=synthetic_identities(count))
    reception, room = await workstation("accueil"), await workstation("cabinet-1")
    desk = await lgc_for(reception)
    await asyncio.to_thread(pg_server.stop, "fast")
    try:
        future_birth = {"traits": {**DOMINIQUE, "birth_date": "2999-01-01"}}  # refused by the RNIV rules
        started = await desk.result("identity.batch", {"patients": [*patients(count), future_birth]})
        assert started["queued_locally"] is True and started["total"] == count, started
        assert [r["position"] for r in started["rejected"]] == [count]  # a bad line is still said at once
        assert started["queued_message"].startswith("Base du cabinet injoignable : lot gardé sur ce poste")
        assert insi_sandbox.stats.total == 0  # the batch's lookups wait for the database
    finally:
        await asyncio.to_thread(pg_server.start)
    await desk.event("batch.progress", lambda p: p["batch_id"] == started["batch_id"] and p["done"] == count,
                     timeout=60)
    await reception.outbox.wait_idle(timeout=60)
    await room.outbox.wait_idle(timeout=60)
    assert insi_sandbox.stats.total == count  # each patient looked up once, by whichever agent
    statuses = await room.store.fetchall("SELECT status, COUNT(*) FROM ins_identities GROUP BY status")
    assert {r[0]: r[1] for r in statuses} == {"RECUP": count}
    status = await desk.result("identity.batch_status", {"batch_id": started["batch_id"]})
    assert status["batch"]["done"] == count, status
