"""The tray icon: its state, tooltip and menu are a pure function of a snapshot (`build_tray`), rendered by
pystray in its own thread (`TrayController`). The tray knows no capability: the snapshot carries the queue
counts and badges the plugins contributed (`register_ui_panels`, `register_tray_badges`) and the plain
facts of `agent.info`; `TrayController` is given a snapshot callable and an action callback, nothing else.

The menu speaks to the practitioner (which card is in which reader, whose CPS, what waits and why, what to
do); module and service names stay in the diagnostic export. pystray is imported lazily, in the tray
thread: importing it needs a display on Linux (hardware.md §B7/§B10). Its callbacks run on the tray
thread; they only hand the action to the agent's loop (`run_coroutine_threadsafe`) and never wait for it.
Backends differ: Linux's plain X backend (`xorg`) has no menu, only a click action, which then opens the
same menu in the popup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.panels import Badge

log = logging.getLogger(__name__)

READY, WORKING, ATTENTION, DEGRADED = "ready", "working", "attention", "degraded"
ICON_COLOURS = {READY: "#2e8b57", WORKING: "#1f5fa8", ATTENTION: "#e08a00", DEGRADED: "#c0392b"}
REFRESH_DELAY = 0.2  # coalesce bursts of events into one redraw
STOP_JOIN = 0.3  # seconds the tray thread gets to end at stop (the agent's whole stop fits in 2 s)
DOCK_RETRY = 2.0  # seconds between (quiet) docking attempts while no tray host is there
APPLY_TIMEOUT = 3.0  # seconds a tray update may take on the tray thread
TOOLTIP_MAX = 127  # Windows' limit for a notification-area tooltip
DEFAULT_ICON_SIZE = 64  # until the tray host tells the docked window's size
NO_TRAY_FR = ("Pas de zone de notification sur ce bureau : l'icône Vigie apparaîtra d'elle-même dès qu'il y en "
              "aura une (Vigie fonctionne en attendant ; la fenêtre Vigie s'ouvre quand il le faut).")
# Tooltip text stays within Latin-1: the X backend writes it as the icon window's WM_NAME (STRING type).
CARD_LABELS = {"vitale": "carte Vitale", "cps": "carte CPS", "cpe": "carte CPE", "unknown": "carte non reconnue"}
USER_LABELS = {"cps": "carte CPS", "cpe_nominative": "carte CPE nominative", "cpe_anonymous": "carte CPE anonyme"}


@dataclass(frozen=True)
class TraySnapshot:
    """What the tray shows (plain data, taken on the agent's loop)."""

    queues: list[tuple[str, str, int]] = field(default_factory=list)  # (panel kind, label, count)
    badges: list[Badge] = field(default_factory=list)
    outbox: Mapping[str, int] = field(default_factory=dict)
    plugins: list[Mapping[str, Any]] = field(default_factory=list)
    readers: list[Any] = field(default_factory=list)
    services: Mapping[str, Any] = field(default_factory=dict)
    acting_user: Mapping[str, Any] = field(default_factory=dict)
    pairing: list[tuple[int, str]] = field(default_factory=list)  # (request id, client name)
    sandbox: bool = False
    items: list[tuple[str, str]] = field(default_factory=list)  # plugin tray items: (label, section)
    notice: str | None = None  # the last notice (a card inserted...), repeated in the tooltip

    @property
    def waiting(self) -> int:
        return sum(n for _k, _l, n in self.queues)


def snapshot_from(info: Mapping[str, Any], **rest: Any) -> TraySnapshot:
    """A snapshot from `agent.info` and what the UI plugin adds (queues, badges, pairing, items, notice)."""
    return TraySnapshot(outbox=info.get("outbox") or {}, plugins=info.get("plugins") or [],
                        readers=info.get("readers") or [], services=info.get("services") or {},
                        acting_user=info.get("acting_user") or {}, **rest)


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
    store = s.services.get("store")
    if any(p.get("status") == "degraded" for p in s.plugins) or (
            isinstance(store, Mapping) and store.get("state") not in (None, "ok")):  # the practice database away
        return DEGRADED
    if s.waiting or s.pairing or s.outbox.get("dead", 0) or any(b.attention for b in s.badges):
        return ATTENTION
    if s.outbox.get("running", 0) or s.outbox.get("pending", 0):
        return WORKING
    return READY


def _latin1(text: str) -> str:
    return text.replace("…", "...").replace("’", "'").encode("latin-1", "replace").decode("latin-1")


def tooltip(s: TraySnapshot) -> str:
    parts = [f"{label} : {n}" for _k, label, n in s.queues if n] or ["Vigie : rien en attente"]
    parts[0] = parts[0] if parts[0].startswith("Vigie") else f"Vigie - {parts[0]}"
    parts += [f"{b.label} : {b.count}" for b in s.badges]
    sending = s.outbox.get("pending", 0) + s.outbox.get("running", 0)
    if sending or s.outbox.get("dead", 0):
        parts.append(f"envois : {sending} en cours, {s.outbox.get('dead', 0)} en échec")
    if s.pairing:
        parts.append(_plural(len(s.pairing), "demande d'appairage", "demandes d'appairage"))
    if any(p.get("status") == "degraded" for p in s.plugins):
        parts.append("un problème à régler (menu)")
    text = _latin1(" · ".join(parts))
    return text if len(text) <= TOOLTIP_MAX else text[: TOOLTIP_MAX - 3] + "..."


def reader_label(name: str) -> str:
    """`Virtual PCD 00 00` → `Virtual PCD`: PC/SC's slot and index numbers mean nothing to the user."""
    return re.sub(r"(\s+\d{2})+$", "", name).strip() or name


def _cards(s: TraySnapshot) -> tuple[MenuEntry, ...]:
    """Which card is in which reader, and who acts."""
    user = s.acting_user
    entries: list[MenuEntry] = []
    pcsc = s.services.get("pcsc") if isinstance(s.services.get("pcsc"), Mapping) else None
    if pcsc is not None and pcsc.get("state") not in (None, "ok"):
        entries.append(MenuEntry("Lecture des cartes impossible pour l'instant : Vigie réessaie ; si cela dure, "
                                 "redémarrez l'ordinateur", None))
    for index, r in enumerate(s.readers, start=1):
        name = reader_label(str(r.get("name", r) if isinstance(r, Mapping) else r))
        card = r.get("card") if isinstance(r, Mapping) else None
        what = CARD_LABELS.get(str(card), f"carte {card}") if card else "pas de carte"
        if card in ("cps", "cpe") and user.get("reader") == (r.get("name") if isinstance(r, Mapping) else r) \
                and user.get("name"):
            what += f" de {user['name']}"
        entries.append(MenuEntry(f"Lecteur {index} ({name}) : {what}", None))
    if not s.readers:
        entries.append(MenuEntry("Aucun lecteur de cartes branché : branchez-le pour lire Vitale et CPS", None))
    scanner = s.services.get("scanner")
    if isinstance(scanner, Mapping) and scanner.get("state"):  # already said in French by the scanner plugin
        entries.append(MenuEntry(f"Douchettes : {scanner['state']}", None))
    source = user.get("source")
    if source == "card":
        kind = USER_LABELS.get(str(user.get("kind")), "carte")
        entries.append(MenuEntry(f"Vous agissez avec la {kind} de {user.get('name') or 'titulaire inconnu'}", None))
    elif source == "configured" and user.get("name"):
        entries.append(MenuEntry(f"Utilisateur configuré : {user['name']} (aucune carte CPS insérée)", None))
    else:
        entries.append(MenuEntry("Aucune carte CPS : insérez la vôtre pour que Vigie agisse en votre nom", None))
    return tuple(entries)


def _waiting(s: TraySnapshot) -> tuple[MenuEntry, ...]:
    """What waits, why, and what to do."""
    entries = [MenuEntry(f"{b.label} : {b.count}" + (f" ({b.hint})" if b.hint else ""), None) for b in s.badges]
    store = s.services.get("store")
    if isinstance(store, Mapping) and (store.get("state") not in (None, "ok") or store.get("spooled")):
        # The practice database away, and how much work waits on this workstation (agent/spool.py).
        entries.insert(0, MenuEntry(str(store.get("label")), None))
    sending = s.outbox.get("pending", 0) + s.outbox.get("running", 0)
    if sending:
        entries.append(MenuEntry(f"{_plural(sending, 'envoi', 'envois')} en cours en arrière-plan (rien à faire)",
                                 None))
    if s.outbox.get("dead", 0):
        entries.append(MenuEntry(f"{_plural(s.outbox['dead'], 'envoi', 'envois')} en échec : exportez un "
                                 "diagnostic pour le support", None))
    for p in s.plugins:
        if p.get("status") == "degraded":
            reason = p.get("reason") or "module indisponible ; Vigie réessaie"
            entries.append(MenuEntry(f"À régler : {reason}", None))
    return tuple(entries)


def build_tray(s: TraySnapshot) -> TrayModel:
    menu: list[MenuEntry] = [
        MenuEntry(f"{label} ({n})", ("open", "queue"), enabled=n > 0, default=n > 0 and i == 0)
        for i, (_kind, label, n) in enumerate(s.queues)
    ]
    menu.append(MenuEntry("Saisir un code scanné…", ("open", "scan"), default=s.waiting == 0))
    if s.notice:  # the last notice (a card inserted...), for whoever missed it in the popup
        menu.append(MenuEntry(f"Dernier message : {s.notice}", None))
    menu.append(MenuEntry("Cartes et lecteurs", None, children=_cards(s)))
    waiting = _waiting(s)
    if waiting:
        menu.append(MenuEntry("En attente et à régler", None, children=waiting))
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


def icon_image(state: str, size: int = DEFAULT_ICON_SIZE) -> Any:
    """A disc in the state's colour with a white "V", drawn at `size` (the docked window's size: a 16–24 px
    tray gets strokes made for it, not a 64 px picture scaled down into mush)."""
    from PIL import Image, ImageDraw

    size = max(8, int(size))
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    border = max(1, size // 20)
    draw.ellipse((0, 0, size - 1, size - 1), fill=ICON_COLOURS[state], outline="#ffffff", width=border)
    stroke = max(2, round(size * 0.13))
    v = [(size * 0.28, size * 0.28), (size * 0.5, size * 0.74), (size * 0.72, size * 0.28)]
    draw.line(v, fill="#ffffff", width=stroke, joint="curve")
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


Snapshot = Callable[[], Awaitable[TraySnapshot]]
Action = Callable[[tuple[Any, ...]], Coroutine[Any, Any, None]]


class TrayController:
    """Owns the tray thread. `schedule_refresh()` from the loop; actions go back to the loop through
    `on_action`. It sees the agent only through `snapshot()`."""

    def __init__(self, snapshot: Snapshot, on_action: Action, env: Mapping[str, str]) -> None:
        self.snapshot, self.on_action, self.env = snapshot, on_action, env
        self.model: TrayModel | None = None
        self._icon: Any = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._ready = threading.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self._apply_lock = asyncio.Lock()
        self.has_menu = True
        self.docked: bool | None = None  # None: not known yet (no X backend, or not tried)
        self.icon_size = DEFAULT_ICON_SIZE
        self._said_no_tray = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.model = build_tray(await self.snapshot())
        _mute_dock_errors()
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
            self._icon = _quiet_icon_class(pystray)("vigie", icon_image(self.model.state, self.icon_size),
                                                    self.model.tooltip, menu=pystray.Menu(*pystray_menu(
                                                        pystray, self.model.menu, self.dispatch,
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
            asyncio.run_coroutine_threadsafe(self.on_action(action), self._loop)

    def schedule_refresh(self) -> None:
        if self._loop is None or self._pending is not None:
            return
        self._pending = self._loop.call_later(REFRESH_DELAY, self._refresh)

    def _refresh(self) -> None:
        self._pending = None
        task = asyncio.ensure_future(self._apply())
        task.add_done_callback(_log_failure)

    async def _apply(self, force: bool = False) -> None:
        # One at a time, the snapshot taken inside: an older, slower update never lands after a newer one.
        async with self._apply_lock:
            await self._apply_locked(force)

    async def _apply_locked(self, force: bool = False) -> None:
        model = build_tray(await self.snapshot())
        if (model == self.model and not force) or self._icon is None:
            self.model = model
            return
        self.model = model
        icon, pystray, size = self._icon, self._pystray, self.icon_size

        def apply() -> None:
            # pystray's setters wait for the tray thread (xorg backend): never on the agent's loop.
            icon.icon = icon_image(model.state, size)
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
        """The X backend docks once, at start: if the tray host (panel) came up later or restarted, dock again.
        Whether a host is there is asked on a connection of our own (no side effect, no pystray log); the
        absence is said once, the retries are quiet, and "docked" is logged only once it is true."""
        while True:
            # First wait: pystray docks by itself in run(); asking at the same time races its X connection.
            await asyncio.sleep(DOCK_RETRY)
            icon = self._icon
            if icon is not None and _is_xorg(icon):
                if self._thread is None or not self._thread.is_alive():
                    return
                if icon._systray_manager is not None and not await asyncio.to_thread(
                        embedded, self.env.get("DISPLAY"), icon._window.id):
                    # pystray asked the tray host but the host never embedded the window (it was not ready,
                    # or restarted): forget that request and ask again.
                    icon._systray_manager = None
                    self.docked = None
                if icon._systray_manager is None:
                    await self._try_dock(icon)
                elif self.docked is not True:
                    await self._docked_now(icon)
                else:
                    await self._follow_size(icon)  # the host may resize the icon after docking

    async def _try_dock(self, icon: Any) -> None:
        host = await asyncio.to_thread(tray_host_present, self.env.get("DISPLAY"))
        if not host:
            if not self._said_no_tray:
                log.warning(NO_TRAY_FR)
                self._said_no_tray = True
            self.docked = False
            return
        try:
            await asyncio.to_thread(icon._show)  # pystray's own dock request
        except Exception as exc:  # the host went away meanwhile: next round
            log.debug("tray icon not docked yet: %s", type(exc).__name__)
        # Docked once the host has embedded the window (checked next round otherwise).
        if icon._systray_manager is not None and await asyncio.to_thread(
                embedded, self.env.get("DISPLAY"), icon._window.id):
            await self._docked_now(icon)

    async def _docked_now(self, icon: Any) -> None:
        self.docked = True
        self._said_no_tray = False
        log.info("tray icon docked")
        await self._follow_size(icon)

    async def _follow_size(self, icon: Any) -> None:
        size = await asyncio.to_thread(docked_size, self.env.get("DISPLAY"), icon._window.id)
        if size and size != self.icon_size:
            self.icon_size = size
            await self._apply(force=True)  # redraw at the tray's size


def tray_host_present(display: str | None) -> bool:
    """Whether an X tray host owns `_NET_SYSTEM_TRAY_S<screen>` (what docking needs)."""
    from Xlib import display as xdisplay

    try:
        d = xdisplay.Display(display)
    except Exception:
        return False
    try:
        atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
        return bool(d.get_selection_owner(atom))
    finally:
        d.close()


def embedded(display: str | None, window_id: int) -> bool:
    """Whether the icon window has been reparented by a tray host (XEmbed): its parent is not the root."""
    from Xlib import display as xdisplay

    try:
        d = xdisplay.Display(display)
    except Exception:
        return False
    try:
        tree = d.create_resource_object("window", window_id).query_tree()
        return bool(tree.parent and tree.parent.id != tree.root.id)
    except Exception:
        return False
    finally:
        d.close()


def docked_size(display: str | None, window_id: int) -> int | None:
    """The docked icon window's size as the tray host set it (the smaller side), None when unknown."""
    from Xlib import display as xdisplay

    try:
        d = xdisplay.Display(display)
    except Exception:
        return None
    try:
        g = d.create_resource_object("window", window_id).get_geometry()
        side = min(int(g.width), int(g.height))
        return side if side >= 8 else None
    except Exception:
        return None
    finally:
        d.close()


class _DockErrors(logging.Filter):
    """pystray logs "Failed to dock icon" with a traceback at each attempt while no tray host is there;
    `TrayController` says it once, in French, and retries quietly."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Failed to dock icon"


def _mute_dock_errors() -> None:
    for name in ("pystray._base", "pystray._xorg"):  # pystray's Icon logs under its base module's name
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DockErrors) for f in logger.filters):
            logger.addFilter(_DockErrors())


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
