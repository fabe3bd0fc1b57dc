"""The tray icon: its state, tooltip and menu are a pure function of a snapshot of the agent
(`build_tray`), rendered by pystray in its own thread (`TrayController`).

pystray is imported lazily, in the tray thread: importing it needs a display on Linux (hardware.md
§B7/§B10). Its callbacks run on the tray thread; they only hand the action to the agent's loop
(`run_coroutine_threadsafe`) and never wait for it. Backends differ: Linux's plain X backend (`xorg`)
has no menu, only a click action, which then opens the popup's queue (or its scan field).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.ui import UiPlugin

log = logging.getLogger(__name__)

READY, WORKING, ATTENTION, DEGRADED = "ready", "working", "attention", "degraded"
ICON_COLOURS = {READY: "#2e8b57", WORKING: "#1f5fa8", ATTENTION: "#e08a00", DEGRADED: "#c0392b"}
REFRESH_DELAY = 0.2  # coalesce bursts of events into one redraw
STOP_JOIN = 0.3  # seconds the tray thread gets to end at stop (the agent's whole stop fits in 2 s)
DOCK_RETRY = 2.0  # seconds between docking attempts while no tray host is there
APPLY_TIMEOUT = 3.0  # seconds a tray update may take on the tray thread
TOOLTIP_MAX = 127  # Windows' limit for a notification-area tooltip
# Tooltip text stays within Latin-1: the X backend writes it as the icon window's WM_NAME (STRING type).


@dataclass(frozen=True)
class TraySnapshot:
    """What the tray shows, taken from the agent on its loop (plain data)."""

    to_qualify: int = 0
    outbox: Mapping[str, int] = field(default_factory=dict)
    plugins: list[Mapping[str, Any]] = field(default_factory=list)
    readers: list[Any] = field(default_factory=list)
    services: Mapping[str, Any] = field(default_factory=dict)
    pairing: list[tuple[int, str]] = field(default_factory=list)  # (request id, client name)
    sandbox: bool = False
    items: list[tuple[str, str]] = field(default_factory=list)  # plugin tray items: (label, section)


@dataclass(frozen=True)
class MenuEntry:
    label: str
    action: tuple[Any, ...] | None = None  # None: informative (greyed out)
    children: tuple[MenuEntry, ...] = ()
    enabled: bool = True
    default: bool = False


@dataclass(frozen=True)
class TrayModel:
    state: str
    tooltip: str
    menu: tuple[MenuEntry, ...]


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n <= 1 else many}"  # French: 0 and 1 take the singular


def icon_state(s: TraySnapshot) -> str:
    """Degraded (a module or service is down) wins over attention (the user has something to do), which
    wins over working (background jobs running)."""
    if any(p.get("status") == "degraded" for p in s.plugins):
        return DEGRADED
    if s.to_qualify or s.pairing or s.outbox.get("dead", 0):
        return ATTENTION
    if s.outbox.get("running", 0) or s.outbox.get("pending", 0):
        return WORKING
    return READY


def tooltip(s: TraySnapshot) -> str:
    parts = [f"Vigie - {_plural(s.to_qualify, 'identité', 'identités')} à qualifier",
             f"envois : {s.outbox.get('pending', 0) + s.outbox.get('running', 0)} en attente, "
             f"{s.outbox.get('dead', 0)} en échec"]
    degraded = [str(p.get("name")) for p in s.plugins if p.get("status") == "degraded"]
    if s.pairing:
        parts.append(_plural(len(s.pairing), "demande d'appairage", "demandes d'appairage"))
    if degraded:
        parts.append("dégradé : " + ", ".join(degraded))
    text = " · ".join(parts)
    return text if len(text) <= TOOLTIP_MAX else text[: TOOLTIP_MAX - 3] + "..."


def _status_entries(s: TraySnapshot) -> tuple[MenuEntry, ...]:
    entries = [MenuEntry(f"Lecteur : {r.get('name', r) if isinstance(r, Mapping) else r}", None)
               for r in s.readers] or [MenuEntry("Aucun lecteur de cartes", None)]
    for name, status in sorted(s.services.items()):
        state = status.get("state", "?") if isinstance(status, Mapping) else status
        entries.append(MenuEntry(f"Service {name} : {state}", None))
    for p in s.plugins:
        entries.append(MenuEntry(f"Module {p.get('name')} : {p.get('status')}", None))
    return tuple(entries)


def build_tray(s: TraySnapshot) -> TrayModel:
    menu: list[MenuEntry] = [
        MenuEntry(f"Qualifications en attente ({s.to_qualify})", ("open", "queue"), enabled=s.to_qualify > 0,
                  default=s.to_qualify > 0),
        MenuEntry("Scanner un Datamatrix INS…", ("open", "scan"), default=s.to_qualify == 0),
        MenuEntry("Lecteurs et services", None, children=_status_entries(s)),
    ]
    if s.pairing:
        menu.append(MenuEntry(f"Demandes d'appairage ({len(s.pairing)})", None, children=tuple(
            entry for rid, name in s.pairing for entry in (
                MenuEntry(f"Autoriser « {name} »", ("pairing", rid, True)),
                MenuEntry(f"Refuser « {name} »", ("pairing", rid, False))))))
    menu += [MenuEntry(label, ("item", index)) for index, (label, section) in enumerate(s.items)
             if section == "main"]
    menu += [MenuEntry("Ouvrir le dossier des journaux", ("logs",)),
             MenuEntry("Exporter un diagnostic (anonymisé)", ("diagnostic",))]
    if s.sandbox:
        sandbox = tuple(MenuEntry(label, ("item", index)) for index, (label, section) in enumerate(s.items)
                        if section == "sandbox")
        menu.append(MenuEntry("Bac à sable", None, children=sandbox or (MenuEntry("(aucune action)", None),)))
    menu.append(MenuEntry("Quitter Vigie", ("quit",)))
    return TrayModel(icon_state(s), tooltip(s), tuple(menu))


async def snapshot(agent: Agent, ui: UiPlugin) -> TraySnapshot:
    info = await agent.info()
    return TraySnapshot(
        to_qualify=len(ui.offered), outbox=info["outbox"], plugins=info["plugins"], readers=info["readers"],
        services=info["services"], pairing=[(r.id, r.client_name) for r in agent.pairing.pending()],
        sandbox=agent.config.sandbox, items=[(i.label, i.section) for i in agent.tray_items])


def icon_image(state: str, size: int = 64) -> Any:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((2, 2, size - 3, size - 3), fill=ICON_COLOURS[state], outline="#ffffff", width=3)
    draw.rectangle((size * 0.44, size * 0.22, size * 0.56, size * 0.78), fill="#ffffff")  # a "V"-ish mark
    return image


Dispatch = Callable[[tuple[Any, ...]], None]


def pystray_menu(pystray: Any, entries: tuple[MenuEntry, ...], dispatch: Dispatch, *,
                 has_menu: bool = True) -> tuple[Any, ...]:
    """pystray items for `entries`. On a backend without menus (Linux's plain X one) the click runs the
    default item: there it opens the same menu in the popup (`("menu",)`)."""
    def item(e: MenuEntry) -> Any:
        if e.children:
            return pystray.MenuItem(e.label, pystray.Menu(*pystray_menu(pystray, e.children, dispatch)))
        action = e.action
        return pystray.MenuItem(e.label, (lambda _icon, _item: dispatch(action)) if action else None,
                                enabled=e.enabled and action is not None, default=e.default and has_menu)
    items = tuple(item(e) for e in entries)
    if not has_menu:
        items = (pystray.MenuItem("Menu Vigie", lambda _icon, _item: dispatch(("menu",)), default=True),) + items
    return items


def menu_payload(entries: tuple[MenuEntry, ...]) -> list[dict[str, Any]]:
    """The menu as plain data, for the popup to show it where the tray backend has no menu."""
    return [{"label": e.label, "action": list(e.action) if e.action else None, "enabled": e.enabled,
             "children": menu_payload(e.children)} for e in entries]


def menu_actions(entries: tuple[MenuEntry, ...]) -> set[tuple[Any, ...]]:
    """Every action the menu offers right now (what the popup may ask for)."""
    out: set[tuple[Any, ...]] = set()
    for e in entries:
        if e.action and e.enabled:
            out.add(e.action)
        out |= menu_actions(e.children)
    return out


class TrayController:
    """Owns the tray thread. `schedule_refresh()` from the loop; actions go back to the loop."""

    def __init__(self, agent: Agent, ui: UiPlugin, env: Mapping[str, str]) -> None:
        from agent.tray_actions import TrayActions

        self.agent, self.ui, self.env = agent, ui, env
        self.actions = TrayActions(agent, ui)
        self.model: TrayModel | None = None
        self._icon: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._ready = threading.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self._apply_lock = asyncio.Lock()
        self.has_menu = True

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.model = build_tray(await snapshot(self.agent, self.ui))
        self._thread = threading.Thread(target=self._run, name="vigie-tray", daemon=True)
        self._thread.start()
        self._watchdog = asyncio.create_task(self._keep_docked())

    def _run(self) -> None:
        import os

        # pystray's X backend reads DISPLAY from the process environment: `[plugins.ui] display` must win
        # over the session's one there too (setdefault left the tray on another display than the popup).
        if self.env.get("DISPLAY"):
            os.environ["DISPLAY"] = self.env["DISPLAY"]
        try:
            import pystray

            assert self.model is not None
            self._pystray = pystray
            self.has_menu = bool(pystray.Icon.HAS_MENU)
            self._icon = _quiet_icon_class(pystray)("vigie", icon_image(self.model.state), self.model.tooltip,
                                      menu=pystray.Menu(*pystray_menu(pystray, self.model.menu, self.dispatch,
                                                                      has_menu=self.has_menu)))
            _enable_clicks(self._icon)
            self._ready.set()
            self._icon.run()
        except Exception as exc:  # no tray host, no display: the agent goes on without a tray
            log.warning("tray unavailable: %s", type(exc).__name__)
        finally:
            self._ready.set()

    def dispatch(self, action: tuple[Any, ...]) -> None:
        """Tray thread → agent loop; returns at once."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self.actions.run(action), self._loop)

    def schedule_refresh(self) -> None:
        if self._loop is None or self._pending is not None:
            return
        self._pending = self._loop.call_later(REFRESH_DELAY, self._refresh)

    def _refresh(self) -> None:
        self._pending = None
        task = asyncio.ensure_future(self._apply())
        task.add_done_callback(_log_failure)

    async def _apply(self) -> None:
        # One at a time, the snapshot taken inside: an older, slower update never lands after a newer one.
        async with self._apply_lock:
            await self._apply_locked()

    async def _apply_locked(self) -> None:
        model = build_tray(await snapshot(self.agent, self.ui))
        if model == self.model or self._icon is None:
            self.model = model
            return
        self.model = model
        icon, pystray = self._icon, self._pystray

        def apply() -> None:
            # pystray's setters wait for the tray thread (xorg backend): never on the agent's loop.
            icon.icon = icon_image(model.state)
            icon.title = model.tooltip
            icon.menu = pystray.Menu(*pystray_menu(pystray, model.menu, self.dispatch, has_menu=self.has_menu))
            icon.update_menu()

        try:
            # A tray thread that does not answer (a stuck backend) must not freeze later updates.
            await asyncio.wait_for(asyncio.to_thread(apply), APPLY_TIMEOUT)
        except TimeoutError:
            log.warning("tray update timed out")

    async def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
        icon = self._icon
        if icon is None:
            return

        def stop_and_join() -> None:
            # pystray's X backend waits for its own thread to run stop(), and stop may hang with some
            # backends (pystray#94): off the loop, and never longer than the join timeout.
            if self._thread is None or not self._thread.is_alive():
                return  # pystray would wait for a thread that is gone
            try:
                icon.stop()
            except Exception as exc:
                log.debug("tray stop: %s", type(exc).__name__)
            if self._thread is not None:
                self._thread.join(STOP_JOIN)

        await asyncio.wait([asyncio.ensure_future(asyncio.to_thread(stop_and_join))], timeout=STOP_JOIN + 0.1)

    async def _keep_docked(self) -> None:
        """The X backend docks once, at start: if the tray host (panel) came up later or restarted, dock again."""
        while True:
            await asyncio.sleep(DOCK_RETRY)
            icon = self._icon
            if icon is None or not _is_xorg(icon) or icon._systray_manager is not None:
                continue
            if self._thread is None or not self._thread.is_alive():
                return
            try:
                await asyncio.to_thread(icon._show)  # runs on the tray thread (pystray dispatches it)
                log.info("tray icon docked")
            except Exception as exc:  # still no tray host
                log.debug("tray icon not docked yet: %s", type(exc).__name__)


def _quiet_icon_class(pystray: Any) -> Any:
    """The backend's Icon whose finaliser does not raise: pystray's closes its X connection in `__del__`,
    which raises when the display has already gone (the X server ended before the object was collected)."""

    class Icon(pystray.Icon):
        def __del__(self) -> None:
            with contextlib.suppress(Exception):
                super().__del__()

    return Icon


def _enable_clicks(icon: Any) -> None:
    """pystray 0.19.5's X backend handles ButtonPress but never selects it on its window, so a click on the
    docked icon never arrives: select it (before `run()`, on the tray thread)."""
    window = getattr(icon, "_window", None)
    if window is None or not _is_xorg(icon):
        return
    from Xlib import X

    window.change_attributes(event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask)
    icon._display.flush()


def _is_xorg(icon: Any) -> bool:
    return any(cls.__module__ == "pystray._xorg" for cls in type(icon).__mro__)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("tray refresh failed: %s", type(task.exception()).__name__)
