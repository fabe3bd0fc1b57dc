"""PostgreSQL back-end of the store: the whole practice shares one database (`[store] url`).

Same contract as the SQLite `Store` (agent/store.py): callers hand functions to `run`/`transaction`,
which execute them in worker threads with a connection that speaks the SQLite-flavoured SQL the
plugins write (`?` placeholders, rows readable by index and by name); see agent/sqldialect.py.

Why threads and a sync pool rather than an async driver: every repository in the tree is written as
plain functions over a connection, run off the loop; keeping that shape means one code path for both
engines, tested on both. The loop only awaits futures.

Transactions are SERIALIZABLE and retried on a serialization failure or deadlock, so concurrent edits
from several workstations behave as if run one after another (what SQLite's `BEGIN IMMEDIATE` gives
one agent): no lost qualification, no lost audit line. Transaction functions must therefore be
re-runnable (they are: they read and write the database and build a result, nothing else).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from agent.errors import StoreUnavailable
from agent.sqldialect import insert_table, to_pyformat, translate_ddl
from agent.store import MigrationRegistry, Store, split_sql

T = TypeVar("T")
log = logging.getLogger("agent.store")

MIGRATION_LOCK = 0x76696769  # pg_advisory_xact_lock key: agents starting together migrate one by one
SERIALIZATION_RETRIES = 40  # contention between a few workstations; each retry waits a little longer
CONNECT_TIMEOUT = 5.0
STATEMENT_TIMEOUT_MS = 30_000


class Row(tuple[Any, ...]):
    """A result row readable like `sqlite3.Row`: `row[0]`, `row["name"]`, `dict(row)`."""

    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names.index(key))
            except ValueError:
                raise IndexError(f"no such column: {key}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    names = tuple(c.name for c in (cursor.description or ()))
    cls = type("Row", (Row,), {"_names": names, "__slots__": ()})

    def make(values: Sequence[Any]) -> Row:
        return cast(Row, cls(values))

    return make


def _params(params: Sequence[Any] | Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
    # SQLite stores booleans as integers and our columns are INTEGER: keep them integers here too.
    if isinstance(params, Mapping):
        return {k: int(v) if isinstance(v, bool) else v for k, v in params.items()}
    return tuple(int(v) if isinstance(v, bool) else v for v in params)


class PgCursor:
    """The part of `sqlite3.Cursor` the tree uses: fetchone/fetchall/iteration, rowcount, lastrowid."""

    def __init__(self, cursor: Any, lastrowid: int | None = None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid
        self.rowcount: int = cursor.rowcount

    def fetchone(self) -> Row | None:
        return cast("Row | None", self._cursor.fetchone()) if self._cursor.description else None

    def fetchall(self) -> list[Row]:
        return cast("list[Row]", self._cursor.fetchall()) if self._cursor.description else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class PgConnection:
    """A psycopg connection behind the `sqlite3.Connection` methods our repositories call."""

    dialect = "postgresql"

    def __init__(self, raw: Any, identity_tables: set[str]) -> None:
        self.raw = raw
        self._identity_tables = identity_tables

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> PgCursor:
        table = insert_table(sql)
        wants_id = table is not None and table in self._identity_tables
        query = to_pyformat(sql, isinstance(params, Mapping))
        if wants_id:
            query += " RETURNING id"  # sqlite3's lastrowid, asked of PostgreSQL explicitly
        cur = self.raw.execute(query, _params(params))
        lastrowid = None
        if wants_id and cur.rowcount == 1:
            lastrowid = int(cur.fetchone()[0])
        return PgCursor(cur, lastrowid)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> PgCursor:
        cur = self.raw.cursor()
        cur.executemany(to_pyformat(sql), [_params(p) for p in seq])
        return PgCursor(cur)


def _configure(conn: Any) -> None:
    conn.row_factory = _row_factory
    conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")


_RETRYABLE: tuple[type[BaseException], ...] = ()


def _retryable() -> tuple[type[BaseException], ...]:
    global _RETRYABLE
    if not _RETRYABLE:
        from psycopg import errors

        _RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)
    return _RETRYABLE


class PostgresStore:
    """The practice's shared database; interface of `agent.store.Store` (see its docstrings)."""

    dialect = "postgresql"
    shared = True  # other agents use the same tables (the outbox leases its jobs)

    def __init__(self, url: str, *, pool_size: int = 4, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.url = url
        self.pool_size = max(2, pool_size)
        self.connect_timeout = connect_timeout
        self._pool: Any = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._identity_tables: set[str] = set()
        self._rng = random.Random()
        self.available = True  # the last call reached the database (agent.info, the tray)

    def describe(self) -> str:
        """The database's address without its password (for `vigie doctor` and logs)."""
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(self.url)
        return f"postgresql://{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self, migrations: Any = None) -> list[tuple[str, int]]:
        self._executor = concurrent.futures.ThreadPoolExecutor(self.pool_size, thread_name_prefix="vigie-pg")
        await self.run_raw(self._open_sync)
        return await self.run(self.migrate_sync, migrations or MigrationRegistry())

    def _open_sync(self) -> None:
        import psycopg_pool

        self._pool = psycopg_pool.ConnectionPool(
            self.url, min_size=1, max_size=self.pool_size, open=False, configure=_configure,
            kwargs={"autocommit": True, "connect_timeout": int(self.connect_timeout)},
            check=psycopg_pool.ConnectionPool.check_connection, timeout=self.connect_timeout,
            name="vigie-store",
        )
        try:
            self._pool.open(wait=True, timeout=self.connect_timeout)
        except Exception as exc:
            self._pool.close()
            self._pool = None
            raise StoreUnavailable(type(exc).__name__) from exc

    async def close(self) -> None:
        if self._executor is None:
            return
        if self._pool is not None:
            pool, self._pool = self._pool, None
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(self._executor, pool.close)
        self._executor.shutdown(wait=True)
        self._executor = None

    # -- running work in the worker threads ---------------------------------------------------
    async def run_raw(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in a worker with a pooled connection (`self.conn` inside `fn`)."""
        return await self.run_raw(self._with_connection, fn, args)

    def _with_connection(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        if getattr(self._local, "conn", None) is not None:  # nested (a run inside a run)
            return fn(*args)
        if self._pool is None:
            raise RuntimeError("store is not open")
        import psycopg

        try:
            if self.available:
                with self._pool.connection(timeout=self.connect_timeout) as raw:
                    result = self._call(raw, fn, args)
            else:
                # The pool waits out its own reconnection backoff (up to many seconds after an outage):
                # while the database was away, each call tries a connection of its own, which fails at
                # once while the server is down and succeeds as soon as it is back.
                with psycopg.connect(self.url, autocommit=True, connect_timeout=int(self.connect_timeout)) as raw:
                    _configure(raw)
                    result = self._call(raw, fn, args)
                # Back: drop the pool's connections broken by the outage before it is used again.
                self._pool.check()
            self._set_available(True)
            return result
        except _retryable():
            raise  # contention, not an outage: the caller's retry policy applies
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self._set_available(False)
            raise StoreUnavailable(type(exc).__name__) from exc
        except Exception as exc:
            if type(exc).__name__ == "PoolTimeout":
                self._set_available(False)
                raise StoreUnavailable("PoolTimeout") from exc
            raise

    def _call(self, raw: Any, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        self._local.conn = PgConnection(raw, self._identity_tables)
        try:
            return fn(*args)
        finally:
            self._local.conn = None

    def _set_available(self, available: bool) -> None:
        if available != self.available:
            self.available = available
            if available:
                log.warning("store: the practice database answers again")
            else:
                log.error("store: the practice database is unreachable; work waits for it")

    @property
    def conn(self) -> PgConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            raise RuntimeError("store connection used outside run()/transaction()")
        return cast(PgConnection, conn)

    async def transaction(self, fn: Callable[[Any], T], *, serializable: bool = True) -> T:
        return await self.run(lambda: self.transaction_sync(fn, serializable=serializable))

    def transaction_sync(self, fn: Callable[[Any], T], *, serializable: bool = True) -> T:
        """`serializable=False` (READ COMMITTED) is for queue claims with `FOR UPDATE SKIP LOCKED`,
        whose row locks already keep two agents off the same job."""
        import psycopg

        conn = self.conn
        raw = conn.raw
        level = psycopg.IsolationLevel.SERIALIZABLE if serializable else psycopg.IsolationLevel.READ_COMMITTED
        for attempt in range(SERIALIZATION_RETRIES):
            try:
                if raw.isolation_level != level:
                    raw.isolation_level = level
                with raw.transaction():
                    return fn(conn)
            except _retryable():
                if attempt == SERIALIZATION_RETRIES - 1:
                    raise
                # Another workstation wrote the same rows: run the unit of work again on fresh data.
                time.sleep(self._rng.uniform(0, min(0.05, 0.001 * 2**attempt)))
        raise AssertionError("unreachable")

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        def work(conn: PgConnection) -> int:
            cur = conn.execute(sql, params)
            return cur.lastrowid if cur.lastrowid is not None else cur.rowcount

        return await self.transaction(work)

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        return await self.run(lambda: self.conn.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Row | None:
        return await self.run(lambda: self.conn.execute(sql, params).fetchone())

    # -- migrations ----------------------------------------------------------------------------
    def migrate_sync(self, registry: Any) -> list[tuple[str, int]]:
        conn = self.conn
        applied: list[tuple[str, int]] = []

        def work(c: PgConnection) -> None:
            applied.clear()
            c.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            c.execute("CREATE TABLE IF NOT EXISTS schema_migrations (namespace TEXT NOT NULL,"
                      " version BIGINT NOT NULL, applied_at DOUBLE PRECISION NOT NULL,"
                      " PRIMARY KEY (namespace, version))")
            done = {(r[0], r[1]) for r in c.execute("SELECT namespace, version FROM schema_migrations")}
            for m in registry.ordered():
                if (m.namespace, m.version) in done:
                    continue
                if isinstance(m.step, str):
                    for statement in split_sql(m.step):
                        c.raw.execute(translate_ddl(statement))
                else:
                    m.step(c)
                c.execute("INSERT INTO schema_migrations (namespace, version, applied_at) VALUES (?, ?, ?)",
                          (m.namespace, m.version, time.time()))
                applied.append((m.namespace, m.version))

        # One transaction for the whole set: an agent that starts during another's migration waits
        # on the advisory lock, then sees them applied. READ COMMITTED on purpose: a SERIALIZABLE
        # snapshot would be taken before the lock is granted and miss the other agent's migrations.
        self.transaction_sync(work, serializable=False)
        self._refresh_identity_tables(conn)
        return list(applied)

    def _refresh_identity_tables(self, conn: PgConnection) -> None:
        rows = conn.execute("SELECT table_name FROM information_schema.columns WHERE column_name = 'id'"
                            " AND is_identity = 'YES' AND table_schema = current_schema()").fetchall()
        self._identity_tables.clear()
        self._identity_tables.update(str(r[0]).lower() for r in rows)

    # -- cross-workstation notifications ----------------------------------------------------------
    def listen(self, channel: str, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(payload)` (from a listener thread) for each NOTIFY on `channel`, by any agent.

        One dedicated connection per channel, reconnected with backoff when the database goes away;
        returns a function that stops listening. Notifications sent while disconnected are lost
        (PostgreSQL keeps none): listeners re-read the state they care about, never trust a count.
        """
        stop = threading.Event()
        thread = threading.Thread(target=self._listen_loop, args=(channel, callback, stop),
                                  name=f"vigie-pg-listen-{channel}", daemon=True)
        thread.start()

        def unlisten() -> None:
            stop.set()

        return unlisten

    def _listen_loop(self, channel: str, callback: Callable[[str], None], stop: threading.Event) -> None:
        import psycopg
        from psycopg import sql

        delay = 0.2
        while not stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=int(self.connect_timeout)) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    delay = 0.2
                    callback("")  # (re)connected: whatever was missed meanwhile, look again
                    while not stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=64):
                            callback(note.payload)
            except Exception as exc:
                if stop.is_set():
                    return
                log.warning("store: listening on %s lost (%s); reconnecting", channel, type(exc).__name__)
                stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def notify(self, conn: PgConnection, channel: str, payload: str) -> None:
        """NOTIFY `channel` from inside a transaction (delivered to listeners when it commits)."""
        conn.execute("SELECT pg_notify(?, ?)", (channel, payload))

    # -- settings: the same SQL as SQLite's, so the same methods -----------------------------------
    get_setting = Store.get_setting
    set_setting = Store.set_setting
