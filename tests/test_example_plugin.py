"""docs/example_plugin.py is real: loaded from the docs, registered like any plugin, and exercised."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from agent.app import Agent
from agent.config import Config
from agent.plugins import PluginHost
from agent.rpc import RpcContext
from tests.plugins.ports import ports

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "example_plugin.py"
LGC = RpcContext("test", frozenset({"lgc"}), "lgc", 0)


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vigie_example_plugin", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def call(agent: Agent, method: str, params: dict[str, Any] | None = None) -> Any:
    response = await agent.rpc.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}, LGC)
    assert isinstance(response, dict) and "result" in response, response
    return response["result"]


async def test_example_plugin_counts_identities_through_the_agent(agent_config: Config) -> None:
    example = load_example()
    agent_config.plugins["visits"] = {"clock": "2026-12-04"}
    host = PluginHost()
    host.register(example.VisitsPlugin(), "visits")
    agent = Agent(agent_config, host=host, load_plugins=False)
    await agent.start()
    events: list[tuple[str, dict[str, Any]]] = []
    agent.events.subscribe(lambda name, params: events.append((name, dict(params))))
    try:
        assert agent.plugins.states["visits"].status == "ok"
        # The INS plugin emits this fact when an identity changes; the example hears it as a hook.
        for identity_id in ("id-1", "id-2", "id-1"):
            await agent.emitter.emit("identity_updated", identity_id=identity_id, status="PROV", insi_outcome="pending")
        assert await call(agent, "visits.today") == {"day": "2026-12-04", "count": 2}
        assert [p for n, p in events if n == "visits.counted"] == [
            {"day": "2026-12-04", "count": 1}, {"day": "2026-12-04", "count": 2}, {"day": "2026-12-04", "count": 2}]
        assert (await agent.info())["services"]["visits"] == {"state": "ok"}
    finally:
        await agent.stop()


async def test_example_plugin_service_is_built_without_an_agent(tmp_path: Path) -> None:
    example = load_example()
    async with ports(tmp_path, [(example.NAMESPACE, v, sql) for v, sql in example.MIGRATIONS.items()]) as p:
        days = iter(["2026-12-03", "2026-12-04", "2026-12-04"])
        counter = example.VisitCounter(p.store, p.emitter, lambda: next(days))
        assert [await counter.seen(i) for i in ("a", "a", "b")] == [1, 1, 2]  # "a" moved to the 4th
        assert p.published[-1] == ("visits.counted", {"day": "2026-12-04", "count": 2})
