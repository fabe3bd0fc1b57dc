"""Fixtures: the e-prescription sandbox, agents wired to it, and PDF inspection (pdftoppm, pdftotext, zxing-cpp)."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from agent.app import Agent
from agent.config import config_from_dict
from agent.plugins import PluginHost
from sandbox.eprescription.server import EprescriptionSandbox, start_eprescription_sandbox
from tests.conftest import TEST_TOKEN
from tests.plugins.ins.conftest import Lgc, lgc_for, wait_until

__all__ = ["Lgc", "lgc_for", "wait_until"]

DATA = Path(__file__).resolve().parent / "data"
RPPS, AM = "10000123454", "751234567"


@pytest.fixture
def ordonnance() -> dict[str, Any]:
    """A five-line ordonnance (medicines, a device, a free-text line), fresh for each test."""
    return copy.deepcopy(json.loads((DATA / "ordonnance.json").read_text(encoding="utf-8")))


@pytest.fixture
async def ep_sandbox() -> AsyncIterator[EprescriptionSandbox]:
    sandbox = await start_eprescription_sandbox(hold=30.0)
    yield sandbox
    await sandbox.stop()


AgentFactory = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def make_agent(tmp_path: Path, ep_sandbox: EprescriptionSandbox) -> AsyncIterator[AgentFactory]:
    """An agent with the default plugins; `[plugins.eprescription]` points at the sandbox unless overridden.

    `extra` plugins (name -> object) are registered before start (e.g. a document consumer).
    """
    agents: list[Agent] = []

    async def make(*, extra: dict[str, Any] | None = None, sandbox_mode: bool = False, store: str = "vigie",
                   disabled: tuple[str, ...] = (), **settings: Any) -> Agent:
        ep = {"url": ep_sandbox.url, "timeout": 1.0, **settings}
        ep = {k: v for k, v in ep.items() if v is not None}
        config = config_from_dict({
            "api": {"port": 0, "tokens": [TEST_TOKEN], "allowed_origins": ["http://lgc.test"]},
            "store": {"path": str(tmp_path / "store" / f"{store}.sqlite3")},
            "log": {"dir": str(tmp_path / "logs")},
            "plugins": {"eprescription": ep},
            "disabled_plugins": list(disabled),
        })
        config.sandbox = sandbox_mode
        host = PluginHost()
        for name, plugin in (extra or {}).items():
            host.register(plugin, name)
        agent = Agent(config, host=host)
        await agent.start()
        agents.append(agent)
        await wait_until(lambda: agent.plugins.states["eprescription"].started, what="e-prescription started")
        return agent

    yield make
    for agent in agents:
        if agent._started:
            await agent.stop()


def rasterise(pdf: bytes, tmp_path: Path, dpi: int = 200) -> list[Image.Image]:
    """Every page as a grey image, through poppler's pdftoppm (as a scanner would see the paper)."""
    out = tmp_path / "pages"
    out.mkdir(exist_ok=True)
    source = out / "doc.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(source), str(out / "page")], check=True)
    return [Image.open(p).copy() for p in sorted(out.glob("page*.pgm"))]


def decode(pdf: bytes, tmp_path: Path) -> list[list[tuple[str, str]]]:
    """Per page, the (format, text) of every barcode zxing-cpp finds, whatever its kind."""
    return [sorted((r.format.name, r.text) for r in zxingcpp.read_barcodes(page)) for page in rasterise(pdf, tmp_path)]


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "text.pdf"
    source.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout
