"""The popup's panels under Xvfb (issue 19 items 1, 5, 9, 10): French only, nothing clipped, one window
geometry for every item, non-modal notices, and what was done after a qualification. Real agent, real popup
process, the INSi sandbox; screenshots in test-artifacts/."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.app import Agent
from agent.panels import notify_user
from sandbox.scanner.identities import sandbox_payload
from tests.agent.popup.conftest import ui_of
from tests.agent.popup.test_popup_xvfb import (
    _status,
    _visible,
    _wait_for,
    _wait_text,
    click,
    screenshot,
    shown_identity,
    wait_until_async,
    xdo,
)
from tests.plugins.ins.conftest import DOMINIQUE, wait_until
from tests.ui_support import CTX, artifact, english_words, rpc

pytestmark = pytest.mark.slow

DE_VINCI = {"birth_name": "DE VINCI", "first_names": ["LEONARDO"], "sex": "M", "birth_date": "2014-02-01"}
HOUILLES = {"birth_name": "HOUILLES", "first_names": ["PIERRE", "PAUL", "JACQUES"], "sex": "M",
            "birth_date": "1993-01-27"}


@pytest.mark.parametrize("traits", [DE_VINCI, HOUILLES, DOMINIQUE], ids=["several", "none", "found"])
async def test_popup_panel_is_french_and_nothing_is_clipped(popup_agent: Agent, display: str, traits: dict[str, Any],
                                                            request: pytest.FixtureRequest) -> None:
    await rpc(popup_agent, "identity.submit", local_id="p-1", traits=traits)
    await shown_identity(popup_agent)
    layout = await ui_of(popup_agent).describe()
    text = "\n".join(layout["all_text"])
    assert not english_words(text), text
    assert "nom de naissance" in layout["all_text"]  # labelled in French with or without an INSi answer
    # Wrapped, not clipped; the document list is as wide as its longest label.
    assert layout["overflow"] == [], layout["overflow"]
    # No document picked yet: the confirm button is disabled and looks it (grey, not the primary blue).
    bg, _fg, state = layout["colours"]["confirm"]
    assert state == "disabled" and bg.lower() != "#1f5fa8"
    await asyncio.to_thread(screenshot, display, artifact(request, "popup.png"))


async def test_popup_one_geometry_for_every_item(popup_agent: Agent, display: str,
                                                 request: pytest.FixtureRequest) -> None:
    ui = ui_of(popup_agent)
    first = (await rpc(popup_agent, "identity.submit", local_id="p-1", traits=DOMINIQUE))["identity_id"]
    assert await shown_identity(popup_agent) == first
    second = (await rpc(popup_agent, "identity.submit", local_id="p-2", traits=DE_VINCI))["identity_id"]
    await wait_until(lambda: second in ui.offered, timeout=15, what="second identity offered")
    before = await _wait_for(popup_agent, "queue", 2)
    await asyncio.to_thread(screenshot, display, artifact(request, "long.png"))
    await click(popup_agent, display, "next")
    after = await _wait_for(popup_agent, "title", "Identité à qualifier 1 sur 2")
    await asyncio.to_thread(screenshot, display, artifact(request, "short.png"))
    # A long panel (INSi columns, changes) and a short one (no answer): same window, "Suivante" stays put.
    assert after["widgets"]["window"] == before["widgets"]["window"]
    assert after["widgets"]["next"] == before["widgets"]["next"]
    assert before["overflow"] == [] and after["overflow"] == []


async def test_popup_scan_error_wraps_unclipped(popup_agent: Agent, display: str,
                                                request: pytest.FixtureRequest) -> None:
    ui_of(popup_agent).open_popup("scan")
    await _wait_for(popup_agent, "focus", "scan")
    await asyncio.to_thread(xdo, display, "type", "--delay", "2", "CODE-INCONNU-" + "X" * 60)
    await asyncio.to_thread(xdo, display, "key", "Return")
    layout = await _wait_text(popup_agent, "scan_result")
    assert layout["scan_result"].startswith("Code non reconnu")
    assert layout["overflow"] == [], layout["overflow"]
    x, y, w, h = layout["widgets"]["scan_result"]
    wx, wy, ww, wh = layout["widgets"]["window"]
    assert y + h <= wy + wh and x + w <= wx + ww
    await asyncio.to_thread(screenshot, display, artifact(request, "scan-error.png"))


async def test_popup_says_identity_qualified_then_closes(popup_agent: Agent, display: str,
                                                         request: pytest.FixtureRequest) -> None:
    submitted = await rpc(popup_agent, "identity.submit", local_id="p-1", traits=DOMINIQUE)
    identity_id = await shown_identity(popup_agent)
    assert identity_id == submitted["identity_id"]
    await click(popup_agent, display, "attestation")
    await wait_until_async(lambda: _status(popup_agent, identity_id), "QUAL")
    layout = await _wait_text(popup_agent, "notice")
    assert layout["notice"] == ("Identité qualifiée : ADRTROIS DOMINIQUE — INS 297022A02077878 (NIR), "
                                "par Dr Olivier SANDBOX")
    assert layout["queue"] == 0
    assert layout["widgets"]["window"][3] < 300  # back to the notice's own size, not a panel-high window
    await asyncio.to_thread(screenshot, display, artifact(request, "qualified.png"))
    await wait_until_async(lambda: _visible(popup_agent), False)  # closes on its own once said


async def test_popup_hardware_notice_is_non_modal(popup_agent: Agent, display: str,
                                                  request: pytest.FixtureRequest) -> None:
    seen: list[dict[str, Any]] = []
    popup_agent.events.subscribe(lambda name, params: seen.append(dict(params)) if name == "agent.notice" else None)
    text = "Carte CPS de Dr Olivier SANDBOX insérée : vous pouvez interroger l'INSi et qualifier les identités."
    await notify_user(popup_agent.emitter, text, level="ok", topic="card.cps")
    layout = await _wait_text(popup_agent, "notice")
    assert layout["notice"] == text and layout["visible"] and layout["title"] == "Vigie"
    assert layout["focus"] is None  # never takes the keyboard from the LGC
    assert seen == [{"text": text, "level": "ok", "topic": "card.cps"}]  # and the LGC is told
    await asyncio.to_thread(screenshot, display, artifact(request, "notice.png"))
    await wait_until_async(lambda: _visible(popup_agent), False)  # gone by itself


async def test_popup_scan_of_an_already_qualified_patient_says_so(popup_agent: Agent, display: str) -> None:
    submitted = await rpc(popup_agent, "identity.submit", local_id="p-1", traits=DOMINIQUE)
    await shown_identity(popup_agent)
    await wait_until_async(lambda: _status(popup_agent, submitted["identity_id"]), "RECUP")
    qualified = await popup_agent.rpc.handle({"jsonrpc": "2.0", "id": 1, "method": "identity.qualify", "params": {
        "identity_id": submitted["identity_id"], "method": "attestation"}}, CTX)
    assert qualified["result"]["status"] == "QUAL"
    await wait_until(lambda: not ui_of(popup_agent).offered, timeout=15, what="qualified identity dropped")
    ui_of(popup_agent).open_popup("scan")
    await _wait_for(popup_agent, "focus", "scan")
    typed = sandbox_payload("ADRTROIS", "DOMINIQUE").replace("\x1d", "<GS>")
    await asyncio.to_thread(xdo, display, "type", "--delay", "2", typed)
    await asyncio.to_thread(xdo, display, "key", "Return")
    layout = await _wait_text(popup_agent, "scan_result")
    assert layout["scan_result"] == "Datamatrix INS lu : ce patient a déjà une identité qualifiée, rien à faire."


async def test_popup_notice_for_a_hardware_scan_of_a_qualified_patient(popup_agent: Agent, display: str,
                                                                       request: pytest.FixtureRequest) -> None:
    """A serial/HID scanner's result has nobody to answer to: the popup says it, without taking the keyboard."""
    from tests.plugins.scanner.conftest import scanner_service

    submitted = await rpc(popup_agent, "identity.submit", local_id="p-1", traits=DOMINIQUE)
    await shown_identity(popup_agent)
    await wait_until_async(lambda: _status(popup_agent, submitted["identity_id"]), "RECUP")
    qualified = await popup_agent.rpc.handle({"jsonrpc": "2.0", "id": 1, "method": "identity.qualify", "params": {
        "identity_id": submitted["identity_id"], "method": "attestation"}}, CTX)
    assert qualified["result"]["status"] == "QUAL"
    await wait_until(lambda: not ui_of(popup_agent).offered, timeout=15, what="qualified identity dropped")
    await wait_until_async(lambda: _visible(popup_agent), False, timeout=20)
    payload = sandbox_payload("ADRTROIS", "DOMINIQUE").encode()
    await scanner_service(popup_agent).submit(payload, "serial")
    layout = await _wait_text(popup_agent, "notice")
    assert layout["notice"] == "Datamatrix INS lu : ce patient a déjà une identité qualifiée, rien à faire."
    assert layout["visible"] and layout["focus"] is None
    await asyncio.to_thread(screenshot, display, artifact(request, "scan-notice.png"))
