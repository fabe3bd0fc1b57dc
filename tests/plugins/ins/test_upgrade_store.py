"""Upgrades keep data: today's agent starts on a store an older Vigie (commit 667f7c6) left after a kill -9
with INSi lookups in flight (tests/fixtures/upgrade/make_old_store.py recorded it). The missing migrations
are applied, the identities are still there, and the old version's outbox jobs run to completion."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent.app import Agent
from agent.store import CORE_MIGRATIONS
from tests.plugins.ins.conftest import AgentFactory, Lgc

LgcFactory = Callable[[Agent], Awaitable[Lgc]]
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "upgrade" / "store-667f7c6.sqlite3"
EXPECTED_INS = {"dossier-1": "297022A02077878", "dossier-2": "275126322074974", "dossier-3": "160012B02077713"}


def old_store(tmp_path: Path) -> Path:
    target = tmp_path / "store" / "vigie.sqlite3"  # where ins_config puts the agent's store
    target.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURE, target)
    target.chmod(0o600)
    return target


def test_upgrade_fixture_is_an_older_schema_with_jobs_in_flight() -> None:
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    try:
        versions = dict(conn.execute("SELECT namespace, MAX(version) FROM schema_migrations GROUP BY namespace"))
        states = [r[0] for r in conn.execute("SELECT state FROM outbox WHERE handler = 'ins.lookup'")]
    finally:
        conn.close()
    assert versions["agent"] < max(m.version for m in CORE_MIGRATIONS if m.namespace == "agent")
    assert "eprescription" not in versions
    assert states and set(states) <= {"pending", "running"}


async def test_upgrade_old_store_migrates_and_runs_old_jobs(tmp_path: Path, make_agent: AgentFactory,
                                                            lgc_for: LgcFactory) -> None:
    store = old_store(tmp_path)
    agent = await make_agent()
    versions = {r[0]: r[1] for r in await agent.store.fetchall(
        "SELECT namespace, MAX(version) FROM schema_migrations GROUP BY namespace")}
    assert versions["agent"] == max(m.version for m in CORE_MIGRATIONS if m.namespace == "agent")
    assert versions.get("eprescription", 0) >= 1 and versions["ins"] >= 1

    deadline = time.monotonic() + 30  # the old jobs are due at once: their backoff ran out long ago
    while True:
        left = await agent.store.fetchall("SELECT id, state, last_error FROM outbox WHERE state != 'done'")
        if not left:
            break
        assert time.monotonic() < deadline, [dict(r) for r in left]
        await asyncio.sleep(0.05)
    lgc = await lgc_for(agent)
    rows = await agent.store.fetchall("SELECT id, local_id FROM ins_identities ORDER BY local_id")
    assert [r["local_id"] for r in rows] == sorted(EXPECTED_INS)
    for row in rows:
        got = await lgc.result("identity.get", {"identity_id": row["id"]})
        assert got["status"] == "RECUP", got["status"]
        assert got["ins"]["matricule"] == EXPECTED_INS[row["local_id"]]
    assert store.exists()
