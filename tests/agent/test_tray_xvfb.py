"""The tray under Xvfb with Debian's `trayer` as tray host: the icon docks, its tooltip and pystray menu
follow the agent's state, menu actions and a click reach the agent's loop."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from agent.app import Agent
from agent.config import Config
from agent.hookspecs import hookimpl
from tests.agent.popup.conftest import ui_of
from tests.plugins.ins.conftest import wait_until
from tests.ui_support import artifact, english_words, require_binary, trayer, x_env, xvfb

pytestmark = pytest.mark.slow


class SandboxCards:
    """Stands for the cards plugin's sandbox tray entry (the real plugin needs a PC/SC service)."""

    def __init__(self) -> None:
        self.inserted = asyncio.Event()
        self.unread: str | None = None  # the detail of a main entry, as the MSSanté plugin's inbox count

    @hookimpl
    def register_tray_items(self, register: Callable[..., None]) -> None:
        async def insert() -> None:
            self.inserted.set()

        async def inbox() -> None:
            return None

        register("Insérer une carte Vitale de test", insert, section="sandbox")
        register("Messages de test reçus", inbox, detail=lambda: self.unread)


def xdo(display: str, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env=x_env(display), capture_output=True, text=True, check=False,
                          timeout=10).stdout.strip()


def parent_of(display: str, window: str) -> str:
    # WM_NAME is Latin-1 (X STRING), not UTF-8.
    out = subprocess.run(["xwininfo", "-children", "-id", window], env=x_env(display), capture_output=True,
                         encoding="latin-1", check=True, timeout=10).stdout
    return next(line for line in out.splitlines() if "Parent window id" in line)


def menu_labels(menu: Any) -> list[str]:
    return [str(item.text) for item in menu.items]


def submenu(menu: Any, prefix: str) -> Any:
    return next(item for item in menu.items if str(item.text).startswith(prefix)).submenu


@pytest.fixture
async def tray_agent(agent_config: Config, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Agent, str, Any]]:
    require_binary("Xvfb", "trayer", "xdotool", "xwininfo", "xdpyinfo")
    with xvfb() as display, trayer(display):
        # The session's DISPLAY points elsewhere: `[plugins.ui] display` must win for the tray as for the popup
        # (monkeypatch restores the variable the tray thread sets).
        monkeypatch.setenv("DISPLAY", ":9999")
        agent_config.disabled_plugins = ["ins", "cards", "scanner", "eprescription", "dmp"]  # no panel kind
        agent_config.sandbox = True
        agent_config.plugins["ui"] = {"popup": True, "tray": True, "display": display}
        agent = Agent(agent_config)
        cards = SandboxCards()
        agent.plugins.register(cards, "test_cards")
        await agent.start()
        try:
            ui = ui_of(agent)
            await wait_until(lambda: ui.tray is not None and ui.tray._icon is not None and ui.tray._icon.visible,
                             timeout=15, what="tray icon visible")
            yield agent, display, cards
        finally:
            await agent.stop()


async def wait_for_window(display: str, pattern: str) -> str:
    for _ in range(100):
        found = await asyncio.to_thread(xdo, display, "search", "--name", pattern)
        if found:
            return found.splitlines()[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no window named {pattern!r}")


async def until(probe: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


async def test_tray_docks_and_follows_the_agent_state(tray_agent: tuple[Agent, str, Any]) -> None:
    agent, display, cards = tray_agent
    ui = ui_of(agent)
    assert ui.tray is not None
    icon = ui.tray._icon
    # Docked: the icon window lives inside trayer's panel, not at the root.
    window = await wait_for_window(display, "^Vigie : rien en attente")
    root_id = subprocess.run(["xwininfo", "-root"], env=x_env(display), capture_output=True, text=True,
                             check=True).stdout.split("Window id: ")[1].split()[0]
    for _ in range(100):  # docked at start, or by the agent's next docking attempt
        if root_id not in await asyncio.to_thread(parent_of, display, window):
            break
        await asyncio.sleep(0.1)
    assert root_id not in parent_of(display, window)
    assert ui.tray.model is not None and ui.tray.model.state == "ready"
    labels = menu_labels(icon.menu)
    # The X backend shows no menu: its click runs "Menu Vigie", which opens the same menu in the popup.
    assert not ui.tray.has_menu
    # No capability registered a panel kind here (INS disabled): no qualification entry in the host's menu.
    assert labels[:3] == ["Menu Vigie", "Saisir un code scanné…", "Cartes et lecteurs"]
    assert labels[-2:] == ["Bac à sable", "Quitter Vigie"]
    assert menu_labels(submenu(icon.menu, "Bac à sable")) == ["Insérer une carte Vitale de test"]

    # A pairing request: attention state, tooltip and menu follow; the menu entry answers it.
    agent.pairing.auto_accept = False
    decision = asyncio.ensure_future(agent.pairing.request("LGC de test", "http://lgc.test"))
    await wait_for_window(display, "1 demande d'appairage")
    await until(lambda: _async(ui.tray is not None and ui.tray.model is not None
                               and ui.tray.model.state == "attention"))
    pairing = submenu(icon.menu, "Demandes d'appairage (1)")
    assert menu_labels(pairing) == ["Autoriser « LGC de test »", "Refuser « LGC de test »"]
    await asyncio.to_thread(pairing.items[0], icon)  # what pystray does on a click, from its thread
    assert await asyncio.wait_for(decision, 10) is True
    await wait_for_window(display, "^Vigie : rien en attente$")

    # A sandbox entry a plugin registered runs on the agent's loop.
    await asyncio.to_thread(submenu(icon.menu, "Bac à sable").items[0], icon)
    await asyncio.wait_for(cards.inserted.wait(), 10)


async def test_tray_click_opens_the_popup_and_quit_stops(tray_agent: tuple[Agent, str, Any]) -> None:
    agent, display, _cards = tray_agent
    ui = ui_of(agent)
    assert ui.popup is not None
    await wait_until(ui.popup.ready.is_set, timeout=15, what="popup ready")
    window = await wait_for_window(display, "^Vigie : ")
    # Clicked once docked (a click on the icon window before trayer embeds it goes nowhere).
    await wait_until(lambda: ui.tray is not None and ui.tray.docked is True, timeout=15, what="icon docked")
    size = await wait_until_size(display, window)  # and redrawn at the tray's size (its menu set again)
    await wait_until(lambda: ui.tray is not None and ui.tray._icon.icon.size == (size, size), timeout=10,
                     what="icon redrawn")
    await asyncio.sleep(0.3)
    # The X backend has no menu: a click on the icon opens the tray's menu in the popup.
    geometry = await asyncio.to_thread(xdo, display, "getwindowgeometry", window)
    assert "Position" in geometry
    await asyncio.to_thread(xdo, display, "mousemove", "--window", window, "5", "5", "click", "1")
    layout = await until(lambda: _menu_layout(agent))
    assert layout["title"] == "Vigie — menu"
    assert layout["overflow"] == [], layout["overflow"]  # whole sentences wrap in the popup's menu
    assert not english_words("\n".join(layout["all_text"])), layout["all_text"]
    assert {"menu:Saisir un code scanné…", "menu:Ouvrir le dossier des journaux",
            "menu:Exporter un diagnostic (anonymisé)", "menu:Insérer une carte Vitale de test",
            "menu:Quitter Vigie"} <= set(layout["widgets"])
    x, y, w, h = layout["widgets"]["menu:Quitter Vigie"]
    await asyncio.to_thread(xdo, display, "mousemove", str(x + w // 2), str(y + h // 2), "click", "1")
    assert agent._stop_requested is not None
    await asyncio.wait_for(agent._stop_requested.wait(), 10)


async def _menu_layout(agent: Agent) -> dict[str, Any] | None:
    layout = await ui_of(agent).describe()
    return layout if layout["visible"] and "menu:Quitter Vigie" in layout["widgets"] else None


async def _async(value: Any) -> Any:
    return value


async def _visible(agent: Agent) -> bool:
    return bool((await ui_of(agent).describe())["visible"])




async def test_tray_without_a_tray_host_says_it_once_then_docks_quietly(
        agent_config: Config, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> None:
    """No tray host at start (a bare X session): one French warning, no pystray traceback every 2 s, no
    "docked" claim; when a tray host comes up the icon docks, drawn at the size the host gives it."""
    import logging

    from agent.tray import DOCK_RETRY, NO_TRAY_FR

    require_binary("Xvfb", "trayer", "xwininfo", "xdpyinfo")
    caplog.set_level(logging.INFO)
    with xvfb() as display:
        agent_config.disabled_plugins = ["ins", "cards", "scanner", "eprescription", "dmp"]  # no panel kind
        agent_config.plugins["ui"] = {"popup": False, "tray": True, "display": display}
        agent = Agent(agent_config)
        await agent.start()
        try:
            ui = ui_of(agent)
            await wait_until(lambda: ui.tray is not None and ui.tray.docked is False, timeout=15,
                             what="no tray host noticed")
            await asyncio.sleep(DOCK_RETRY * 2.5)  # a few quiet retries
            messages = [r.getMessage() for r in caplog.records]
            assert messages.count(NO_TRAY_FR) == 1
            assert not [m for m in messages if "Failed to dock" in m]
            assert not [r for r in caplog.records if r.exc_info]  # no traceback at all
            assert "tray icon docked" not in messages
            with trayer(display):
                await wait_until(lambda: ui.tray is not None and ui.tray.docked is True, timeout=15,
                                 what="docked once the tray host is there")
                window = await wait_for_window(display, "^Vigie : rien en attente")  # the tooltip (WM_NAME)
                size = await wait_until_size(display, window)
                await wait_until(lambda: ui.tray is not None and ui.tray._icon.icon.size == (size, size),
                                 timeout=10, what="icon redrawn at the tray's size")
                assert ui.tray.icon_size == size
                await asyncio.sleep(0.5)  # let the X backend draw it
                await asyncio.to_thread(subprocess.run, ["import", "-display", display, "-window", "root",
                                                         str(artifact(request, "tray.png"))], check=True, timeout=20)
            assert [r.getMessage() for r in caplog.records].count("tray icon docked") == 1
        finally:
            await agent.stop()


async def wait_until_size(display: str, window: str) -> int:
    for _ in range(50):
        out = await asyncio.to_thread(lambda: subprocess.run(
            ["xwininfo", "-id", window], env=x_env(display), capture_output=True, encoding="latin-1",
            check=False, timeout=10).stdout)
        width = int(out.split("Width: ")[1].split()[0]) if "Width: " in out else 0
        height = int(out.split("Height: ")[1].split()[0]) if "Height: " in out else 0
        if min(width, height) >= 8:
            return min(width, height)
        await asyncio.sleep(0.1)
    raise AssertionError("docked window has no size")


async def test_tray_entry_detail_follows_its_plugin(tray_agent: tuple[Agent, str, Any]) -> None:
    """A tray entry with a detail (the MSSanté inbox's "N non lus") is redrawn with it at each refresh."""
    agent, _display, cards = tray_agent
    ui = ui_of(agent)
    assert ui.tray is not None
    icon = ui.tray._icon
    assert "Messages de test reçus" in menu_labels(icon.menu)
    cards.unread = "2 non lus"
    await agent.emitter.emit("panel_changed", kind="mss.inbox", key="7")  # what the MSSanté plugin emits
    await until(lambda: _async("Messages de test reçus (2 non lus)" in menu_labels(ui.tray._icon.menu)))
    cards.unread = None
    await agent.emitter.emit("panel_changed", kind="mss.inbox", key="7")
    await until(lambda: _async("Messages de test reçus" in menu_labels(ui.tray._icon.menu)))
