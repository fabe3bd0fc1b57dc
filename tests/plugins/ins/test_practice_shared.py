"""Several workstations, one practice: agents sharing identities, qualifications, audit and the outbox
on a real PostgreSQL (a private cluster per test process, tests/pgkit.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from sandbox.insi.identities import synthetic_identities
from sandbox.insi.server import InsiSandbox
from tests.pgkit import PgServer
from tests.plugins.ins.conftest import DOMINIQUE, Lgc, ins_config, wait_until
from tests.plugins.ins.test_batch import patients

LgcFactory = Callable[[Agent], Awaitable[Lgc]]
Workstations = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def workstation(tmp_path: Path, insi_sandbox: InsiSandbox, pg_url: str) -> AsyncIterator[Workstations]:
    """`await workstation("accueil")`: an agent of the practice (its own folder and port, the shared database)."""
    agents: list[Agent] = []

    async def make(name: str, **ins: Any) -> Agent:
        config = ins_config(tmp_path / name, insi_sandbox, **ins)
        config.store.url = pg_url
        config.store.workstation = name
        agent = Agent(config)
        await agent.start()
        agents.append(agent)
        await wait_until(lambda: agent.plugins.states["ins"].started, what=f"INS plugin started on {name}")
        return agent

    yield make
    for agent in agents:
        await agent.stop()


def found(identity_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda p: p["identity_id"] == identity_id and p["insi_outcome"] not in ("pending",)


async def test_practice_identity_submitted_at_reception_is_qualified_in_the_consulting_room(
        workstation: Workstations, lgc_for: LgcFactory, insi_sandbox: InsiSandbox) -> None:
    reception, room = await workstation("accueil"), await workstation("cabinet-1")
    desk, doctor = await lgc_for(reception), await lgc_for(room)

    submitted = await desk.result("identity.submit", {"local_id": "dossier-42", "traits": DOMINIQUE})
    identity_id = submitted["identity_id"]
    await desk.event("identity.updated", found(identity_id))
    # The consulting room heard it (LISTEN/NOTIFY) and reads the same record.
    await doctor.event("identity.updated", found(identity_id))
    seen = await doctor.result("identity.get", {"identity_id": identity_id})
    assert seen["status"] == "RECUP" and seen["ins"]["matricule"] == "297022A02077878"

    # Every workstation's tray counts what waits in the practice, whoever looked the patient up.
    def badge(agent: Agent) -> Any:
        return agent.plugins.pm.get_plugin("ins").practice.badge()

    await wait_until(lambda: badge(room) is not None and badge(room).count == 1, what="practice badge in the room")
    assert badge(room).label == "Identités à qualifier dans le cabinet"

    # The doctor opens the same patient in his LGC: the shared record, no second INSi call.
    opened = await doctor.result("identity.submit", {"local_id": "dossier-42", "traits": DOMINIQUE})
    assert opened["identity_id"] == identity_id
    qualified = await doctor.result("identity.qualify", {"identity_id": identity_id, "method": "attestation"})
    assert qualified["status"] == "QUAL"
    await desk.event("identity.updated", lambda p: p["identity_id"] == identity_id and p["status"] == "QUAL")
    assert (await desk.result("identity.get", {"identity_id": identity_id}))["status"] == "QUAL"
    assert insi_sandbox.stats.total == 1
    await wait_until(lambda: badge(reception) is None and badge(room) is None, what="nothing waits any more")

    trail = await desk.result("identity.audit", {"identity_id": identity_id})
    assert [e["action"] for e in trail["entries"]] == ["created", "insi_result", "qualified"]
    rows = await reception.store.fetchall("SELECT actor FROM ins_audit WHERE identity_id = ? AND action = ?",
                                          (identity_id, "qualified"))
    assert len(rows) == 1 and json.loads(rows[0]["actor"])["kind"] == "ps"


async def test_practice_concurrent_qualifications_keep_one_state_and_every_audit_line(
        workstation: Workstations, lgc_for: LgcFactory) -> None:
    a, b = await workstation("cabinet-1"), await workstation("cabinet-2")
    lgc_a, lgc_b = await lgc_for(a), await lgc_for(b)
    identity_id = (await lgc_a.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
    await lgc_a.event("identity.updated", found(identity_id))
    await lgc_b.event("identity.updated", found(identity_id))  # b knows the INSi answer too

    # Both rooms click at the same moment. SERIALIZABLE transactions (retried on conflict) run one after
    # the other: one qualifies, the other is told it is already done; one audit line, none lost.
    answers = await asyncio.gather(
        lgc_a.call("identity.qualify", {"identity_id": identity_id, "method": "attestation"}),
        lgc_b.call("identity.qualify", {"identity_id": identity_id, "method": "document",
                                        "document_type": "passport"}),
    )
    wins = [r["result"] for r in answers if "result" in r]
    refusals = [r["error"]["message"] for r in answers if "error" in r]
    assert len(wins) == 1 and wins[0]["status"] == "QUAL", answers
    assert refusals == ["Identité déjà qualifiée : rien à faire."], answers
    trail = await lgc_a.result("identity.audit", {"identity_id": identity_id})
    assert [e["action"] for e in trail["entries"]] == ["created", "insi_result", "qualified"]
    for agent in (a, b):
        row = await agent.store.fetchone("SELECT status FROM ins_identities WHERE id = ?", (identity_id,))
        assert row is not None and row["status"] == "QUAL"


async def test_practice_batch_split_across_two_agents_calls_insi_once_per_patient(
        workstation: Workstations, lgc_for: LgcFactory, insi_sandbox: InsiSandbox) -> None:
    count = 300
    insi_sandbox.configure(extra_identities=synthetic_identities(count), latency=0.02)
    settings = {"batch_concurrency": 4, "batch_rate_per_second": 1000}
    reception, room = await workstation("accueil", **settings), await workstation("cabinet-1", **settings)
    desk = await lgc_for(reception)
    result = await desk.result("identity.batch", {"patients": patients(count)})
    assert result["queued"] == count
    await reception.outbox.wait_idle(timeout=120)
    await room.outbox.wait_idle(timeout=120)
    rows = await reception.store.fetchall(
        "SELECT claimed_by, COUNT(*) FROM outbox WHERE handler = 'ins.batch_lookup' GROUP BY claimed_by")
    assert insi_sandbox.stats.total == count  # exactly one INSi call per patient, whoever made it
    statuses = await room.store.fetchall("SELECT status, COUNT(*) FROM ins_identities GROUP BY status")
    assert {r[0]: r[1] for r in statuses} == {"RECUP": count}
    done = await room.store.fetchall("SELECT state, COUNT(*) FROM outbox GROUP BY state")
    assert {r[0]: r[1] for r in done}.get("done") == count  # every job recorded done, once
    shares = {r[0]: r[1] for r in rows}
    assert set(shares) == {"accueil", "cabinet-1"} and sum(shares.values()) == count, shares


async def test_practice_database_down_is_said_in_french_and_work_resumes(
        workstation: Workstations, lgc_for: LgcFactory, pg_server: PgServer, insi_sandbox: InsiSandbox) -> None:
    room = await workstation("cabinet-1")
    lgc = await lgc_for(room)
    await asyncio.to_thread(pg_server.stop, "fast")
    try:
        # What only the shared database has (the journal) is refused in French; work *started* meanwhile
        # (a submission) is kept in the local spool instead: tests/plugins/ins/test_practice_spool.py.
        answer = await lgc.call("identity.journal", {"day": "2026-11-02"})
        assert answer["error"]["message"].startswith("La base de données du cabinet est injoignable"), answer
        info = await lgc.result("agent.info")
        assert info["services"]["store"]["state"] == "injoignable"
        assert info["plugins"]  # the agent itself keeps answering
    finally:
        await asyncio.to_thread(pg_server.start)
    # Back: the pool reconnects by itself, the same call now works and its lookup runs.
    submitted = await lgc.result("identity.submit", {"traits": DOMINIQUE})
    await lgc.event("identity.updated", found(submitted["identity_id"]))
    info = await lgc.result("agent.info")
    assert info["services"]["store"] == {"kind": "postgresql", "workstation": "cabinet-1", "state": "ok",
                                         "label": "Base de données : disponible"}
