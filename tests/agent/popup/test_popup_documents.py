"""The DMP plugin's documents panel in the real popup process on a private Xvfb: raised when an ordonnance
waits for the user (identity not qualified), French, nothing clipped, same window as the identity panel,
"Ne pas envoyer" by a real click (xdotool). Real agent, INSi, e-prescription and DMP sandboxes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from sandbox.dmp.server import DmpSandbox
from sandbox.eprescription.server import EprescriptionSandbox
from sandbox.insi.server import InsiSandbox
from tests.agent.popup.conftest import ui_of
from tests.agent.popup.test_popup_xvfb import click, screenshot
from tests.agent.web.test_documents_view import _prescribe
from tests.plugins.dmp.conftest import dmp_agent_config, dmp_sandbox, ep_sandbox  # noqa: F401
from tests.plugins.ins.conftest import DOMINIQUE, wait_until
from tests.ui_support import artifact, english_words, rpc

pytestmark = pytest.mark.slow
TITLE = "Document à envoyer au DMP"


@dataclass
class _Masked:
    document_id: str
    masking: list[str]


@pytest.fixture
async def popup_dmp_agent(tmp_path: Path, insi_sandbox: InsiSandbox, dmp_sandbox: DmpSandbox,  # noqa: F811
                          ep_sandbox: EprescriptionSandbox, display: str) -> AsyncIterator[Agent]:  # noqa: F811
    config = dmp_agent_config(tmp_path, insi_sandbox, dmp_sandbox, ep_sandbox.url)
    config.disabled_plugins = ["scanner", "cards", "mss"]
    config.plugins["ui"] = {"popup": True, "tray": False, "display": display}
    agent = Agent(config)
    await agent.start()
    try:
        await wait_until(lambda: all(agent.plugins.states[n].started for n in ("ins", "dmp", "eprescription")),
                         what="plugins started", timeout=30)
        ui = ui_of(agent)
        assert ui.popup is not None
        await wait_until(ui.popup.ready.is_set, timeout=15, what="popup process ready")
        yield agent
    finally:
        await agent.stop()


async def _layout_with(agent: Agent, predicate: Any, what: str) -> dict[str, Any]:
    for _ in range(200):
        layout = await ui_of(agent).describe()
        if predicate(layout):
            return layout
        await asyncio.sleep(0.1)
    raise AssertionError(f"popup never showed {what}: {layout.get('title')!r} {layout.get('all_text')}")


async def test_popup_documents_panel_raised_for_a_waiting_ordonnance_then_ne_pas_envoyer(
        popup_dmp_agent: Agent, display: str, request: pytest.FixtureRequest) -> None:
    agent = popup_dmp_agent
    ui = ui_of(agent)
    identity_id = (await rpc(agent, "identity.submit", local_id="p-1", traits=DOMINIQUE))["identity_id"]
    identity = await _layout_with(agent, lambda lo: lo["title"].startswith("Identité à qualifier"), "the identity")
    document_id = await _prescribe(agent, identity_id)  # not qualified: the ordonnance waits for the user
    await wait_until(lambda: document_id in ui.offered, timeout=15, what="document offered")
    await _layout_with(agent, lambda lo: lo["queue"] == 2, "two items")
    # raised: the popup shows it at once (the identity stays in the queue, "Suivante ›")
    layout = await _layout_with(agent, lambda lo: lo["title"].startswith(TITLE) and "widgets" in lo
                                and "cancel" in lo["widgets"], "the documents panel")
    text = "\n".join(layout["all_text"])
    assert "En attente" in text and "qualifiez l'identité" in text, text
    assert "ADRTROIS DOMINIQUE" in text and "Masqué aux professionnels" in text
    assert not english_words(text), text
    assert layout["overflow"] == [], layout["overflow"]
    assert layout["widgets"]["window"] == identity["widgets"]["window"]  # one geometry for every item
    bg, fg, state = layout["colours"]["cancel"]
    assert state == "normal"
    await asyncio.to_thread(screenshot, display, artifact(request, "popup-documents.png"))
    masked: list[Any] = []
    agent.events.subscribe(lambda name, params: masked.append(_Masked(params["document_id"], params["masking"]))
                           if name == "dmp.document.updated" else None)

    await click(agent, display, "mask_invisible_to_patient")  # masking from the popup goes through dmp.mask
    await wait_until(lambda: any(r.document_id == document_id and r.masking == ["invisible_to_patient"]
                                 for r in masked), timeout=10, what="masking recorded")
    await click(agent, display, "cancel")  # a real click on "Ne pas envoyer"
    await wait_until(lambda: document_id not in ui.offered, timeout=10, what="document out of the queue")
    view = await rpc(agent, "dmp.view", identity_id=identity_id)
    assert view["documents"][0]["state"] == "cancelled"
    await _layout_with(agent, lambda lo: lo["queue"] == 1, "the identity alone")
