"""An agent on the INSi sandbox whose `ui` plugin runs the real popup process on a private Xvfb."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.app import Agent
from agent.ui import UiPlugin
from sandbox.insi.server import InsiSandbox
from tests.plugins.ins.conftest import ins_config, insi_pki, insi_sandbox, wait_until  # noqa: F401
from tests.ui_support import require_binary, xvfb


@pytest.fixture
def display() -> Iterator[str]:
    require_binary("Xvfb", "xdotool", "import", "xdpyinfo")
    with xvfb() as d:
        yield d


@pytest.fixture
async def popup_agent(tmp_path: Path, insi_sandbox: InsiSandbox, display: str) -> AsyncIterator[Agent]:  # noqa: F811
    config = ins_config(tmp_path, insi_sandbox)
    config.plugins["ui"] = {"popup": True, "tray": False, "display": display}
    agent = Agent(config)
    await agent.start()
    try:
        await wait_until(lambda: agent.plugins.states["ins"].started, what="INS plugin started")
        ui = ui_of(agent)
        assert ui.popup is not None
        await wait_until(ui.popup.ready.is_set, timeout=15, what="popup process ready")
        yield agent
    finally:
        await agent.stop()


def ui_of(agent: Agent) -> UiPlugin:
    plugin = agent.plugins.pm.get_plugin("ui")
    assert isinstance(plugin, UiPlugin)
    return plugin
