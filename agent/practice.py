"""Facts that cross workstations: what one agent of the practice emits, the others hear.

With the shared store (PostgreSQL), the agents of a practice see the same identities and jobs; this
relay makes them also *hear* each other. After a `practice` fact (agent.emitter.FACTS, e.g.
`identity_updated`) is emitted on one agent, its LGC event parameters go out by NOTIFY; every other
agent publishes the same LGC event to its own LGCs (the doctor's LGC with that patient open refreshes
it) and calls `practice_fact_received` so capabilities can refresh what they show (the tray's waiting
work). The fact's own hook is *not* called again elsewhere: a scan at reception must not raise the
doctor's popup until the doctor opens that patient, which then happens locally, on the shared record.

NOTIFY carries only ids and states (the event parameters), never traits: it crosses the network.
Notifications sent while an agent is disconnected are lost by design (PostgreSQL keeps none); what
matters is in the database and is read again on reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("agent.practice")

CHANNEL = "vigie_facts"
MAX_PAYLOAD = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more


class PracticeRelay:
    def __init__(self, store: Any, workstation: str,
                 deliver: Callable[[str, str, Mapping[str, Any]], Any]) -> None:
        """`deliver(workstation, event, params)` runs on the loop for each fact another agent emitted."""
        self._store = store
        self._workstation = workstation
        self._deliver = deliver
        self._unlisten: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def active(self) -> bool:
        return self._unlisten is not None

    def start(self) -> None:
        listen = getattr(self._store, "listen", None)
        if listen is None or not getattr(self._store, "shared", False):
            return  # one workstation: nobody to tell
        self._loop = asyncio.get_running_loop()
        self._unlisten = listen(CHANNEL, self._heard)

    def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for task in list(self._tasks):
            task.cancel()

    # -- out ---------------------------------------------------------------------------------------
    def send(self, event: str, params: Mapping[str, Any]) -> None:
        """Tell the other workstations (fire and forget: the facts are in the database anyway)."""
        if not self.active:
            return
        payload = json.dumps({"from": self._workstation, "event": event, "params": dict(params)},
                             separators=(",", ":"), ensure_ascii=False)
        if len(payload.encode()) > MAX_PAYLOAD:
            log.warning("practice relay: %s too large to relay", event)
            return
        task = asyncio.ensure_future(self._notify(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, payload: str) -> None:
        try:
            await self._store.run(lambda: self._store.notify(self._store.conn, CHANNEL, payload))
        except Exception as exc:
            log.warning("practice relay: could not notify (%s)", type(exc).__name__)

    # -- in ------------------------------------------------------------------------------------------
    def _heard(self, payload: str) -> None:  # listener thread
        if not payload or self._loop is None:
            return
        try:
            data = json.loads(payload)
            origin, event, params = str(data["from"]), str(data["event"]), dict(data["params"])
        except (ValueError, KeyError, TypeError):
            log.warning("practice relay: malformed notification ignored")
            return
        if origin == self._workstation:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self._loop.call_soon_threadsafe(self._dispatch, origin, event, params)

    def _dispatch(self, origin: str, event: str, params: dict[str, Any]) -> None:
        result = self._deliver(origin, event, params)
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
