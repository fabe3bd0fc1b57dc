"""Durable background jobs (the outbox): enqueue in SQLite, run later, retry with backoff.

A job is a row of the `outbox` table: a handler name, an idempotency key (`job.key`, UNIQUE, so
enqueueing the same key twice is a no-op), a JSON payload and a state
(`pending` -> `running` -> `done`, or `dead` after a permanent error or `max_attempts` failures).

**Delivery is at least once.** A job is marked `running` when claimed and `done` only after its
handler returned *and* the completion was committed (completions are flushed in batches, once per
dispatcher iteration). If the process dies in between (crash, kill -9, power loss), the job is still
`running` on disk; the next `start()` puts it back to `pending` and it runs again. The handler
cannot tell a first run from a re-run, so it must make its *effect* idempotent with `job.key`:
e.g. send the key as the remote idempotency/message id, or check-then-write its own record keyed by
`job.key` in one transaction. At most `concurrency` jobs per handler are `running` at any moment,
so a crash re-runs at most that many jobs per handler.

Design (why it is fast without busy polling): one dispatcher task loops; each iteration is one
transaction on the store thread that (1) records the outcomes of every handler that finished since
the previous iteration and (2) claims due jobs (`UPDATE ... RETURNING`) up to each registered
handler's free concurrency slots. Then it sleeps on an `asyncio.Event` until a handler finishes,
a job is enqueued, a handler is registered, or the earliest future `next_attempt_at` is reached.

Payloads may contain patient data: they are never logged (only job id, handler and error class).
A single process owns a SQLite file; two agents on the same file would re-run each other's jobs.

**Shared outbox (PostgreSQL, the whole practice).** Every agent of the practice runs the same
dispatcher on the same table. A claim is `FOR UPDATE SKIP LOCKED` (two agents never take one job) and
writes a lease: the job's `claimed_by` (this workstation) and `lease_until`, which a heartbeat pushes
forward while the handler runs. A job whose lease expired (its agent was killed or lost the network)
is claimed again by whoever is alive; outcomes are recorded only by the current lease holder. At
start an agent takes back only its own `running` jobs, never another's live ones. Enqueues NOTIFY the
other agents so they do not wait for their next look. An agent claims only for handlers it has and
whose plugin is ready (`ready`), so a job needing a CPS waits for a workstation that has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agent.errors import PermanentJobError, RegistrationError, RetryJobLater, StoreUnavailable
from agent.hookspecs import JobHandler
from agent.spool import Spool, SpoolOp, spooling
from agent.store import Store

log = logging.getLogger("agent.outbox")

STATES = ("pending", "running", "done", "dead")
_MAX_ERROR_CHARS = 500
# Finished rows keep only handler, key and times (payload dropped), so that re-enqueueing the same
# key stays a no-op; they are purged after this long (checked at each start).
DONE_RETENTION = 30 * 86400
_MAX_SLEEP = 60.0  # re-check now and then: the wall clock may jump (suspend, NTP)
SHARED_STATS_TTL = 1.0  # seconds a shared outbox's counts are reused (other workstations write it too)
_MAX_SLEEP_SHARED = 5.0  # other agents' leases expire and NOTIFY may be missed while reconnecting
LEASE = 30.0  # seconds a claimed job stays ours without a heartbeat
NOTIFY_CHANNEL = "vigie_outbox"
SPOOL_KIND = "outbox.enqueue"
STORE_WAIT = 2.0  # seconds before a job that met an unreachable database runs again (attempts kept)

# Outcome kinds recorded by a finished handler task, applied by the next flush.
_DONE, _RETRY, _DEAD, _RELEASE = "done", "retry", "dead", "release"


@dataclass(frozen=True)
class Job:
    id: int
    handler: str
    key: str
    payload: dict[str, Any]
    attempts: int  # failed attempts before this run (0 on the first run)
    created_at: float
    last_error: str | None = None


@dataclass(frozen=True)
class _Handler:
    fn: JobHandler
    concurrency: int
    max_attempts: int
    base_delay: float
    max_delay: float
    ready: Callable[[], bool] | None = None


@dataclass(frozen=True)
class _Outcome:
    kind: str
    job: Job
    attempts: int = 0
    next_at: float = 0.0
    error: str | None = None


_CLAIM = """
UPDATE outbox SET state = 'running', updated_at = ?, claimed_by = ?, lease_until = ?
WHERE id IN (
    SELECT id FROM outbox WHERE state = 'pending' AND handler = ? AND next_attempt_at <= ?
    ORDER BY next_attempt_at, id LIMIT ?)
RETURNING id, handler, idem_key, payload, attempts, created_at, last_error
"""
# Shared: a due pending job, or one whose holder's lease ran out; rows another agent is claiming
# right now are skipped, not waited for.
_CLAIM_SHARED = """
UPDATE outbox SET state = 'running', updated_at = ?, claimed_by = ?, lease_until = ?
WHERE id IN (
    SELECT id FROM outbox WHERE handler = ? AND (
        (state = 'pending' AND next_attempt_at <= ?) OR (state = 'running' AND COALESCE(lease_until, 0) < ?))
    ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED)
RETURNING id, handler, idem_key, payload, attempts, created_at, last_error
"""
_JOB_COLUMNS = "id, handler, idem_key, payload, attempts, created_at, last_error"


def _job(row: sqlite3.Row | tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        handler=row[1],
        key=row[2],
        payload=json.loads(row[3]),
        attempts=row[4],
        created_at=row[5],
        last_error=row[6],
    )


def _renew(rows: list[tuple[float, int, str]], conn: sqlite3.Connection) -> None:
    conn.executemany(
        "UPDATE outbox SET lease_until = ? WHERE id = ? AND state = 'running' AND claimed_by = ?", rows)


def insert_jobs(conn: sqlite3.Connection, *, handler: str, rows: Sequence[tuple[str, str]], due: float,
                now: float, shared: bool) -> tuple[list[int], bool]:
    """Insert `(key, json payload)` jobs, a key already there is left as is; the ids, and whether any is new.

    Also the merge of a spooled enqueue (agent/spool.py), inside its transaction on the shared database."""
    ids: list[int] = []
    inserted = False
    for key, data in rows:
        row = conn.execute(
            "INSERT INTO outbox (handler, idem_key, payload, state, attempts, next_attempt_at,"
            " created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)"
            " ON CONFLICT(idem_key) DO NOTHING RETURNING id",
            (handler, key, data, due, now, now),
        ).fetchone()
        if row is None:
            row = conn.execute("SELECT id FROM outbox WHERE idem_key = ?", (key,)).fetchone()
        else:
            inserted = True
        ids.append(int(row[0]))
    if inserted and shared:  # delivered at commit: wakes the other workstations' dispatchers
        conn.execute("SELECT pg_notify(?, ?)", (NOTIFY_CHANNEL, handler))
    return ids, inserted


def merge_spooled(conn: sqlite3.Connection, op: SpoolOp) -> None:
    """Apply a spooled enqueue (agent/spool.py `Apply`): the same keys, so a job already there stays one."""
    now = time.time()
    rows = [(str(k), str(d)) for k, d in op.payload["rows"]]
    insert_jobs(conn, handler=str(op.payload["handler"]), rows=rows, due=now + float(op.payload.get("delay", 0)),
                now=now, shared=True)
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]


class Outbox:
    """Durable job queue over the `outbox` table; see the module docstring for the guarantees."""

    def __init__(
        self,
        store: Store,
        *,
        on_dead: Callable[[Job], Awaitable[None] | None] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        owner: str = "local",
        lease: float = LEASE,
    ) -> None:
        self._store = store
        self._shared = bool(getattr(store, "shared", False))
        self._owner = owner
        self.spool: Spool | None = None  # set by the host with the shared store: enqueues survive an outage
        self._lease = lease
        self._heartbeat: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None
        self._on_dead = on_dead
        self._clock = clock
        self._rng = rng or random.Random()
        self._handlers: dict[str, _Handler] = {}
        self._busy: dict[str, int] = {}  # handler -> running tasks
        self._tasks: dict[int, tuple[asyncio.Task[None], Job]] = {}  # job id -> running handler
        self._finished: list[_Outcome] = []  # outcomes not yet written to the store
        self._side_tasks: set[asyncio.Task[None]] = set()  # async on_dead callbacks
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._stop_event = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._generation = 0  # outcomes of tasks from a previous start() are ignored
        # `stats()` is read on every `agent.info`: answered from memory until the outbox writes again
        # (with SQLite every write to the table goes through this object; a shared table is also written
        # by the other workstations, so there the answer is at most SHARED_STATS_TTL old), one store query
        # shared by concurrent calls.
        self._writes = 0
        self._stats: tuple[int, float, dict[str, int]] | None = None
        self._stats_query: tuple[int, asyncio.Future[dict[str, int]]] | None = None

    # -- registration and enqueueing --------------------------------------------------------
    def register(
        self,
        name: str,
        handler: JobHandler,
        *,
        concurrency: int = 1,
        max_attempts: int = 8,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        """Add a job handler (signature of `hookspecs.OutboxRegister`); duplicates are refused.

        `ready()` (optional, sync, fast) says whether this agent can run the handler now; while it
        is False no job of the handler is claimed here (another workstation's agent may take it).
        """
        if not isinstance(name, str) or not name:
            raise RegistrationError(f"outbox handler name must be a non-empty string, got {name!r}")
        if name in self._handlers:
            raise RegistrationError(f"outbox handler {name!r} registered twice")
        if not callable(handler):
            raise RegistrationError(f"outbox handler {name!r} is not callable")
        if concurrency < 1 or max_attempts < 1 or base_delay < 0 or max_delay < 0:
            raise RegistrationError(f"outbox handler {name!r}: concurrency and max_attempts >= 1, delays >= 0")
        self._handlers[name] = _Handler(handler, concurrency, max_attempts, base_delay, max_delay, ready)
        self._busy[name] = 0
        self._poke()

    async def enqueue(self, handler: str, payload: Mapping[str, Any], *, key: str, delay: float = 0.0) -> int:
        """Add a job and return its id; the same `key` again returns the existing id unchanged.

        The handler need not be registered yet: the job waits until it is.
        """
        return (await self.enqueue_many(handler, [(payload, key)], delay=delay))[0]

    async def enqueue_many(self, handler: str, jobs: Sequence[tuple[Mapping[str, Any], str]], *,
                           delay: float = 0.0) -> list[int]:
        """`enqueue` for many `(payload, key)` pairs in one transaction (a start-of-day batch: one commit,
        one wake-up, instead of hundreds); the ids in the same order."""
        if not handler or any(not key for _, key in jobs):
            raise ValueError("enqueue needs a handler name and a non-empty key")
        now = self._clock()
        rows = [(key, json.dumps(dict(payload), separators=(",", ":"), ensure_ascii=False)) for payload, key in jobs]

        if not rows:
            return []
        work = functools.partial(insert_jobs, handler=handler, rows=rows, due=now + max(0.0, delay), now=now,
                                 shared=self._shared)
        try:
            # READ COMMITTED is enough: INSERT ... ON CONFLICT DO NOTHING is atomic on the unique key.
            ids, inserted = await self._store.transaction(work, serializable=False)
        except StoreUnavailable:
            if not spooling(self._store, self.spool):
                raise
            assert self.spool is not None
            # The practice database is away: the job is kept on this workstation and merged, same key,
            # when it is back (agent/spool.py). No id yet: 0 says "waiting in the local spool".
            await self.spool.add(SPOOL_KIND, {"handler": handler, "rows": rows, "delay": max(0.0, delay)})
            return [0] * len(rows)
        self._writes += 1
        if inserted:
            self._poke()
        return ids

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Requeue jobs a dead process left `running`, then start the dispatcher."""
        if self._dispatcher is not None:
            return
        now = self._clock()
        # SQLite: this process owns the file, so whatever is `running` was left by a dead process.
        # Shared: only our own previous life's jobs; other agents' live leases are theirs.
        mine = " AND claimed_by = ?" if self._shared else ""
        recovered = await self._store.transaction(
            lambda c: (
                c.execute(
                    "UPDATE outbox SET state = 'pending', updated_at = ? WHERE state = 'running'" + mine,
                    (now, self._owner) if self._shared else (now,),
                ).rowcount
            )
        )
        self._writes += 1
        if recovered:
            log.warning("outbox: %d job(s) interrupted by a previous stop or crash will run again", recovered)
        purged = await self._store.transaction(
            lambda c: c.execute(
                "DELETE FROM outbox WHERE state = 'done' AND updated_at < ?", (now - DONE_RETENTION,)
            ).rowcount
        )
        self._writes += 1
        if purged:
            log.info("outbox: %d finished job(s) older than %d days purged", purged, DONE_RETENTION // 86400)
        for name, count in (await self.unhandled()).items():
            # Not an error: e.g. validated documents wait for the plugin that shares them to be installed.
            log.info("outbox: %d job(s) wait for handler %s, which no plugin registered", count, name)
        self._generation += 1
        self._stopping = False
        self._stop_event.clear()
        self._idle.clear()
        self._wake.set()
        self._dispatcher = asyncio.create_task(self._dispatch(), name="vigie-outbox")
        self._dispatcher.add_done_callback(self._dispatcher_done)
        if self._shared:
            self._heartbeat = asyncio.create_task(self._beat(), name="vigie-outbox-lease")
            listen = getattr(self._store, "listen", None)
            if listen is not None:
                loop = asyncio.get_running_loop()

                def woken(_payload: str) -> None:  # from the listener thread
                    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                        loop.call_soon_threadsafe(self._poke)

                self._unlisten = listen(NOTIFY_CHANNEL, woken)

    async def stop(self, grace: float = 1.0) -> None:
        """Stop claiming; give running handlers `grace` seconds, then cancel them.

        Cancelled jobs go back to `pending` (attempts unchanged) and run at the next start.
        """
        if self._dispatcher is None:
            return
        self._stopping = True
        self._stop_event.set()
        self._wake.set()
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        with contextlib.suppress(Exception):  # a crashed dispatcher was logged by _dispatcher_done
            await self._dispatcher
        self._dispatcher = None
        running = {task for task, _ in self._tasks.values()}
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=max(grace, 0.1))
            for job_id, (_, job) in list(self._tasks.items()):  # ignored cancellation: release anyway
                log.warning("outbox job %d (%s) did not stop when cancelled", job_id, job.handler)
                del self._tasks[job_id]
                self._busy[job.handler] -= 1
                self._finished.append(_Outcome(_RELEASE, job))
        self._generation += 1
        outcomes, self._finished = self._finished, []
        if outcomes:
            try:
                dead = await self._store.transaction(lambda c: self._apply(c, outcomes, self._clock(), self._owner))
                self._writes += 1
                self._notify_dead(dead)
            except Exception as exc:  # the store may already be failing; the jobs will re-run
                log.error("outbox: could not record %d outcome(s) at stop: %s", len(outcomes), type(exc).__name__)
        if self._side_tasks:
            _, late_side = await asyncio.wait(set(self._side_tasks), timeout=grace)
            for task in late_side:
                task.cancel()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(BaseException):
                await self._heartbeat
            self._heartbeat = None

    async def _beat(self) -> None:
        """Keep the leases of the jobs this agent runs alive (shared outbox only)."""
        while True:
            await asyncio.sleep(self._lease / 3)
            ids = list(self._tasks)
            if not ids:
                continue
            rows = [(self._clock() + self._lease, job_id, self._owner) for job_id in ids]
            try:
                await self._store.transaction(functools.partial(_renew, rows), serializable=False)
            except Exception as exc:  # the database is away: the jobs may be taken over (idempotent)
                log.warning("outbox: lease renewal failed (%s)", type(exc).__name__)

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Return once no due job of a registered handler is pending or running.

        Raises TimeoutError after `timeout` seconds, RuntimeError if the outbox is not started.
        """
        if self._dispatcher is None:
            raise RuntimeError("outbox is not started")
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    # -- inspection and dead letters ------------------------------------------------------------
    async def stats(self) -> dict[str, int]:
        """Jobs per state."""
        writes = self._writes
        if self._stats is not None and self._stats[0] == writes and (
                not self._shared or time.monotonic() - self._stats[1] < SHARED_STATS_TTL):
            return dict(self._stats[2])
        if self._stats_query is None or self._stats_query[0] != writes or self._stats_query[1].done():
            self._stats_query = (writes, asyncio.ensure_future(self._query_stats(writes, time.monotonic())))
        return dict(await asyncio.shield(self._stats_query[1]))

    async def _query_stats(self, writes: int, asked_at: float) -> dict[str, int]:
        rows = await self._store.fetchall("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        counts = dict.fromkeys(STATES, 0)
        counts.update({str(r[0]): int(r[1]) for r in rows})
        # Keyed by the writes seen when the query was sent: one that lands meanwhile invalidates it.
        self._stats = (writes, asked_at, counts)
        return counts

    async def unhandled(self) -> dict[str, int]:
        """Pending jobs whose handler is not registered (they wait, attempts untouched): handler -> count."""
        rows = await self._store.fetchall(
            "SELECT handler, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY handler")
        return {str(r[0]): int(r[1]) for r in rows if str(r[0]) not in self._handlers}

    async def dead_letters(self, limit: int = 50) -> list[Job]:
        rows = await self._store.fetchall(
            f"SELECT {_JOB_COLUMNS} FROM outbox WHERE state = 'dead' ORDER BY updated_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [_job(r) for r in rows]

    async def retry(self, job_id: int) -> bool:
        """Move a dead job back to pending, due now, with a fresh attempt budget."""
        now = self._clock()
        changed = await self._store.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?"
            " WHERE id = ? AND state = 'dead'",
            (now, now, job_id),
        )
        self._writes += 1
        if changed:
            self._poke()
        return bool(changed)

    async def hurry(self, handler: str) -> int:
        """Make the pending jobs of `handler` due now (what they waited for is back, e.g. a CPS card);
        their attempt counts are untouched. Returns how many were brought forward."""
        now = self._clock()
        changed = await self._store.execute(
            "UPDATE outbox SET next_attempt_at = ?, updated_at = ? WHERE handler = ? AND state = 'pending'"
            " AND next_attempt_at > ?",
            (now, now, handler, now),
        )
        self._writes += 1
        if changed:
            self._poke()
        return int(changed)

    # -- dispatcher -------------------------------------------------------------------------------
    @staticmethod
    def _dispatcher_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("outbox dispatcher stopped unexpectedly: %s", type(exc).__name__)

    def wake(self) -> None:
        """Look for due jobs now (e.g. a handler's `ready()` just became true)."""
        self._poke()

    def _poke(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def _dispatch(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            outcomes, self._finished = self._finished, []
            free = {n: h.concurrency - self._busy[n] for n, h in self._handlers.items() if self._can_run(h)}
            free = {n: k for n, k in free.items() if k > 0}
            now = self._clock()
            try:
                if outcomes or free:
                    claimed, dead, next_due = await self._store.transaction(
                        functools.partial(self._cycle, outcomes, free, now), serializable=False
                    )
                    self._writes += 1
                else:
                    claimed, dead, next_due = [], [], None
            except Exception as exc:
                self._finished[:0] = outcomes  # keep them for the next try
                failures += 1
                log.error("outbox: store error (%s), retrying", type(exc).__name__)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    # stop() sets `_wake` too; so does a job enqueued meanwhile, a sign the database is back
                    # (after a long outage the backoff would otherwise keep new work waiting for up to 30 s).
                    async with asyncio.timeout(min(30.0, 0.1 * 2**failures)):
                        await self._wake.wait()
                continue
            failures = 0
            for job in claimed:
                if self._stopping:  # claimed during stop(): hand it back untouched
                    self._finished.append(_Outcome(_RELEASE, job))
                else:
                    self._start_job(job)
            self._notify_dead(dead)
            if self._wake.is_set():
                continue
            if not self._tasks and not self._finished and not self._side_tasks:
                self._idle.set()
            longest = _MAX_SLEEP_SHARED if self._shared else _MAX_SLEEP
            timeout = longest if next_due is None else min(longest, max(0.0, next_due - self._clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _cycle(
        self, outcomes: list[_Outcome], free: dict[str, int], now: float, conn: sqlite3.Connection
    ) -> tuple[list[Job], list[Job], float | None]:
        """One transaction on the store thread: record outcomes, then claim due jobs."""
        dead = self._apply(conn, outcomes, now, self._owner)
        claimed: list[Job] = []
        next_due: float | None = None
        lease_until = now + self._lease
        for name, slots in free.items():
            if self._shared:
                rows = conn.execute(_CLAIM_SHARED, (now, self._owner, lease_until, name, now, now, slots)).fetchall()
            else:
                rows = conn.execute(_CLAIM, (now, self._owner, lease_until, name, now, slots)).fetchall()
            claimed.extend(_job(r) for r in rows)
            if len(rows) < slots:  # no due job left: when is the next one? (full handlers wake us)
                nxt = conn.execute(
                    "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending' AND handler = ?",
                    (name,),
                ).fetchone()[0]
                if nxt is not None and (next_due is None or nxt < next_due):
                    next_due = nxt
        claimed.sort(key=lambda j: j.id)
        return claimed, dead, next_due

    @staticmethod
    def _apply(conn: sqlite3.Connection, outcomes: list[_Outcome], now: float, owner: str) -> list[Job]:
        """Write outcomes in a few `executemany`s; return the jobs that became dead.

        Only the lease holder's outcome counts: a job taken over after our lease ran out is the new
        holder's to record."""
        by_kind: dict[str, list[_Outcome]] = {}
        for o in outcomes:
            by_kind.setdefault(o.kind, []).append(o)
        guard = " WHERE id = ? AND state = 'running' AND claimed_by = ?"
        # Back to pending: nobody holds it. Done or dead: `claimed_by` keeps who ran it last.
        free, ended = ", claimed_by = NULL, lease_until = NULL", ", lease_until = NULL"
        if done := by_kind.get(_DONE):
            conn.executemany(
                # The payload may hold patient data and is useless once delivered: drop it now.
                "UPDATE outbox SET state = 'done', payload = '{}', updated_at = ?" + ended + guard,
                [(now, o.job.id, owner) for o in done],
            )
        if release := by_kind.get(_RELEASE):
            conn.executemany(
                "UPDATE outbox SET state = 'pending', updated_at = ?" + free + guard,
                [(now, o.job.id, owner) for o in release],
            )
        if retry := by_kind.get(_RETRY):
            conn.executemany(
                "UPDATE outbox SET state = 'pending', attempts = ?, next_attempt_at = ?, last_error = ?,"
                " updated_at = ?" + free + guard,
                [(o.attempts, o.next_at, o.error, now, o.job.id, owner) for o in retry],
            )
        dead = by_kind.get(_DEAD, [])
        if dead:
            conn.executemany(
                "UPDATE outbox SET state = 'dead', attempts = ?, last_error = ?, updated_at = ?" + ended + guard,
                [(o.attempts, o.error, now, o.job.id, owner) for o in dead],
            )
        return [replace(o.job, attempts=o.attempts, last_error=o.error) for o in dead]

    # -- running handlers ---------------------------------------------------------------------------
    @staticmethod
    def _can_run(spec: _Handler) -> bool:
        if spec.ready is None:
            return True
        try:
            return bool(spec.ready())
        except Exception as exc:
            log.error("outbox: ready() of a handler failed: %s", type(exc).__name__)
            return False

    def _start_job(self, job: Job) -> None:
        spec = self._handlers[job.handler]
        self._busy[job.handler] += 1
        task = asyncio.create_task(self._execute(job, spec, self._generation), name=f"vigie-job-{job.id}")
        self._tasks[job.id] = (task, job)

    async def _execute(self, job: Job, spec: _Handler, generation: int) -> None:
        outcome = _Outcome(_RELEASE, job)
        try:
            await spec.fn(job)
            outcome = _Outcome(_DONE, job)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # cancelled by stop(): the job goes back to pending as is
            outcome = self._failure(job, spec, exc)  # the handler's own CancelledError
        except Exception as exc:
            outcome = self._failure(job, spec, exc)
        finally:
            if generation == self._generation:  # not a straggler from before a stop()
                self._busy[job.handler] -= 1
                self._tasks.pop(job.id, None)
                self._finished.append(outcome)
                self._wake.set()

    def _failure(self, job: Job, spec: _Handler, exc: BaseException) -> _Outcome:
        if isinstance(exc, RetryJobLater) and not exc.count_attempt:
            return _Outcome(_RETRY, job, job.attempts, self._clock() + exc.retry_after, _describe(exc))
        if isinstance(exc, StoreUnavailable):  # the database was away, not the job's fault
            return _Outcome(_RETRY, job, job.attempts, self._clock() + STORE_WAIT, _describe(exc))
        attempts = job.attempts + 1
        error = _describe(exc)
        if isinstance(exc, PermanentJobError) or attempts >= spec.max_attempts:
            return _Outcome(_DEAD, job, attempts, error=error)
        if isinstance(exc, RetryJobLater):
            next_at = self._clock() + exc.retry_after
        else:
            # Full jitter: uniform in [0, min(max_delay, base_delay * 2**(failed attempts before this one))].
            cap = min(spec.max_delay, spec.base_delay * 2 ** min(job.attempts, 62))
            next_at = self._clock() + self._rng.uniform(0.0, cap)
        log.warning(
            "outbox job %d (%s) failed, attempt %d/%d: %s",
            job.id,
            job.handler,
            attempts,
            spec.max_attempts,
            type(exc).__name__,
        )
        return _Outcome(_RETRY, job, attempts, next_at, error)

    def _notify_dead(self, jobs: list[Job]) -> None:
        for job in jobs:
            error_class = (job.last_error or "").split(":", 1)[0]
            log.error(
                "outbox job %d (%s) is dead after %d attempt(s): %s",
                job.id,
                job.handler,
                job.attempts,
                error_class,
            )
            if self._on_dead is None:
                continue
            try:
                result = self._on_dead(job)
            except Exception as exc:
                log.error("outbox on_dead failed for job %d (%s): %s", job.id, job.handler, type(exc).__name__)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(self._await_on_dead(job, result))
                self._side_tasks.add(task)
                task.add_done_callback(self._side_done)

    async def _await_on_dead(self, job: Job, result: Awaitable[None]) -> None:
        try:
            await result
        except Exception as exc:
            log.error("outbox on_dead failed for job %d (%s): %s", job.id, job.handler, type(exc).__name__)

    def _side_done(self, task: asyncio.Task[None]) -> None:
        self._side_tasks.discard(task)
        self._wake.set()
