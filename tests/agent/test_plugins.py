from __future__ import annotations

import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agent.errors import RegistrationError
from agent.hookcall import call_each
from agent.hookspecs import hookimpl
from agent.plugins import DEGRADED, DISABLED, OK, PluginHost


class Recorder:
    def __init__(self, log: list[str], tag: str, fail: bool = False) -> None:
        self.log, self.tag, self.fail = log, tag, fail

    @hookimpl
    async def agent_started(self, context: Any) -> None:
        self.log.append(self.tag)
        if self.fail:
            raise RuntimeError("boom")


def started_host(*plugins: tuple[Any, str]) -> PluginHost:
    host = PluginHost()
    for plugin, name in plugins:
        host.register(plugin, name)
        host.set_status(name, OK)
    return host


async def test_plugins_notification_failure_reaches_others_and_degrades(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    # pluggy calls the last registered first: register the failing one last so it runs first.
    host = started_host((Recorder(calls, "b"), "second"), (Recorder(calls, "a", fail=True), "first"))
    with caplog.at_level(logging.ERROR):
        await call_each(host, "agent_started", context=None)
    assert calls == ["a", "b"]
    assert host.states["first"].status == DEGRADED
    assert "agent_started" in (host.states["first"].reason or "")
    assert host.states["second"].status == OK
    assert "first" in caplog.text


async def test_plugins_notification_timeout_degrades_only_the_slow_plugin() -> None:
    import asyncio

    class Slow:
        @hookimpl
        async def agent_started(self, context: Any) -> None:
            await asyncio.sleep(10)

    calls: list[str] = []
    host = started_host((Recorder(calls, "fast"), "fast"), (Slow(), "slow"))
    await call_each(host, "agent_started", context=None, timeout=0.05)
    assert calls == ["fast"]
    assert host.states["slow"].status == DEGRADED


async def test_plugins_notification_skips_plugins_not_started() -> None:
    calls: list[str] = []
    host = PluginHost()
    host.register(Recorder(calls, "x"), "x")  # registered, startup not done yet
    await call_each(host, "agent_started", context=None)
    assert calls == []


def test_plugins_async_firstresult_refused_at_registration() -> None:
    class AsyncDecider:
        @hookimpl
        async def pairing_policy(self, client_name: str, origin: str | None) -> bool:
            return True

    host = PluginHost()
    with pytest.raises(RegistrationError, match="firstresult"):
        host.register(AsyncDecider(), "async-decider")
    assert host.pm.get_plugin("async-decider") is None
    assert host.hook.pairing_policy(client_name="x", origin=None) is None


def test_plugins_async_registration_hook_refused() -> None:
    class AsyncRegister:
        @hookimpl
        async def register_rpc_methods(self, register: Any) -> None:
            return None

    with pytest.raises(RegistrationError, match="plain"):
        PluginHost().register(AsyncRegister(), "bad")


def test_plugins_unknown_hook_refused() -> None:
    class Typo:
        @hookimpl
        def agent_startd(self, agent: Any) -> None:
            return None

    with pytest.raises(RegistrationError, match="unknown hook"):
        PluginHost().register(Typo(), "typo")


def test_plugins_duplicate_name_refused() -> None:
    host = PluginHost()
    host.register(Recorder([], "a"), "same")
    with pytest.raises(RegistrationError):
        host.register(Recorder([], "b"), "same")


def test_plugins_firstresult_decision_first_non_none_wins() -> None:
    class Abstain:
        @hookimpl
        def pairing_policy(self, client_name: str, origin: str | None) -> bool | None:
            return None

    class Refuse:
        @hookimpl
        def pairing_policy(self, client_name: str, origin: str | None) -> bool | None:
            return False

    host = PluginHost()
    host.register(Refuse(), "refuse")
    host.register(Abstain(), "abstain")
    assert host.hook.pairing_policy(client_name="LGC", origin=None) is False


@pytest.fixture
def third_party_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real installed distribution (dist-info + module) declaring a `vigie` entry point."""
    site = tmp_path / "site"
    (site / "vigie_hello-1.2.3.dist-info").mkdir(parents=True)
    (site / "vigie_hello-1.2.3.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: vigie-hello\n"
                                                                   "Version: 1.2.3\n")
    (site / "vigie_hello-1.2.3.dist-info" / "entry_points.txt").write_text("[vigie]\nhello = vigie_hello:Hello\n")
    (site / "vigie_hello.py").write_text(textwrap.dedent("""
        from agent.hookspecs import hookimpl

        class Hello:
            @hookimpl
            def pairing_policy(self, client_name, origin):
                return True if client_name == "trusted" else None
    """))
    monkeypatch.syspath_prepend(str(site))
    yield "hello"
    sys.modules.pop("vigie_hello", None)


def test_plugins_entry_point_plugin_is_loaded(third_party_dist: str) -> None:
    host = PluginHost()
    host.load(disabled=[], defaults={})
    state = host.states[third_party_dist]
    assert state.source == "entrypoint" and state.version == "1.2.3"
    assert host.hook.pairing_policy(client_name="trusted", origin=None) is True


def test_plugins_entry_point_plugin_can_be_disabled(third_party_dist: str) -> None:
    host = PluginHost()
    host.load(disabled=[third_party_dist], defaults={})
    assert host.states[third_party_dist].status == DISABLED
    assert host.hook.pairing_policy(client_name="trusted", origin=None) is None


def test_plugins_builtin_loaded_per_host_and_disabled_by_name() -> None:
    defaults = {"rec": "tests.agent.sample_plugin:SamplePlugin"}
    a, b = PluginHost(), PluginHost()
    a.load(defaults=defaults)
    b.load(defaults=defaults)
    # A class reference is instantiated per host: two agents share no plugin state.
    assert a.pm.get_plugin("rec") is not b.pm.get_plugin("rec")
    c = PluginHost()
    c.load(disabled=["rec"], defaults=defaults)
    assert c.states["rec"].status == DISABLED and c.pm.get_plugin("rec") is None


def test_plugins_hook_tracing_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    host = PluginHost()
    with caplog.at_level(logging.DEBUG, logger="agent.plugins"):
        host.hook.pairing_policy(client_name="Dr 1 84 12 75 123 456 78", origin=None)
    assert "pairing_policy" in caplog.text
    assert "123 456" not in caplog.text
    assert "***" in caplog.text
