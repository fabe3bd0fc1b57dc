"""The inbox watcher: fetch what arrived since the last UID, then IMAP IDLE (RFC 2177), else poll.

One cycle = one IMAP session on a worker thread: SELECT INBOX, `UID FETCH <last+1>:*` in batches
(BODY.PEEK: nothing is marked read on the server), hand each message to the service (which stores it
first, then classifies it), then IDLE until the server announces a new message, `poll_interval`
passes, or the watcher is stopped (a socket pair wakes the thread's `select` at once). A server
without IDLE is polled every `poll_interval`. Failures back off (5 s → 5 min) and never stop the loop.
Tokens are fetched again at each cycle (PSC tokens live minutes).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import imaplib
import logging
import re
import select
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from plugins.mss.transport import UNREACHABLE, Endpoint, Login, MailError, imap_session

log = logging.getLogger(__name__)

BATCH = 100
BACKOFF_MAX = 300.0


@dataclass(frozen=True)
class Fetched:
    uidvalidity: int
    uid: int
    raw: bytes


def _uidvalidity(conn: imaplib.IMAP4) -> int:
    typ, data = conn.response("UIDVALIDITY")
    if data and data[0]:
        return int(data[0])
    return 0


def fetch_new(conn: imaplib.IMAP4, last_uid: int, limit: int = BATCH) -> tuple[int, list[Fetched]]:
    typ, _ = conn.select("INBOX", readonly=True)
    if typ != "OK":
        raise MailError("Boîte de réception MSSanté inaccessible.", permanent=False, code="imap")
    validity = _uidvalidity(conn)
    typ, data = conn.uid("SEARCH", f"UID {last_uid + 1}:*")
    uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > last_uid) if typ == "OK" and data else []
    out: list[Fetched] = []
    for start in range(0, min(len(uids), limit), 25):
        chunk = uids[start:min(start + 25, limit)]
        typ, items = conn.uid("FETCH", ",".join(map(str, chunk)), "(UID BODY.PEEK[])")
        if typ != "OK":
            raise MailError("Lecture de la boîte MSSanté impossible.", permanent=False, code="imap")
        for item in items:
            if isinstance(item, tuple):
                m = re.search(rb"UID (\d+)", item[0])
                if m:
                    out.append(Fetched(validity, int(m.group(1)), item[1]))
    return validity, out


def idle(conn: imaplib.IMAP4, timeout: float, wake: socket.socket) -> bool:
    """IDLE until new mail (True), the timeout, or a wake-up (False). False at once without IDLE."""
    if "IDLE" not in conn.capabilities:
        return False
    tag: bytes = conn._new_tag()
    conn.send(tag + b" IDLE\r\n")
    if not conn.readline().startswith(b"+"):
        return False
    sock = conn.socket()
    deadline = time.monotonic() + timeout
    arrived = False
    while not arrived:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        # Data already decrypted by the TLS layer is invisible to select(): read it first.
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
        if not pending:
            ready, _, _ = select.select([sock, wake], [], [], remaining)
            if wake in ready or not ready:
                break
        line = conn.readline()
        if not line:
            raise MailError("Connexion MSSanté fermée par le serveur.", permanent=False, code="unreachable")
        arrived = b"EXISTS" in line or b"RECENT" in line
    conn.send(b"DONE\r\n")
    while True:
        line = conn.readline()
        if not line or line.startswith(tag):
            break
    return arrived


class InboxWatcher:
    def __init__(self, endpoint: Endpoint, login: Callable[[], Awaitable[Login]],
                 last_uid: Callable[[], Awaitable[tuple[int, int]]],
                 on_message: Callable[[Fetched], Awaitable[None]],
                 on_uidvalidity: Callable[[int], Awaitable[None]], *, poll_interval: float, use_idle: bool = True
                 ) -> None:
        self.endpoint = endpoint
        self._login = login
        self._last_uid = last_uid
        self._on_message = on_message
        self._on_uidvalidity = on_uidvalidity
        self.poll_interval = poll_interval
        self.use_idle = use_idle
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.cycles = 0
        self.last_error: str | None = None
        self._kick = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mss-inbox")

    def poke(self) -> None:
        """Check now (e.g. after a send: receipts come soon)."""
        self._kick.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    async def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 2.0)
        self._wake_r.close()
        self._wake_w.close()

    def _drain_wake(self) -> None:
        self._wake_r.setblocking(False)
        with contextlib.suppress(OSError):
            while self._wake_r.recv(64):
                pass

    async def _run(self) -> None:
        delay = 5.0
        while not self._stopping:
            try:
                await self._cycle()
                self.last_error = None
                delay = 5.0
            except MailError as exc:
                self.last_error = exc.message
                log.warning("mss inbox: %s", exc.code)
                await self._sleep(delay)
                delay = min(BACKOFF_MAX, delay * 2)
            except Exception as exc:  # a bug: keep watching, slowly
                self.last_error = type(exc).__name__
                log.error("mss inbox cycle failed: %s", type(exc).__name__, exc_info=True)
                await self._sleep(delay)
                delay = min(BACKOFF_MAX, delay * 2)

    async def _sleep(self, seconds: float) -> None:
        self._kick.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), seconds)

    async def _cycle(self) -> None:
        login = await self._login()
        validity, last = await self._last_uid()
        with imap_session_async(self.endpoint, login) as session:
            while True:
                seen_validity, batch = await session.run(fetch_new, last)
                if validity and seen_validity != validity:
                    await self._on_uidvalidity(seen_validity)  # mailbox recreated: start over
                    validity, last = seen_validity, 0
                    continue
                validity = seen_validity
                for item in batch:
                    await self._on_message(item)
                    last = max(last, item.uid)
                if len(batch) < BATCH:
                    break
            self.cycles += 1
            if self._stopping:
                return
            self._kick.clear()
            self._drain_wake()
            if self.use_idle and "IDLE" in session.capabilities:
                await session.run(idle, self.poll_interval, self._wake_r)
                return  # new mail, a poke or the timeout: the next cycle fetches (new session, fresh token)
        await self._sleep(self.poll_interval)


class imap_session_async:
    """An IMAP session whose every call runs on one dedicated worker thread (imaplib is not thread-safe)."""

    def __init__(self, endpoint: Endpoint, login: Login) -> None:
        self._cm = imap_session(endpoint, login)
        self._conn: imaplib.IMAP4 | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "mss-imap")
        self.capabilities: tuple[str, ...] = ()

    def __enter__(self) -> imap_session_async:
        return self

    def __exit__(self, *exc: object) -> None:
        cm = self._cm
        if self._conn is not None:
            self._executor.submit(cm.__exit__, None, None, None)
        self._executor.shutdown(wait=False)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self._conn is None:
            self._conn = await loop.run_in_executor(self._executor, self._cm.__enter__)
            self.capabilities = tuple(self._conn.capabilities)
        try:
            return await loop.run_in_executor(self._executor, fn, self._conn, *args)
        except (OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error):
            raise MailError(UNREACHABLE, permanent=False, code="unreachable") from None
