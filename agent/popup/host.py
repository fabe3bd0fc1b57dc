"""The agent side of the popup: starts `python -m agent.popup`, talks JSON lines over its stdin/stdout,
restarts it when it dies. Nothing here ever waits on the popup: sends are buffered writes (a popup that
stops reading is killed and restarted), its calls run as tasks, its death is only logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agent.popup import HOST_METHODS
from agent.rpc import METHOD_NOT_FOUND, RpcContext, RpcRegistry, error_response

log = logging.getLogger(__name__)

MAX_BUFFER = 1024 * 1024  # bytes queued to a popup that does not read: it is stuck, restart it
STOP_GRACE = 0.15  # the agent's whole stop must fit in 2 s, this plugin's in 0.5 s
RESTART_BASE, RESTART_MAX, STABLE_AFTER = 1.0, 60.0, 60.0
CONTEXT = RpcContext("popup", frozenset({"lgc"}), "popup", 0)

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]
POPUP_ARG = "--vigie-popup"  # the frozen executable's second entry point (installer/vigie_entry.py)


def popup_command() -> list[str]:
    """A frozen build has no `python -m`: its own executable runs the popup when given POPUP_ARG."""
    if getattr(sys, "frozen", False):
        return [sys.executable, POPUP_ARG]
    return [sys.executable, "-m", "agent.popup"]


class PopupProcess:
    def __init__(self, rpc: RpcRegistry, *, env: Mapping[str, str] | None = None,
                 on_message: Handler | None = None, on_started: Callable[[], None] | None = None,
                 command: list[str] | None = None, methods: Callable[[], frozenset[str]] | None = None) -> None:
        self._rpc = rpc
        self._methods = methods or frozenset
        self._env = dict(env or os.environ)
        self._on_message = on_message
        self._on_started = on_started
        self._command = command or popup_command()
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.starts = 0
        self.ready = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def start(self) -> None:
        self._stopping = False
        self._supervisor = asyncio.create_task(self._supervise())

    async def stop(self) -> None:
        """Close the popup's input (it exits on EOF), kill it if it lingers; fits the agent's 2 s stop."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), STOP_GRACE)
        for task in self._tasks:
            task.cancel()

    def send(self, op: str, **fields: Any) -> bool:
        """Queue one message for the popup; False when there is no popup right now (it is restarting)."""
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None or proc.stdin.is_closing():
            return False
        proc.stdin.write((json.dumps({"op": op, **fields}, ensure_ascii=False) + "\n").encode("utf-8"))
        if proc.stdin.transport.get_write_buffer_size() > MAX_BUFFER:
            log.warning("popup does not read its input: restarting it")
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        return True

    # -- supervision ----------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        delay = RESTART_BASE
        while not self._stopping:
            started = time.monotonic()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self._command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    env=self._env)
            except OSError as exc:
                log.error("popup could not start: %s", exc)
                proc = None
            if proc is not None:
                self._proc = proc
                self.starts += 1
                reader = asyncio.create_task(self._read(proc))
                code = await proc.wait()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                self.ready.clear()
                if self._stopping:
                    return
                # A crash of the popup never harms the agent: log it and start a new one.
                log.warning("popup exited (code %s); restarting in %.0f s", code, delay)
                if code == 3:  # no display: nothing to restart until one appears
                    delay = RESTART_MAX
            if time.monotonic() - started > STABLE_AFTER:
                delay = RESTART_BASE
            await asyncio.sleep(delay)
            delay = min(RESTART_MAX, delay * 2)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                log.warning("popup sent an unreadable line")
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("op") == "ready":
                self.ready.set()
                if self._on_started is not None:
                    self._on_started()
            elif msg.get("op") == "rpc":
                self._spawn(self._call(msg))
            elif self._on_message is not None:
                try:
                    outcome = self._on_message(msg)
                    if outcome is not None:
                        self._spawn(outcome)
                except Exception:
                    log.exception("popup message %s failed", msg.get("op"))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, msg: dict[str, Any]) -> None:
        call_id, method = msg.get("id"), msg.get("method")
        request = {"jsonrpc": "2.0", "id": call_id, "method": method, "params": msg.get("params") or {}}
        if method not in HOST_METHODS | self._methods():
            response: Any = error_response(call_id, METHOD_NOT_FOUND, f"Méthode non permise : {str(method)[:64]}")
        else:
            response = await self._rpc.handle(request, CONTEXT)
        response = response or {}
        self.send("reply", id=call_id, result=response.get("result"), error=response.get("error"))
