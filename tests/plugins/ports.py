"""The host's ports without the host: a real store and outbox, an emitter over a bare plugin manager.

A service test builds its service from these (never from an `Agent`), registers recording plugins on
`ports.host`, and checks what went out: hooks first, then the LGC events (`ports.events`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.acting import ActingUsers
from agent.context import Decisions, StatusPort
from agent.emitter import Emitter
from agent.events import EventBus
from agent.outbox import Outbox
from agent.plugins import PluginHost
from agent.secrets import SecretStore
from agent.store import MigrationRegistry, Store


@dataclass
class Ports:
    host: PluginHost
    store: Store
    outbox: Outbox
    events: EventBus
    emitter: Emitter
    decisions: Decisions
    acting: ActingUsers
    secrets: SecretStore
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def status(self, name: str) -> StatusPort:
        return StatusPort(self.host, name)

    def add_plugin(self, plugin: Any, name: str) -> None:
        """Register `plugin` as started (notifications reach started plugins only)."""
        self.host.register(plugin, name)
        self.host.states[name].started = True

    async def jobs(self, handler: str) -> list[dict[str, Any]]:
        rows = await self.store.fetchall("SELECT idem_key, payload FROM outbox WHERE handler = ? ORDER BY id",
                                         (handler,))
        return [{"key": r[0], "payload": r[1]} for r in rows]


@asynccontextmanager
async def ports(tmp_path: Path, migrations: Iterable[tuple[str, int, Any]] = (),
                on_host: Callable[[PluginHost], None] | None = None) -> AsyncIterator[Ports]:
    registry = MigrationRegistry()
    for namespace, version, step in migrations:
        registry.register(namespace, version, step)
    store = Store(tmp_path / "vigie.sqlite3")
    await store.open(registry)
    host = PluginHost()
    if on_host is not None:
        on_host(host)
    events = EventBus()
    emitter = Emitter(host, events)
    p = Ports(host=host, store=store, outbox=Outbox(store), events=events, emitter=emitter,
              decisions=Decisions(host), acting=ActingUsers(emitter), secrets=SecretStore())
    events.subscribe(lambda name, params: p.published.append((name, dict(params))))
    try:
        yield p
    finally:
        await store.close()

