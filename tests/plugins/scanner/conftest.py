"""An agent with the scanner plugin (and optionally the INS plugin on the INSi sandbox), the scanner emulator,
and a plugin that records what `scan_received` gets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import Config
from agent.hookspecs import hookimpl
from agent.plugins import PluginHost
from plugins.scanner.plugin import ScannerPlugin
from sandbox.scanner.emulator import ScannerEmulator, start_scanner_emulator
from tests.conftest import sandbox_host
from tests.plugins.ins.conftest import (  # noqa: F401 (fixtures)
    Lgc,
    ins_config,
    insi_pki,
    insi_sandbox,
    lgc_for,
    wait_until,
)


class Recorder:
    """Records every `scan_received` notification."""

    def __init__(self) -> None:
        self.scans: list[tuple[str, dict[str, Any], str]] = []

    @hookimpl
    def scan_received(self, kind: str, content: Mapping[str, Any], source: str) -> None:
        self.scans.append((kind, dict(content), source))


@pytest.fixture
async def emulator() -> AsyncIterator[ScannerEmulator]:
    emu = await start_scanner_emulator()
    yield emu
    await emu.stop()


AgentFactory = Callable[..., Awaitable[tuple[Agent, Recorder]]]


@pytest.fixture
async def scanner_agent(agent_config: Config, tmp_path: Path) -> AsyncIterator[AgentFactory]:
    """`make(scanner={...}, config=None, with_ins=False)`: an agent whose scanner plugin has started."""
    agents: list[Agent] = []

    async def make(scanner: dict[str, Any] | None = None, config: Config | None = None,
                   extra: list[tuple[Any, str]] = (),  # type: ignore[assignment]
                   sandbox: bool = False) -> tuple[Agent, Recorder]:
        """`sandbox`: with the sandbox's plugins (the emulator's tray entry), as `vigie run --sandbox` has them."""
        cfg = config or agent_config
        cfg.plugins["scanner"] = scanner or {}
        host = sandbox_host() if sandbox else PluginHost()
        recorder = Recorder()
        for plugin, name in extra:
            host.register(plugin, name)
        host.register(recorder, "recorder")
        agent = Agent(cfg, host=host)
        await agent.start()
        agents.append(agent)
        await wait_until(lambda: agent.plugins.states["scanner"].started, what="scanner plugin started")
        return agent, recorder

    yield make
    for agent in agents:
        await agent.stop()


def scanner_service(agent: Agent) -> Any:
    plugin = agent.plugins.pm.get_plugin("scanner")
    assert isinstance(plugin, ScannerPlugin) and plugin.service is not None
    return plugin.service
