"""The INS service built from ports, without an agent: real store and outbox, hooks then events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.acting import ActingUser
from agent.errors import UserFacingError
from agent.hookspecs import hookimpl
from plugins.ins import repository
from plugins.ins.service import InsService
from plugins.ins.settings import parse_settings
from tests.plugins.ins.conftest import DOMINIQUE
from tests.plugins.ports import Ports, ports

MIGRATIONS = [(repository.NAMESPACE, v, sql) for v, sql in repository.MIGRATIONS.items()]


class Watcher:
    def __init__(self, p: Ports) -> None:
        self.p = p
        self.seen: list[tuple[str, str, str | None, int]] = []

    @hookimpl
    def identity_updated(self, identity_id: str, status: str, insi_outcome: str | None) -> None:
        # How many events had gone out when the hook ran: the hook comes first.
        self.seen.append((identity_id, status, insi_outcome, len(self.p.published)))


def build(p: Ports, **raw: Any) -> InsService:
    return InsService(store=p.store, outbox=p.outbox, emitter=p.emitter, secrets=p.secrets, acting=p.acting,
                      settings=parse_settings(raw))


async def test_ins_service_from_ports_records_queues_and_emits(tmp_path: Path) -> None:
    async with ports(tmp_path, MIGRATIONS) as p:
        watcher = Watcher(p)
        p.add_plugin(watcher, "watcher")
        service = build(p)
        got = await service.submit(dict(DOMINIQUE), local_id="dossier-1", source="lgc")
        assert got["status"] == "PROV"
        assert watcher.seen == [(got["identity_id"], "PROV", "pending", 0)]
        assert p.published == [("identity.updated", {"identity_id": got["identity_id"], "status": "PROV",
                                                     "insi_outcome": "pending"})]
        assert [j["payload"] for j in await p.jobs("ins.lookup")] == [f'{{"identity_id":"{got["identity_id"]}"}}']
        # The same record reopened at once: the same identity, and no second INSi call (dedupe window).
        assert (await service.submit(dict(DOMINIQUE), local_id="dossier-1", source="lgc")) == got
        assert len(await p.jobs("ins.lookup")) == 1
        view = await service.view(got["identity_id"])
        assert view["status"] == "PROV"


async def test_ins_service_from_ports_batch_rejects_one_line_and_queues_the_rest(tmp_path: Path) -> None:
    async with ports(tmp_path, MIGRATIONS) as p:
        service = build(p)
        other = {**DOMINIQUE, "first_names": ["MARIE"]}
        result = await service.batch([{"traits": dict(DOMINIQUE)}, {"traits": {**DOMINIQUE, "sex": "X"}},
                                      {"traits": other, "local_id": "d-2"}])
        assert (result["total"], result["queued"], result["skipped"]) == (2, 2, 0)
        assert [r["position"] for r in result["rejected"]] == [1]
        assert len(await p.jobs("ins.batch_lookup")) == 2
        assert p.published[0] == ("batch.progress", {"batch_id": result["batch_id"], "done": 0, "total": 2})


async def test_ins_service_from_ports_actor_follows_the_acting_port(tmp_path: Path) -> None:
    async with ports(tmp_path, MIGRATIONS) as p:
        service = build(p, user={"kind": "ps", "name": "DR CONFIG"})
        assert service.actor().name == "DR CONFIG"
        await p.acting.set_card_user(ActingUser(kind="cps", name="DR CARTE", reader="r"), signer=object())
        assert (service.actor().kind, service.actor().name) == ("ps", "DR CARTE")
        with pytest.raises(UserFacingError, match="Identité inconnue"):
            await service.get("nope")
        assert service.status()["state"] == "ok" and service.client is None  # INSi not started: no client
