"""An ordonnance made while the practice database is away (PostgreSQL, tests/pgkit.py): printed and answered
at once, kept in the local spool, then recorded and shared once when the database is back (agent/spool.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import config_from_dict
from agent.plugins import PluginHost
from sandbox.eprescription.server import EprescriptionSandbox
from tests.conftest import TEST_TOKEN
from tests.pgkit import PgServer
from tests.plugins.eprescription.conftest import Lgc, wait_until
from tests.plugins.eprescription.test_plugin_e2e import Consumer

Workstations = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def workstation(tmp_path: Path, ep_sandbox: EprescriptionSandbox, pg_url: str) -> AsyncIterator[Workstations]:
    agents: list[Agent] = []

    async def make(name: str, *, extra: dict[str, Any] | None = None, disabled: tuple[str, ...] = ()) -> Agent:
        config = config_from_dict({
            "api": {"port": 0, "tokens": [TEST_TOKEN], "allowed_origins": ["http://lgc.test"]},
            "store": {"path": str(tmp_path / name / "vigie.sqlite3"), "url": pg_url, "workstation": name},
            "log": {"dir": str(tmp_path / name / "logs")},
            "plugins": {"eprescription": {"url": ep_sandbox.url, "timeout": 1.0}},
            "disabled_plugins": list(disabled),
        })
        host = PluginHost()
        for plugin_name, plugin in (extra or {}).items():
            host.register(plugin, plugin_name)
        agent = Agent(config, host=host)
        await agent.start()
        agents.append(agent)
        await wait_until(lambda: agent.plugins.states["eprescription"].started, what=f"e-prescription on {name}")
        return agent

    yield make
    for agent in agents:
        await agent.stop()


async def test_practice_spool_ordonnance_made_while_database_away_is_shared_once(
        workstation: Workstations, lgc_for: Any, ordonnance: dict[str, Any], pg_server: PgServer) -> None:
    consumer = Consumer()  # the DMP, on the consulting room's agent only
    reception = await workstation("accueil", disabled=("dmp", "mss"))
    room = await workstation("cabinet-1", extra={"dmp_stand_in": consumer}, disabled=("dmp", "mss"))
    lgc: Lgc = await lgc_for(reception)
    await asyncio.to_thread(pg_server.stop, "fast")
    try:
        made = await lgc.result("prescription.create", {"prescription": ordonnance})
        assert made["queued_locally"] is True and made["pdf"] and made["code_present"] is True, made
        assert made["queued_message"].startswith("Base du cabinet injoignable : ordonnance faite et gardée")
        assert made["document_job"] is None
        await lgc.event("prescription.created", lambda p: p["prescription_id"] == made["prescription_id"])
        assert reception.spool is not None and reception.spool.count == 1
    finally:
        await asyncio.to_thread(pg_server.start)
    await wait_until(lambda: consumer.documents, timeout=30, what="the ordonnance shared after the merge")
    assert [d.id for d in consumer.documents] == [made["prescription_id"]]
    assert reception.spool.count == 0
    rows = await room.store.fetchall("SELECT document_job FROM eprescription_documents WHERE id = ?",
                                     (made["prescription_id"],))
    assert len(rows) == 1 and rows[0][0] is not None
    await room.outbox.wait_idle(timeout=10)
    await asyncio.sleep(0.5)
    assert consumer.calls == 1  # shared once
