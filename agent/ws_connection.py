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


@dataclass(eq=False)
class Connection:
    id: int
    ws: web.WebSocketResponse
    origin: str | None
    bucket: TokenBucket
    queue: asyncio.Queue[str | Close]
    # The server's set of background tasks: a close started by `kill` must outlive this socket's tasks.
    background: set[asyncio.Task[Any]]
    client: Client | None = None
    ctx: RpcContext | None = None
    failures: int = 0
    closing: bool = False
    writer: asyncio.Task[None] | None = None
    pairing: asyncio.Task[None] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    watchdog: asyncio.TimerHandle | None = None
    transport: asyncio.Transport | None = None

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
                await self.ws.send_str(item)
            except UnicodeEncodeError:  # a message no UTF-8 frame can carry: drop it, keep the socket
                log.error("websocket %d: unencodable message dropped", self.id)
            except Exception as exc:  # peer gone: the read loop sees the close and cleans up
                log.debug("websocket %d: send failed (%s)", self.id, type(exc).__name__)
                return

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

    def send(self, payload: Any) -> None:
        if payload is not None:
            self.enqueue(dumps(payload))

    def enqueue(self, item: str | Close) -> None:
        if self.writer is None:
            return
        if self.writer.done():
            # Whatever stopped it, nothing queued would ever be sent: close (once) with a reason, so
            # neither a caller nor the auth deadline waits on a socket that can no longer answer.
            if not self.closing:
                log.warning("websocket %d: writer stopped, closing", self.id)
                self.kill(CLOSE_INTERNAL, "erreur interne")
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("websocket %d: client too slow, disconnected", self.id)
            self.kill(WSCloseCode.TRY_AGAIN_LATER, "client trop lent")

    def close_after(self, code: int, reason: str) -> None:
        """Close once the replies already queued are sent (at once if the writer is gone)."""
        if self.writer is not None and self.writer.done():
            self.kill(code, reason)
            return
        self.enqueue(Close(code, reason))
        self.closing = True

    def kill(self, code: int, reason: str) -> asyncio.Task[None]:
        """Close now, dropping what is queued (slow consumer, revoked token)."""
        self.closing = True
        if self.writer is not None:
            self.writer.cancel()
        task = asyncio.create_task(self.close_ws(code, reason))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    def cancel_tasks(self) -> None:
        self.closing = True
        for task in [self.writer, self.pairing, *self.tasks]:
            if task is not None and not task.done():
                task.cancel()


__all__ = ["CLOSE_TIMEOUT", "QUEUE_SIZE", "Close", "Connection", "TokenBucket"]
