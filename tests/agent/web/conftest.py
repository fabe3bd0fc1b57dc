"""An agent on the INSi sandbox, the demo LGC page it trusts, and a headless Chromium (the system's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from sandbox.demo.server import start_demo_page
from sandbox.insi.server import InsiSandbox
from tests.conftest import free_port
from tests.plugins.ins.conftest import ins_config, insi_pki, insi_sandbox, wait_until  # noqa: F401
from tests.ui_support import browser  # noqa: F401


@dataclass
class DemoSetup:
    agent: Agent
    url: str
    events: list[tuple[str, dict[str, Any]]]


@pytest.fixture
async def demo(tmp_path: Path, insi_sandbox: InsiSandbox) -> AsyncIterator[DemoSetup]:  # noqa: F811
    port = free_port()
    page = await start_demo_page(api_port=port)
    config = ins_config(tmp_path, insi_sandbox)
    config.api.port = port
    config.api.allowed_origins = list(page.origins)
    config.api.auto_accept_pairing = True  # as `vigie run --sandbox` does
    config.plugins["ui"] = {"popup": False, "tray": False}
    agent = Agent(config)
    events: list[tuple[str, dict[str, Any]]] = []
    agent.events.subscribe(lambda name, params: events.append((name, dict(params))))
    await agent.start()
    try:
        await wait_until(lambda: agent.plugins.states["ins"].started, what="INS plugin started")
        yield DemoSetup(agent, page.endpoints["demo"], events)
    finally:
        await agent.stop()
        await page.stop()
