"""One websocket connection of the local API: its bounded outgoing queue, its writer task, closing.

Each socket has one writer task fed by a bounded queue: events are published synchronously by
plugins and must never wait for a slow LGC, so a socket whose queue is full is disconnected. What
the frames mean (session, pairing, dispatch) is `agent.ws_session`; the route is `agent.server`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

from agent.client_registry import Client
from agent.rpc import RpcContext, dumps

log = logging.getLogger(__name__)

QUEUE_SIZE = 256  # outgoing messages per socket before it counts as too slow
CLOSE_INTERNAL = 1011  # the writer failed: say so rather than leave a socket that never answers
CLOSE_TIMEOUT = 0.5  # the whole agent stops in < 2 s
REPLY_WAIT = 10.0  # a reply waits this long for room in the queue before the client counts as too slow
DRAIN_TIMEOUT = 5.0  # a policy close waits this long for the calls in flight to answer
STUCK_BUFFER = 64 * 1024  # bytes still unsent to a peer when we close: it is not reading


class TokenBucket:
    """`rate` tokens per second up to `burst`; a call costs one token (a batch, one per element)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self, cost: int = 1) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if cost > self.tokens:
            return False
        self.tokens -= cost
        return True


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True)
class _Out:
    text: str
    reply: bool  # holds one of the connection's reply slots until sent


@dataclass(eq=False)
class Connection:
    """One socket. Replies and events share one queue and one writer, with different rules:

    - a reply waits for room (at most `queue_size` replies queued): the frame loop that produces it
      then stops reading, which pushes back on a client that sends faster than it reads;
    - an event cannot wait (plugins publish synchronously): past `queue_size` queued events the client
      is too slow and is disconnected (1013).
    """

    id: int
    ws: web.WebSocketResponse
    origin: str | None
    bucket: TokenBucket
    # The server's set of background tasks: a close started by `kill` must outlive this socket's tasks.
    background: set[asyncio.Task[Any]]
    queue_size: int = QUEUE_SIZE
    transport: asyncio.Transport | None = None
    refusals: TokenBucket | None = None  # rate-limit refusals allowed before the socket is closed for it
    client: Client | None = None
    ctx: RpcContext | None = None
    failures: int = 0
    closing: bool = False
    writer: asyncio.Task[None] | None = None
    pairing: asyncio.Task[None] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    watchdog: asyncio.TimerHandle | None = None
    queue: asyncio.Queue[_Out | Close] = field(init=False)
    _reply_slots: asyncio.Semaphore = field(init=False)
    _events_queued: int = 0

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue()
        self._reply_slots = asyncio.Semaphore(self.queue_size)

    def start_writer(self) -> None:
        self.writer = asyncio.create_task(self._write_loop())

    def open_session(self, client: Client) -> None:
        self.client = client
        self.ctx = RpcContext(client.name, client.scopes, "ws", self.id)

    async def _write_loop(self) -> None:
        while True:
            item = await self.queue.get()
            if isinstance(item, Close):
                await self.close_ws(item.code, item.reason)
                return
            try:
                await self.ws.send_str(item.text)
            except UnicodeEncodeError:  # a message no UTF-8 frame can carry: drop it, keep the socket
                log.error("websocket %d: unencodable message dropped", self.id)
            except Exception as exc:  # peer gone: the read loop sees the close and cleans up
                log.debug("websocket %d: send failed (%s)", self.id, type(exc).__name__)
                return
            finally:
                if item.reply:
                    self._reply_slots.release()
                else:
                    self._events_queued -= 1

    async def close_ws(self, code: int, reason: str) -> None:
        self.closing = True
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()[:120]), CLOSE_TIMEOUT)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # Not ours: aiohttp shares one drain waiter per connection, cancelled with the writer task.
            log.debug("websocket %d: close interrupted", self.id)
        except Exception as exc:  # timeout included: aiohttp has then closed the transport itself
            log.debug("websocket %d: close failed (%s)", self.id, type(exc).__name__)
        transport = self.transport
        if transport is not None:
            # A closed transport flushes its buffer before it goes: with a peer that never reads, it
            # (and the socket's handler) would live forever. Drop it, at once if the peer is stuck.
            if transport.get_write_buffer_size() > STUCK_BUFFER:
                transport.abort()
            else:
                asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    def _writer_alive(self) -> bool:
        if self.writer is None:
            return False
        if self.writer.done():
            # Whatever stopped it, nothing queued would ever be sent: close (once) with a reason, so
            # neither a caller nor the auth deadline waits on a socket that can no longer answer.
            if not self.closing:
                log.warning("websocket %d: writer stopped, closing", self.id)
                self.kill(CLOSE_INTERNAL, "erreur interne")
            return False
        return True

    async def reply(self, payload: Any) -> None:
        """Queue a reply, waiting (at most REPLY_WAIT seconds) for room: a client that does not read
        its replies is then disconnected as too slow."""
        if payload is None or not self._writer_alive():
            return
        text = dumps(payload)
        try:
            if self._reply_slots.locked():
                await asyncio.wait_for(self._reply_slots.acquire(), REPLY_WAIT)
            else:
                await self._reply_slots.acquire()  # no suspension: free slots are the common case
        except TimeoutError:
            if not self.closing:
                log.warning("websocket %d: client does not read its replies, disconnected", self.id)
                self.kill(WSCloseCode.TRY_AGAIN_LATER, "client trop lent")
            return
        self.queue.put_nowait(_Out(text, reply=True))

    def event(self, text: str) -> None:
        """Queue an event without waiting; a client too slow to take them is disconnected."""
        if not self._writer_alive():
            return
        if self._events_queued >= self.queue_size:
            log.warning("websocket %d: client too slow, disconnected", self.id)
            self.kill(WSCloseCode.TRY_AGAIN_LATER, "client trop lent")
            return
        self._events_queued += 1
        self.queue.put_nowait(_Out(text, reply=False))

    def close_after(self, code: int, reason: str) -> None:
        """Close once the calls in flight have answered and every queued reply is sent (at once if the
        writer is gone)."""
        if self.closing:
            return
        self.closing = True
        if not self._writer_alive():
            self.kill(code, reason)
            return
        in_flight = [t for t in self.tasks if not t.done()]
        if not in_flight:
            self.queue.put_nowait(Close(code, reason))
            return

        async def after_calls() -> None:
            await asyncio.wait(in_flight, timeout=DRAIN_TIMEOUT)
            await asyncio.sleep(0)  # let the last replies reach the queue
            self.queue.put_nowait(Close(code, reason))

        self._spawn(after_calls())

    def kill(self, code: int, reason: str) -> asyncio.Task[None]:
        """Close now, dropping what is queued (slow consumer, revoked token)."""
        self.closing = True
        if self.writer is not None:
            self.writer.cancel()
        return self._spawn(self.close_ws(code, reason))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def cancel_tasks(self) -> None:
        self.closing = True
        for task in [self.writer, self.pairing, *self.tasks]:
            if task is not None and not task.done():
                task.cancel()


__all__ = ["CLOSE_TIMEOUT", "QUEUE_SIZE", "Close", "Connection", "TokenBucket"]
