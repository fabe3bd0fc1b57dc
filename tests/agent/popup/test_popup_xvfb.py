"""The native popup process under Xvfb, driven like a user would (xdotool clicks and keys) against a real
agent and the INSi sandbox: the identity ends QUAL in the store, prompts answer their requests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from typing import Any

import pytest

from agent.app import Agent
from agent.hookcall import call_each
from agent.prompts import PinRequest
from sandbox.scanner.identities import sandbox_payload
from tests.agent.popup.conftest import ui_of
from tests.plugins.ins.conftest import DOMINIQUE, wait_until
from tests.ui_support import artifact, rpc

pytestmark = pytest.mark.slow


def xdo(display: str, *args: str) -> None:
    subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True, timeout=10)


def screenshot(display: str, path: Any) -> None:
    subprocess.run(["import", "-display", display, "-window", "root", str(path)], check=True, timeout=20)


async def click(agent: Agent, display: str, widget: str) -> None:
    layout = await ui_of(agent).describe()
    x, y, w, h = layout["widgets"][widget]
    await asyncio.to_thread(xdo, display, "mousemove", str(x + w // 2), str(y + h // 2), "click", "1")


async def shown_identity(agent: Agent) -> str:
    ui = ui_of(agent)
    while True:
        identity_id, _at = await asyncio.wait_for(ui.shown.get(), 20)
        if identity_id is not None:
            return identity_id


async def test_popup_click_attestation_qualifies(popup_agent: Agent, display: str,
                                                 request: pytest.FixtureRequest) -> None:
    submitted = await rpc(popup_agent, "identity.submit", local_id="p-1", traits=DOMINIQUE)
    identity_id = await shown_identity(popup_agent)  # the window mapped by itself after INSi answered
    assert identity_id == submitted["identity_id"]
    layout = await ui_of(popup_agent).describe()
    assert layout["visible"] and layout["queue"] == 1
    x, y, w, h = layout["widgets"]["window"]
    assert w <= 480 and h <= 740 and x + w <= 1366 and y + h <= 768  # fits a 1366×768 corner
    await asyncio.to_thread(screenshot, display, artifact(request, "popup.png"))

    await click(popup_agent, display, "attestation")
    await wait_until_async(lambda: _status(popup_agent, identity_id), "QUAL")
    audit = await rpc(popup_agent, "identity.audit", identity_id=identity_id)
    assert any(e["action"] == "qualified" and e["method"] == "attestation" for e in audit["entries"])
    # It closes on success.
    await wait_until_async(lambda: _visible(popup_agent), False)


async def test_popup_keyboard_enter_confirms_and_esc_postpones(popup_agent: Agent, display: str) -> None:
    first = await rpc(popup_agent, "identity.submit", local_id="p-1", traits=DOMINIQUE)
    assert await shown_identity(popup_agent) == first["identity_id"]
    # Raised by the INSi answer, it does not take the keyboard: an Enter meant for the LGC cannot attest.
    assert (await ui_of(popup_agent).describe())["focus"] is None
    # Opened by the user (the tray's "pending qualifications"): the one-click attestation has the focus.
    ui_of(popup_agent).open_popup("queue")
    await _wait_for(popup_agent, "focus", "attestation")
    # Esc postpones: the window hides, the identity stays to qualify (status unchanged).
    await asyncio.to_thread(xdo, display, "key", "Escape")
    await wait_until_async(lambda: _visible(popup_agent), False)
    assert (await rpc(popup_agent, "identity.get", identity_id=first["identity_id"]))["status"] == "RECUP"
    assert (await ui_of(popup_agent).describe())["queue"] == 1
    ui_of(popup_agent).open_popup("queue")
    await _wait_for(popup_agent, "focus", "attestation")
    await asyncio.to_thread(xdo, display, "key", "Return")  # Enter confirms the focused choice
    await wait_until_async(lambda: _status(popup_agent, first["identity_id"]), "QUAL")


async def test_popup_crash_never_harms_the_agent(popup_agent: Agent, display: str) -> None:
    ui = ui_of(popup_agent)
    assert ui.popup is not None and ui.popup.pid is not None
    submitted = await rpc(popup_agent, "identity.submit", local_id="p-1", traits=DOMINIQUE)
    await shown_identity(popup_agent)
    os.kill(ui.popup.pid, signal.SIGKILL)
    # The agent answers meanwhile, and a new popup comes back with the queue.
    assert (await rpc(popup_agent, "identity.get", identity_id=submitted["identity_id"]))["status"] == "RECUP"
    await wait_until(lambda: ui.popup is not None and ui.popup.starts == 2 and ui.popup.ready.is_set(),
                     timeout=15, what="popup restarted")
    layout = await ui.describe()
    assert layout["queue"] == 1 and not layout["visible"]  # restored, without jumping at the user


async def test_popup_pin_prompt_submits_the_typed_pin(popup_agent: Agent, display: str) -> None:
    pin = PinRequest(reader="Virtual PCD 00 00", card_label="CPS de test")
    await call_each(popup_agent.plugins, "pin_requested", request=pin)
    await _wait_for(popup_agent, "focus", "pin")  # the PIN field takes the keyboard
    await asyncio.to_thread(xdo, display, "type", "--delay", "20", "1234")
    await asyncio.to_thread(xdo, display, "key", "Return")
    assert await pin.wait(10) == "1234"
    await wait_until_async(lambda: _visible(popup_agent), False)


async def test_popup_pairing_consent_click_accepts(popup_agent: Agent, display: str) -> None:
    popup_agent.pairing.auto_accept = False
    decision = asyncio.ensure_future(popup_agent.pairing.request("LGC de test", "http://lgc.test"))
    await wait_until_async(lambda: _prompts(popup_agent), 1)
    assert (await ui_of(popup_agent).describe())["focus"] is None  # consent is never given by a stray Enter
    await click(popup_agent, display, "prompt_ok")
    assert await asyncio.wait_for(decision, 10) is True
    assert isinstance(popup_agent.pairing.pending(), list) and not popup_agent.pairing.pending()


async def test_popup_scan_field_shows_the_agents_french_error(popup_agent: Agent, display: str) -> None:
    ui_of(popup_agent).open_popup("scan")
    await _wait_for(popup_agent, "focus", "scan")
    await asyncio.to_thread(xdo, display, "type", "--delay", "5", "ABC123")
    await asyncio.to_thread(xdo, display, "key", "Return")
    layout = await _wait_text(popup_agent, "scan_result")
    assert layout["scan_result"].startswith("Code non reconnu")  # the scanner plugin's French answer


async def test_popup_scan_field_wedge_datamatrix_reaches_insi(popup_agent: Agent, display: str) -> None:
    # What a keyboard-wedge scanner types when it renders GS as the text "<GS>" (a common set-up).
    typed = sandbox_payload("ADRTROIS", "DOMINIQUE").replace("\x1d", "<GS>")
    seen: list[dict[str, Any]] = []
    popup_agent.events.subscribe(lambda name, params: seen.append(dict(params)) if name == "scan.received" else None)
    ui_of(popup_agent).open_popup("scan")
    await _wait_for(popup_agent, "focus", "scan")
    await asyncio.to_thread(xdo, display, "type", "--delay", "2", typed)
    await asyncio.to_thread(xdo, display, "key", "Return")
    layout = await _wait_text(popup_agent, "scan_result")
    assert layout["scan_result"] == "Datamatrix INS lu : recherche INSi en cours."
    assert [e.get("source") for e in seen] == ["popup"]


async def _wait_text(agent: Agent, key: str) -> dict[str, Any]:
    for _ in range(100):
        layout = await ui_of(agent).describe()
        if layout.get(key):
            return layout
        await asyncio.sleep(0.1)
    raise AssertionError(f"{key} stayed empty")


async def _status(agent: Agent, identity_id: str) -> str:
    return str((await rpc(agent, "identity.get", identity_id=identity_id))["status"])


async def _visible(agent: Agent) -> bool:
    return bool((await ui_of(agent).describe())["visible"])


async def _prompts(agent: Agent) -> int:
    return int((await ui_of(agent).describe())["prompts"])


async def wait_until_async(probe: Any, expected: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    value = None
    while asyncio.get_running_loop().time() < deadline:
        value = await probe()
        if value == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"expected {expected!r}, last value {value!r}")


TOUSSAINT = {"birth_name": "ADRTROIS", "first_names": ["TOUSSAINT"], "sex": "M", "birth_date": "1960-01-01"}


async def test_popup_queues_several_identities(popup_agent: Agent, display: str,
                                               request: pytest.FixtureRequest) -> None:
    first = (await rpc(popup_agent, "identity.submit", local_id="p-1", traits=DOMINIQUE))["identity_id"]
    assert await shown_identity(popup_agent) == first
    second = (await rpc(popup_agent, "identity.submit", local_id="p-2", traits=TOUSSAINT))["identity_id"]
    ui = ui_of(popup_agent)
    await wait_until(lambda: second in ui.offered, timeout=15, what="second identity offered")
    layout = await _wait_for(popup_agent, "queue", 2)
    assert layout["title"] == "Identité à qualifier 2 sur 2"  # the newest one is shown
    await asyncio.to_thread(screenshot, display, artifact(request, "queue.png"))
    await click(popup_agent, display, "attestation")
    await wait_until_async(lambda: _status(popup_agent, second), "QUAL")
    layout = await _wait_for(popup_agent, "queue", 1)
    assert layout["visible"] and layout["title"] == "Identité à qualifier 1 sur 1"  # the other one stays
    await click(popup_agent, display, "attestation")
    await wait_until_async(lambda: _status(popup_agent, first), "QUAL")
    await wait_until_async(lambda: _visible(popup_agent), False)
    assert not ui.offered  # the tray count follows


async def _wait_for(agent: Agent, key: str, value: Any) -> dict[str, Any]:
    for _ in range(150):
        layout = await ui_of(agent).describe()
        if layout.get(key) == value:
            return layout
        await asyncio.sleep(0.1)
    raise AssertionError(f"{key} never became {value!r}")


async def test_popup_keyboard_document_choice_then_confirm(popup_agent: Agent, display: str) -> None:
    submitted = await rpc(popup_agent, "identity.submit", local_id="p-1", traits=DOMINIQUE)
    identity_id = await shown_identity(popup_agent)
    assert identity_id == submitted["identity_id"]
    ui_of(popup_agent).open_popup("queue")
    await _wait_for(popup_agent, "focus", "attestation")
    # Shift+Tab skips the confirm button (disabled: no document yet) to the document list.
    await asyncio.to_thread(xdo, display, "key", "shift+Tab")
    await _wait_for(popup_agent, "focus", "documents")
    # Down opens the list, Return picks the first entry (Passeport); then Tab to the confirm button, Enter.
    await asyncio.to_thread(xdo, display, "key", "Down")
    await asyncio.sleep(0.3)
    await asyncio.to_thread(xdo, display, "key", "Return")
    await asyncio.sleep(0.3)
    await asyncio.to_thread(xdo, display, "key", "Tab")
    await _wait_for(popup_agent, "focus", "confirm")
    await asyncio.to_thread(xdo, display, "key", "Return")
    await wait_until_async(lambda: _status(popup_agent, identity_id), "QUAL")
    audit = await rpc(popup_agent, "identity.audit", identity_id=identity_id)
    assert any(e["action"] == "qualified" and e["method"] == "document" and e.get("document_type") == "passport"
               for e in audit["entries"]), audit["entries"]
