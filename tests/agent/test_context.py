"""The plugin context and the emitter: a plugin sees its own section and ports, and a fact goes out once."""

from __future__ import annotations

from typing import Any

import pytest

from agent.acting import ActingUser
from agent.app import Agent
from agent.config import Config
from agent.context import PluginContext
from agent.emitter import FACTS
from agent.hookspecs import hookimpl
from agent.plugins import DEGRADED, OK, PluginHost


class ContextPlugin:
    def __init__(self) -> None:
        self.contexts: list[PluginContext] = []
        self.seen: list[tuple[str, Any]] = []

    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        self.contexts.append(context)

    @hookimpl
    def agent_started(self, context: PluginContext) -> None:
        self.contexts.append(context)

    @hookimpl
    def identity_updated(self, identity_id: str, status: str, insi_outcome: str | None) -> None:
        self.seen.append(("hook", identity_id))

    @hookimpl
    def acting_user_changed(self, user: ActingUser) -> None:
        self.seen.append(("acting", user.kind))


async def test_context_startup_gets_its_own_section_and_ports(agent_config: Config) -> None:
    agent_config.plugins["ctx"] = {"greeting": "Bonjour"}
    plugin = ContextPlugin()
    host = PluginHost()
    host.register(plugin, "ctx")
    agent = Agent(agent_config, host=host, load_plugins=False)
    await agent.start()
    try:
        context = plugin.contexts[0]
        assert context.name == "ctx"
        assert context.settings == {"greeting": "Bonjour"}
        assert context.store is agent.store and context.outbox is agent.outbox
        assert context.data_dir == agent_config.store.path.parent
        assert plugin.contexts[1] is context  # agent_started sees the same context
        context.status.degraded("pour voir")
        assert agent.plugins.states["ctx"].status == DEGRADED
        context.status.ok()
        assert agent.plugins.states["ctx"].status == OK
    finally:
        await agent.stop()


async def test_context_emit_calls_the_hook_then_publishes_the_event(agent_config: Config) -> None:
    plugin = ContextPlugin()
    host = PluginHost()
    host.register(plugin, "ctx")
    agent = Agent(agent_config, host=host, load_plugins=False)
    await agent.start()
    agent.events.subscribe(lambda name, params: plugin.seen.append(("event", name, dict(params))))
    try:
        await agent.emitter.emit("identity_updated", identity_id="i-1", status="VALI", insi_outcome="found")
        assert plugin.seen == [("hook", "i-1"), ("event", "identity.updated",
                                                 {"identity_id": "i-1", "status": "VALI", "insi_outcome": "found"})]
        with pytest.raises(ValueError, match="emit the hook"):
            agent.emitter.publish("identity.updated", {"identity_id": "i-1"})
        with pytest.raises(KeyError):
            await agent.emitter.emit("no_such_fact")
    finally:
        await agent.stop()


async def test_context_acting_port_is_written_by_the_card_user_and_read_by_all(agent_config: Config) -> None:
    plugin = ContextPlugin()
    host = PluginHost()
    host.register(plugin, "ctx")
    agent = Agent(agent_config, host=host, load_plugins=False)
    await agent.start()
    try:
        acting = plugin.contexts[0].acting
        acting.set_default(ActingUser(kind="configured", name="DR TEST"))
        signer = object()
        await acting.set_card_user(ActingUser(kind="cps", name="DR CARTE", reader="r"), signer)
        assert acting.current.name == "DR CARTE" and acting.card_signer is signer
        assert (await agent.info())["acting_user"]["source"] == "card"
        await acting.set_card_user(None)
        assert acting.current.kind == "configured" and acting.card_signer is None
        assert [s for s in plugin.seen if s[0] == "acting"] == [("acting", "cps"), ("acting", "configured")]
        with pytest.raises(ValueError):
            await acting.set_card_user(ActingUser(kind="configured"))
        with pytest.raises(ValueError):
            acting.set_default(ActingUser(kind="cps"))
    finally:
        await agent.stop()


def test_context_every_fact_is_a_notification_hook() -> None:
    from agent import hookspecs

    for hook in FACTS:
        spec = getattr(hookspecs, hook)
        assert spec.vigie_spec["firstresult"] is False, hook


def test_context_no_capability_plugin_asks_for_the_agent() -> None:
    # Only the host's own shell (agent/ui.py) still takes `agent`; every capability takes its context.
    host = PluginHost()
    host.load([])  # the built-in plugins and any installed through the `vigie` entry points
    asking = sorted({impl.plugin_name for hook in ("startup", "shutdown", "agent_started", "agent_stopping")
                     for impl in getattr(host.hook, hook).get_hookimpls() if "agent" in impl.argnames})
    assert asking == ["ui"]
