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
from agent.hookspecs import hookimpl
from agent.popup.offer import DROP, RAISE, WAIT, offer
from agent.rpc import RpcContext

if TYPE_CHECKING:
    from agent.acting import ActingUser
    from agent.app import Agent
    from agent.context import PluginContext
    from agent.outbox import Job
    from agent.pairing import PairingRequest
    from agent.popup.host import PopupProcess
    from agent.prompts import PinRequest
    from agent.tray import TrayController

log = logging.getLogger(__name__)

MAX_OFFERED = 500  # identities kept in the queue (a day's batch fits)
PROMPT_WATCH = 0.25  # seconds between checks that a prompt was answered elsewhere
CONTEXT = RpcContext("ui", frozenset({"lgc"}), "popup", 0)


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
    """Registered as `ui`. Keeps the identities offered for qualification (tray count, popup queue)."""

    def __init__(self) -> None:
        self.agent: Agent | None = None
        self.popup: PopupProcess | None = None
        self.tray: TrayController | None = None
        self.offered: dict[str, dict[str, Any]] = {}  # identity_id -> last view
        self.prompts: dict[tuple[str, int], PairingRequest | PinRequest] = {}
        # When the popup window was mapped, for tests and benchmarks; bounded, the oldest go first.
        self.shown: asyncio.Queue[tuple[str | None, float]] = asyncio.Queue(maxsize=64)
        self._layout: asyncio.Future[dict[str, Any]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------------------
    @hookimpl
    async def startup(self, context: PluginContext, agent: Agent) -> None:
        # The host's own shell: the popup and the tray drive the agent's RPC registry, pairing and info.
        self.agent = agent
        settings = parse_ui_settings(context.settings)
        env = display_env(settings, os.environ)
        if env is None or not (settings.popup or settings.tray):
            log.info("no display or UI disabled: running headless")
            return
        if settings.popup:
            from agent.popup.host import PopupProcess

            self.popup = PopupProcess(agent.rpc, env=env, on_message=self._on_popup, on_started=self._restore)
            await self.popup.start()
        if settings.tray:
            from agent.tray import TrayController

            self.tray = TrayController(agent, self, env)
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
    def identity_updated(self, identity_id: str, status: str, insi_outcome: str | None) -> None:
        self._spawn(self._consider(identity_id))
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

    async def _consider(self, identity_id: str) -> None:
        assert self.agent is not None
        response = await self.agent.rpc.handle(
            {"jsonrpc": "2.0", "id": 0, "method": "identity.view", "params": {"identity_id": identity_id}}, CONTEXT)
        view = (response or {}).get("result") if isinstance(response, dict) else None
        if not isinstance(view, dict):
            return
        decision = offer(view)
        if decision == WAIT:
            return
        if decision == DROP:
            if self.offered.pop(identity_id, None) is not None and self.popup is not None:
                self.popup.send("drop", identity_id=identity_id)
        else:
            if identity_id not in self.offered and len(self.offered) >= MAX_OFFERED:
                self.offered.pop(next(iter(self.offered)))
            self.offered[identity_id] = view
            if self.popup is not None:
                self.popup.send("show", identity_id=identity_id, view=view, **{"raise": decision == RAISE})
        self.refresh_tray()

    def _restore(self) -> None:
        """A (re)started popup gets the queue and the open prompts back, without raising itself."""
        if self.popup is None:
            return
        for identity_id, view in self.offered.items():
            self.popup.send("show", identity_id=identity_id, view=view, **{"raise": False})
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
            if action in menu_actions(self.tray.model.menu):  # only what the menu offers now
                self._spawn(self.tray.actions.run(action))
        elif op == "shown":
            if self.shown.full():
                self.shown.get_nowait()
            self.shown.put_nowait((msg.get("identity_id"), time.monotonic()))
        elif op == "layout" and self._layout is not None and not self._layout.done():
            self._layout.set_result({"widgets": msg.get("widgets") or {}, **(msg.get("texts") or {})})

    async def describe(self, timeout: float = 2.0) -> dict[str, Any]:
        """The popup's widget geometry and state: `{widgets: {name: [x, y, w, h]}, title, scan_result, visible,
        queue, prompts}` (tests, benchmarks)."""
        assert self.popup is not None
        self._layout = asyncio.get_running_loop().create_future()
        self.popup.send("describe")
        return await asyncio.wait_for(self._layout, timeout)

    def notify(self, text: str) -> None:
        """A short French message for the user (result of a tray action)."""
        if self.popup is not None:
            self.popup.send("notice", text=text)
        else:
            log.info("notice for the user (no popup)")

    def open_menu(self) -> None:
        """The tray's menu in the popup (tray backends without menus)."""
        if self.popup is not None and self.tray is not None and self.tray.model is not None:
            from agent.tray import menu_payload

            self.popup.send("menu", entries=menu_payload(self.tray.model.menu))

    def open_popup(self, what: str) -> None:
        if self.popup is not None:
            self.popup.send("open", what=what)

    # -- tray --------------------------------------------------------------------------------------------
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
