"""An example Vigie plugin, the one docs/architecture.md walks through ("Adding a plugin").

It counts the patients whose identity changed today and tells the LGC. It shows each part a real
capability has: its own migration, a service that takes only the ports it uses, one RPC method, one
notification hook, one LGC event and a status line. tests/test_example_plugin.py loads this file and
exercises it; install your own with an entry point in the `vigie` group (docs/plugin_hooks.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agent.context import PluginContext
from agent.emitter import Emitter
from agent.errors import PluginNotReady
from agent.hookspecs import hookimpl
from agent.store import Store

NAMESPACE = "example_visits"  # the plugin's own migrations and tables
MIGRATIONS = {1: "CREATE TABLE example_visits (identity_id TEXT PRIMARY KEY, day TEXT NOT NULL)"}


class VisitCounter:
    """The service: plain async code over the ports it was given; a test builds it without an agent."""

    def __init__(self, store: Store, emitter: Emitter, today: Callable[[], str]) -> None:
        self.store, self.emitter, self.today = store, emitter, today

    async def seen(self, identity_id: str) -> int:
        day = self.today()
        count: int = await self.store.transaction(lambda conn: _record(conn, identity_id, day))
        self.emitter.publish("visits.counted", {"day": day, "count": count})  # to the LGC, no hook
        return count


def _record(conn: Any, identity_id: str, day: str) -> int:  # runs in the store's worker thread
    conn.execute("INSERT INTO example_visits (identity_id, day) VALUES (?, ?) "
                 "ON CONFLICT (identity_id) DO UPDATE SET day = excluded.day", (identity_id, day))
    return int(conn.execute("SELECT COUNT(*) FROM example_visits WHERE day = ?", (day,)).fetchone()[0])


class VisitsPlugin:
    """Hook implementations only: each a few lines of wiring over `VisitCounter`."""

    def __init__(self) -> None:
        self.service: VisitCounter | None = None

    @hookimpl
    def register_migrations(self, register: Any) -> None:
        for version, sql in MIGRATIONS.items():
            register(NAMESPACE, version, sql)

    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        register("visits.today", self.today, params={"type": "object", "additionalProperties": False},
                 description="Patients whose identity changed today.")

    async def today(self, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        if self.service is None:
            raise PluginNotReady("module visites non démarré")
        day = self.service.today()
        row = await self.service.store.fetchone("SELECT COUNT(*) FROM example_visits WHERE day = ?", (day,))
        return {"day": day, "count": int(row[0]) if row else 0}

    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        clock = context.settings.get("clock", "%Y-%m-%d")  # its own `[plugins.<name>]` section
        self.service = VisitCounter(context.store, context.emitter, lambda: time.strftime(clock))

    @hookimpl
    async def identity_updated(self, identity_id: str, status: str, insi_outcome: str | None) -> None:
        if self.service is not None:
            await self.service.seen(identity_id)

    @hookimpl
    def register_status_providers(self, register: Any) -> None:
        register("visits", lambda: {"services": {"visits": {"state": "ok" if self.service else "non démarré"}}})
