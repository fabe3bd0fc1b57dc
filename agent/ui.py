"""The `ui` built-in plugin: wires the native popup (agent/popup/) and the tray (agent/tray.py) to the agent.

`[plugins.ui]` settings: `popup = true|false`, `tray = true|false`, `display = ":0"` (X display for both;
default: the environment's). Without a display (a server, CI, `vigie run --headless`) the agent runs
headless: nothing starts and nothing is missing. The popup is a child process the agent never waits on;
the tray runs in its own thread and hands its actions to the agent's loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.errors import ConfigError
from agent.hookcall import call_registration
from agent.hookspecs import hookimpl
from agent.panels import DROP, RAISE, WAIT, PanelRegistry, decision

if TYPE_CHECKING:
    from agent.acting import ActingUser
    from agent.app import Agent
    from agent.context import PluginContext
    from agent.outbox import Job
    from agent.pairing import PairingRequest
    from agent.popup.host import PopupProcess
    from agent.prompts import PinRequest
    from agent.tray import TrayController, TraySnapshot
    from agent.tray_actions import TrayActions

log = logging.getLogger(__name__)

PROMPT_WATCH = 0.25  # seconds between checks that a prompt was answered elsewhere


@dataclass
class UiSettings:
    popup: bool = True
    tray: bool = True
    display: str | None = None


def parse_ui_settings(raw: Mapping[str, Any]) -> UiSettings:
    settings = UiSettings()
    for key, value in raw.items():
        dotted = f"plugins.ui.{key}"
        if key in ("popup", "tray"):
            if not isinstance(value, bool):
                raise ConfigError(dotted, "booléen attendu (true/false)", "boolean expected (true/false)")
            setattr(settings, key, value)
        elif key == "display":
            if not isinstance(value, str) or not value:
                raise ConfigError(dotted, "chaîne attendue (par exemple « :0 »)", "string expected (e.g. ':0')")
            settings.display = value
        else:
            raise ConfigError(dotted, "clé inconnue", "unknown key")
    return settings


def display_env(settings: UiSettings, environ: Mapping[str, str],
                platform: str = sys.platform) -> dict[str, str] | None:
    """The environment for UI components, or None when there is no display to show them on."""
    env = dict(environ)
    if settings.display:
        env["DISPLAY"] = settings.display
    if platform.startswith("linux") and not env.get("DISPLAY"):
        return None  # X11 only (tkinter and pystray's xorg backend); Wayland sessions provide Xwayland
    return env


class UiPlugin:
    """Registered as `ui`. Keeps the panels offered to the user (tray count, popup queue); what a panel is,
    how it looks and when it comes up belong to the capability that registered it (`register_ui_panels`)."""

    def __init__(self) -> None:
        self.agent: Agent | None = None
        self.popup: PopupProcess | None = None
        self.tray: TrayController | None = None
        self.panels = PanelRegistry()
        self.prompts: dict[tuple[str, int], PairingRequest | PinRequest] = {}
        # When the popup window was mapped, for tests and benchmarks; bounded, the oldest go first.
        self.shown: asyncio.Queue[tuple[str | None, float]] = asyncio.Queue(maxsize=64)
        self._layout: asyncio.Future[dict[str, Any]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.tray_actions: TrayActions | None = None
        self.last_notice: str | None = None  # the tray's tooltip repeats it (no popup on screen, or missed)

    @property
    def offered(self) -> dict[str, Any]:
        """Panel key -> what is offered (tests, benchmarks; the tray counts these per kind)."""
        return self.panels.offered

    # -- lifecycle -----------------------------------------------------------------------------------
    @hookimpl
    async def startup(self, context: PluginContext, agent: Agent) -> None:
        # The host's own shell: the popup and the tray drive the agent's RPC registry, pairing and info.
        self.agent = agent
        settings = parse_ui_settings(context.settings)
        self.panels = PanelRegistry()
        call_registration(agent.plugins, "register_ui_panels", self.panels.panel_register_for)
        call_registration(agent.plugins, "register_tray_badges", self.panels.badge_register_for)
        env = display_env(settings, os.environ)
        if env is None or not (settings.popup or settings.tray):
            log.info("no display or UI disabled: running headless")
            return
        if settings.popup:
            from agent.popup.host import PopupProcess

            self.popup = PopupProcess(agent.rpc, env=env, on_message=self._on_popup, on_started=self._restore,
                                      methods=self.panels.methods)
            await self.popup.start()
        if settings.tray:
            from agent.tray import TrayController
            from agent.tray_actions import TrayActions

            self.tray_actions = TrayActions(agent, notify=self.notify, open_popup=self.open_popup,
                                            open_menu=self.open_menu)
            self.tray = TrayController(self.tray_snapshot, self.tray_actions.run, env)
            await self.tray.start()

    @hookimpl
    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        stops = [c.stop() for c in (self.tray, self.popup) if c is not None]
        await asyncio.gather(*stops, return_exceptions=True)

    # -- hooks from earlier issues -------------------------------------------------------------------
    @hookimpl
    def pairing_requested(self, request: PairingRequest) -> None:
        self._prompt("pairing", request.id, request.prompt, request)

    @hookimpl
    def pin_requested(self, request: PinRequest) -> None:
        self._prompt("pin", request.id, request.prompt, request)

    @hookimpl
    def outbox_job_dead(self, job: Job) -> None:
        self.refresh_tray()

    @hookimpl
    def plugin_status_changed(self, name: str, status: str, reason: str | None) -> None:
        self.refresh_tray()

    # -- facts the tray and the popup show (hooks, not the LGC's websocket events) --------------------
    @hookimpl
    def user_notice(self, text: str, level: str, topic: str) -> None:
        self.notify(text, level=level, focus=False)

    @hookimpl
    def panel_changed(self, kind: str, key: str) -> None:
        if kind in self.panels.kinds:
            self._spawn(self._consider(kind, key))
        self.refresh_tray()

    @hookimpl
    def acting_user_changed(self, user: ActingUser) -> None:
        self.refresh_tray()

    @hookimpl
    def reader_added(self, reader: str) -> None:
        self.refresh_tray()

    @hookimpl
    def reader_removed(self, reader: str) -> None:
        self.refresh_tray()

    @hookimpl
    def card_service_changed(self, available: bool, reason: str | None) -> None:
        self.refresh_tray()

    @hookimpl
    def card_inserted(self, reader: str, atr: str, kind: str) -> None:
        self.refresh_tray()

    @hookimpl
    def card_removed(self, reader: str, kind: str) -> None:
        self.refresh_tray()

    async def _consider(self, kind: str, key: str) -> None:
        assert self.agent is not None
        panel = self.panels.kinds[kind]
        view = await panel.view(key)
        if not isinstance(view, Mapping):
            choice = DROP
        else:
            choice = decision(self.agent.plugins.hook.popup_offer(kind=kind, view=view))
        if choice == WAIT:
            return
        if choice == DROP or view is None:
            if self.panels.offered.pop(key, None) is not None and self.popup is not None:
                self.popup.send("drop", key=key)
        else:
            self.panels.offer(kind, key, view)
            self._show(kind, key, view, raise_now=choice == RAISE)
        self.refresh_tray()

    def _show(self, kind: str, key: str, view: Mapping[str, Any], *, raise_now: bool) -> None:
        if self.popup is not None:
            panel = self.panels.kinds[kind]
            self.popup.send("show", key=key, kind=kind, renderer=panel.renderer, title=panel.title,
                            view=dict(view), **{"raise": raise_now})

    def _restore(self) -> None:
        """A (re)started popup gets the queue and the open prompts back, without raising itself."""
        if self.popup is None:
            return
        for offered in list(self.panels.offered.values()):
            self._show(offered.kind, offered.key, offered.view, raise_now=False)
        for (kind, request_id), request in self.prompts.items():
            self.popup.send("prompt", kind=kind, request_id=request_id, text=request.prompt)

    # -- prompts ----------------------------------------------------------------------------------------
    def _prompt(self, kind: str, request_id: int, text: str, request: PairingRequest | PinRequest) -> None:
        self.prompts[(kind, request_id)] = request
        if self.popup is not None:
            self.popup.send("prompt", kind=kind, request_id=request_id, text=text)
        self._spawn(self._watch(kind, request_id, request))
        self.refresh_tray()

    async def _watch(self, kind: str, request_id: int, request: PairingRequest | PinRequest) -> None:
        # Answered in the popup, by another UI, or timed out: close the prompt everywhere. Requests expose
        # only `decided` (their `wait()` would cancel them at its timeout), hence the light polling.
        while not request.decided:  # noqa: ASYNC110
            await asyncio.sleep(PROMPT_WATCH)
        self.prompts.pop((kind, request_id), None)
        if self.popup is not None:
            self.popup.send("prompt_closed", kind=kind, request_id=request_id)
        self.refresh_tray()

    def _on_popup(self, msg: dict[str, Any]) -> None:
        op = msg.get("op")
        if op == "answer":
            request = self.prompts.get((str(msg.get("kind")), int(msg.get("request_id") or 0)))
            value = msg.get("value")
            if request is None or request.decided:
                return
            if msg.get("kind") == "pin":
                pin_request: PinRequest = request  # type: ignore[assignment]
                pin_request.submit(value) if isinstance(value, str) and value else pin_request.cancel()
            else:
                pairing: PairingRequest = request  # type: ignore[assignment]
                pairing.accept() if value is True else pairing.refuse()
        elif op == "menu_action" and self.tray is not None and self.tray.model is not None:
            from agent.tray import menu_actions

            action = tuple(msg.get("action") or ())
            if action in menu_actions(self.tray.model.menu) and self.tray_actions is not None:
                self._spawn(self.tray_actions.run(action))  # only what the menu offers now
        elif op == "shown":
            if self.shown.full():
                self.shown.get_nowait()
            self.shown.put_nowait((msg.get("key"), time.monotonic()))
        elif op == "layout" and self._layout is not None and not self._layout.done():
            self._layout.set_result({"widgets": msg.get("widgets") or {}, **(msg.get("texts") or {})})

    async def describe(self, timeout: float = 2.0) -> dict[str, Any]:
        """The popup's widget geometry and state: `{widgets: {name: [x, y, w, h]}, title, scan_result, visible,
        queue, prompts}` (tests, benchmarks)."""
        assert self.popup is not None
        self._layout = asyncio.get_running_loop().create_future()
        self.popup.send("describe")
        return await asyncio.wait_for(self._layout, timeout)

    def notify(self, text: str, *, level: str = "info", focus: bool = True) -> None:
        """A short French message for the user: the result of a tray action (`focus`: the user asked for it)
        or a hardware event (`user_notice`: never takes the keyboard)."""
        if self.popup is not None:
            self.popup.send("notice", text=text, level=level, focus=focus)
        else:
            log.info("notice for the user (no popup)")
        self.last_notice = text
        self.refresh_tray()

    def open_menu(self) -> None:
        """The tray's menu in the popup (tray backends without menus)."""
        if self.popup is not None and self.tray is not None and self.tray.model is not None:
            from agent.tray import menu_payload

            self.popup.send("menu", entries=menu_payload(self.tray.model.menu))

    def open_popup(self, what: str) -> None:
        if self.popup is not None:
            self.popup.send("open", what=what)

    # -- tray --------------------------------------------------------------------------------------------
    async def tray_snapshot(self) -> TraySnapshot:
        """What the tray shows, as plain data (the tray never sees the agent or this plugin)."""
        from agent.tray import snapshot_from

        assert self.agent is not None
        agent = self.agent
        return snapshot_from(
            await agent.info(), queues=self.panels.counts(), badges=self.panels.badge_values(),
            pairing=[(r.id, r.client_name) for r in agent.pairing.pending()], sandbox=agent.config.sandbox,
            items=[(i.shown_label(), i.section) for i in agent.tray_items], notice=self.last_notice)

    def refresh_tray(self) -> None:
        if self.tray is not None:
            self.tray.schedule_refresh()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("ui task failed: %s", type(task.exception()).__name__)


__all__ = ["UiPlugin", "UiSettings", "display_env", "parse_ui_settings"]
