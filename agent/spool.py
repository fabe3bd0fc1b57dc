"""The local spool: work started while the practice's database is away, kept on this workstation.

Only with the shared store (PostgreSQL). When the database cannot be reached, the operations that *start*
work (an outbox job: a validated document for the DMP or MSSanté, an INSi lookup; a new identity from a
record opened, a card or a scan) are written here instead of being refused, and merged into the database
when it answers again (`SpoolMerger`). The file is a small SQLite database beside where the SQLite store
would be (`spool.db` in the agent's data folder), opened with the SQLite store's own machinery
(agent/store.py: WAL, 0600, one worker thread, `synchronous=FULL` since it is the only copy of that work).

Each operation has a stable id (`op_id`, made when it is spooled). Merging one is one SERIALIZABLE
transaction on the shared database that applies it *and* records its id in `spool_applied`; an id
already there is skipped. So a crash or kill -9 anywhere in the merge (before the commit: nothing
applied; after it, before the local row is deleted: skipped at the next try) never applies it twice.
Only the workstation that spooled an operation holds it, so no other agent can replay it.

What is not spooled, on purpose: qualification (the attestation or the document check) is refused while
the database is away. It is a decision on the shared record's current state (another room may have
qualified, or INSi answered differently meanwhile) and its audit line must be written once, in the same
transaction as the status it justifies; replaying it later would record a decision taken on a stale view.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import StoreUnavailable, UserFacingError
from agent.store import MigrationRegistry, Store

log = logging.getLogger("agent.spool")

FILE_NAME = "spool.db"
MERGE_EVERY = 2.0  # seconds between two looks for the database while something waits here

_MIGRATION = """
CREATE TABLE spool_ops (
    seq INTEGER PRIMARY KEY,
    op_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    result TEXT,
    created_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class SpoolOp:
    seq: int
    op_id: str
    kind: str
    payload: dict[str, Any]
    result: dict[str, Any] | None
    created_at: float


def _op(row: Any) -> SpoolOp:
    return SpoolOp(seq=int(row[0]), op_id=str(row[1]), kind=str(row[2]), payload=json.loads(row[3]),
                   result=json.loads(row[4]) if row[4] else None, created_at=float(row[5]))


class Spool:
    """The spool file: operations in the order they were started, each with its id and optional result."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._store = Store(self.path, fsync=True)
        self.count = 0  # operations waiting (kept in memory: agent.info and the tray read it often)
        self.on_added: Callable[[], None] | None = None

    async def open(self) -> None:
        registry = MigrationRegistry(initial=())
        registry.register("spool", 1, _MIGRATION)
        await self._store.open(registry)
        row = await self._store.fetchone("SELECT COUNT(*) FROM spool_ops")
        self.count = int(row[0]) if row is not None else 0
        if self.count:
            log.warning("spool: %d operation(s) started while the practice database was away wait here", self.count)

    async def close(self) -> None:
        await self._store.close()

    async def add(self, kind: str, payload: dict[str, Any], *, op_id: str | None = None) -> str:
        """Keep one operation (committed to disk before this returns); its id."""
        op_id = op_id or uuid.uuid4().hex
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        await self._store.execute("INSERT INTO spool_ops (op_id, kind, payload, created_at) VALUES (?, ?, ?, ?)"
                                  " ON CONFLICT(op_id) DO NOTHING", (op_id, kind, data, time.time()))
        await self._recount()
        if self.on_added is not None:
            self.on_added()
        return op_id

    async def ops(self) -> list[SpoolOp]:
        rows = await self._store.fetchall(
            "SELECT seq, op_id, kind, payload, result, created_at FROM spool_ops ORDER BY seq")
        return [_op(r) for r in rows]

    async def get(self, op_id: str) -> SpoolOp | None:
        row = await self._store.fetchone(
            "SELECT seq, op_id, kind, payload, result, created_at FROM spool_ops WHERE op_id = ?", (op_id,))
        return None if row is None else _op(row)

    async def set_result(self, op_id: str, result: dict[str, Any]) -> bool:
        """Attach what was learnt meanwhile (an INSi answer) to a waiting operation; False if it is gone."""
        data = json.dumps(result, separators=(",", ":"), ensure_ascii=False)
        return bool(await self._store.execute("UPDATE spool_ops SET result = ? WHERE op_id = ?", (data, op_id)))

    async def remove(self, op_id: str) -> None:
        await self._store.execute("DELETE FROM spool_ops WHERE op_id = ?", (op_id,))
        await self._recount()

    async def _recount(self) -> None:
        row = await self._store.fetchone("SELECT COUNT(*) FROM spool_ops")
        self.count = int(row[0]) if row is not None else 0


# apply(conn, op) runs inside the merge transaction on the shared database; it may return a coroutine
# function to run after the commit (events for the LGCs), never anything that must not be lost.
Apply = Callable[[Any, SpoolOp], Callable[[], Awaitable[None]] | None]


def spooling(store: Any, spool: Spool | None) -> bool:
    """Whether a StoreUnavailable just met may be answered by spooling (shared store with a spool)."""
    return spool is not None and bool(getattr(store, "shared", False))


class SpoolMerger:
    """Replays the spool into the shared database, in order, once each, when the database answers."""

    def __init__(self, store: Any, spool: Spool, *,
                 notify: Callable[[str], Awaitable[None]] | None = None) -> None:
        self._store = store
        self._spool = spool
        self._notify = notify
        self._kinds: dict[str, Apply] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.merged_total = 0
        spool.on_added = self._wake.set

    @property
    def spool(self) -> Spool:
        return self._spool

    def register(self, kind: str, apply: Apply) -> None:
        """How operations of `kind` are merged; a plugin started again replaces its own."""
        self._kinds[kind] = apply
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="vigie-spool-merge")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MERGE_EVERY):
                    await self._wake.wait()
            self._wake.clear()
            if not self._spool.count:
                continue
            try:
                await self.merge()
            except StoreUnavailable:
                continue  # still away: look again later
            except Exception as exc:  # a bug in one apply must not stop the agent; the op stays here
                log.error("spool: merge failed (%s)", type(exc).__name__)

    async def merge(self) -> int:
        """Apply every waiting operation whose kind is known, in order; how many were applied now.

        An operation whose kind no started plugin registered yet (its plugin is not ready) waits, and
        so does every later one of that kind: order is kept per kind. Kinds do not depend on each other
        (an identity carries its own lookup), so one plugin that cannot start holds back only its own."""
        async with self._lock:
            applied = 0
            blocked: set[str] = set()
            for listed in await self._spool.ops():
                apply = self._kinds.get(listed.kind)
                if apply is None or listed.kind in blocked:
                    blocked.add(listed.kind)
                    continue
                op = await self._spool.get(listed.op_id)  # as of now: a result may have landed meanwhile
                if op is None:
                    continue
                after, fresh = await self._store.transaction(lambda c, op=op, apply=apply: _merge_one(c, op, apply))
                await self._spool.remove(op.op_id)
                applied += int(fresh)
                if after is not None:
                    try:
                        await after()
                    except Exception as exc:  # the state is in the database; only a notice is missed
                        log.warning("spool: after-merge step of %s failed (%s)", op.kind, type(exc).__name__)
            if applied:
                self.merged_total += applied
                log.warning("spool: %d operation(s) merged into the practice database", applied)
                if self._notify is not None and not self._spool.count:
                    await self._notify(merged_notice(applied))
            return applied


def _merge_one(conn: Any, op: SpoolOp, apply: Apply) -> tuple[Callable[[], Awaitable[None]] | None, bool]:
    if conn.execute("SELECT 1 FROM spool_applied WHERE op_id = ?", (op.op_id,)).fetchone() is not None:
        return None, False  # applied before a crash that kept the local row: only forget it here
    conn.execute("INSERT INTO spool_applied (op_id, kind, created_at, applied_at) VALUES (?, ?, ?, ?)",
                 (op.op_id, op.kind, op.created_at, time.time()))
    return apply(conn, op), True


def waiting_in(path: Path) -> int:
    """Operations in a spool file, read without opening it for writing (`vigie doctor`); 0 if there is none."""
    import sqlite3

    if not path.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM spool_ops").fetchone()[0])
    except sqlite3.Error:
        return 0


def doctor_note(count: int) -> str:
    return (f"{count} opération{'s' if count > 1 else ''} gardée{'s' if count > 1 else ''} sur ce poste pendant une "
            "coupure, en attente de report dans la base commune (Vigie le fait dès qu'il la joint)")


def waiting_label(count: int) -> str:
    return (f"Base du cabinet injoignable : {count} opération{'s' if count > 1 else ''} en attente locale "
            "sur ce poste, reportée" + ("s" if count > 1 else "") + " dès son retour (rien n'est perdu)")


def merged_notice(count: int) -> str:
    return (f"Base du cabinet de retour : {count} opération{'s' if count > 1 else ''} gardée"
            f"{'s' if count > 1 else ''} sur ce poste pendant la coupure {'ont' if count > 1 else 'a'} été "
            f"reportée{'s' if count > 1 else ''} dans la base commune.")


def refused_while_away(what: str) -> UserFacingError:
    """The French answer for work that is not spooled (qualification): say why and what to do."""
    return UserFacingError(f"{what} impossible tant que la base du cabinet est injoignable : cette décision doit "
                           "s'inscrire dans le dossier commun. Réessayez dès son retour (le bandeau de Vigie "
                           "l'indiquera).", code=StoreUnavailable().code)
