"""SQLite store: WAL mode, versioned migrations, file mode 0600, never touched on the event loop.

One connection lives in one dedicated thread (SQLite connections are not shareable across threads
and serialising writers ourselves avoids SQLITE_BUSY). Async callers hand it functions through
`Store.run`; the loop only awaits a future. Plugins add tables through `register_migrations`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent.errors import RegistrationError

T = TypeVar("T")
MigrationStep = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: int
    step: MigrationStep


# The host's own tables. Plugins use their own namespace.
CORE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "agent",
        1,
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE api_clients (
            id INTEGER PRIMARY KEY,
            client_name TEXT NOT NULL,
            origin TEXT,
            token_sha256 TEXT NOT NULL UNIQUE,
            scopes TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_used_at REAL,
            revoked_at REAL
        );
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            handler TEXT NOT NULL,
            idem_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE INDEX outbox_due ON outbox (state, handler, next_attempt_at);
        """,
    ),
    # Leases: which workstation runs a job and until when it is presumed alive (the shared outbox).
    Migration(
        "agent",
        2,
        """
        ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
        ALTER TABLE outbox ADD COLUMN lease_until REAL;
        """,
    ),
    # Operations a workstation kept in its local spool while the shared database was away
    # (agent/spool.py), by id, written in the transaction that merges each: never applied twice.
    Migration(
        "agent",
        3,
        """
        CREATE TABLE spool_applied (
            op_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            created_at REAL NOT NULL,
            applied_at REAL NOT NULL
        );
        """,
    ),
)


class MigrationRegistry:
    """Collects migrations (the `register` passed to `register_migrations`) and refuses duplicates."""

    def __init__(self, initial: Iterable[Migration] = CORE_MIGRATIONS) -> None:
        self._items: dict[tuple[str, int], Migration] = {}
        for m in initial:
            self.register(m.namespace, m.version, m.step)

    def register(self, namespace: str, version: int, migration: MigrationStep) -> None:
        if not namespace or not isinstance(version, int) or version < 1:
            raise RegistrationError(f"migration {namespace!r} v{version!r}: namespace and version >= 1")
        if (namespace, version) in self._items:
            raise RegistrationError(f"migration {namespace} v{version} registered twice")
        self._items[(namespace, version)] = Migration(namespace, version, migration)

    def ordered(self) -> list[Migration]:
        return sorted(self._items.values(), key=lambda m: (m.namespace != "agent", m.namespace, m.version))


def _create_private_file(path: Path) -> None:
    """Create the database (and its WAL/SHM companions) readable by the user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o700) if path.parent.stat().st_uid == os.getuid() else None
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        os.chmod(p, 0o600)  # an existing file may have been created with a looser umask


class Store:
    """The agent's SQLite database, reached from asyncio through one worker thread."""

    dialect = "sqlite"
    shared = False  # one agent owns the file (the PostgreSQL back-end is shared by the practice)

    def __init__(self, path: Path | str, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    def describe(self) -> str:
        return str(self.path)

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self, migrations: MigrationRegistry | None = None) -> list[tuple[str, int]]:
        """Open (creating if needed) and migrate; returns the migrations applied now."""
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vigie-store")
        await self.run(self._open_sync)
        return await self.run(self.migrate_sync, migrations or MigrationRegistry())

    async def close(self) -> None:
        if self._executor is None:
            return
        with contextlib.suppress(Exception):
            await self.run(self._close_sync)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _open_sync(self) -> None:
        if str(self.path) != ":memory:":
            _create_private_file(self.path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so a unit of work is one transaction.
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=True)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (kill -9); FULL also survives power loss.
        conn.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- running work on the store thread ---------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the store thread (`fn` may use `self.conn`)."""
        if self._executor is None:
            raise RuntimeError("store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection; only valid inside functions passed to `run`/`transaction`."""
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    async def transaction(self, fn: Callable[[sqlite3.Connection], T], *, serializable: bool = True) -> T:
        """Run `fn(conn)` in one transaction on the store thread; rolled back if it raises.

        `serializable` matters to the shared back-end only: SQLite has one writer at a time anyway.
        """
        return await self.run(self.transaction_sync, fn)

    def transaction_sync(self, fn: Callable[[sqlite3.Connection], T], *, serializable: bool = True) -> T:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement in its own transaction; returns the row count (or lastrowid for INSERT)."""

        def work(conn: sqlite3.Connection) -> int:
            cur = conn.execute(sql, params)
            return cur.lastrowid if sql.lstrip().upper().startswith("INSERT") and cur.lastrowid else cur.rowcount

        return await self.transaction(work)

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return await self.run(lambda: self.conn.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        return await self.run(lambda: self.conn.execute(sql, params).fetchone())

    # -- migrations ----------------------------------------------------------------------------
    def migrate_sync(self, registry: MigrationRegistry) -> list[tuple[str, int]]:
        conn = self.conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " namespace TEXT NOT NULL, version INTEGER NOT NULL, applied_at REAL NOT NULL,"
            " PRIMARY KEY (namespace, version))"
        )
        done = {(r[0], r[1]) for r in conn.execute("SELECT namespace, version FROM schema_migrations")}
        applied: list[tuple[str, int]] = []
        for m in registry.ordered():
            if (m.namespace, m.version) in done:
                continue
            # executescript would COMMIT implicitly; run statements one by one inside our BEGIN.
            def apply(c: sqlite3.Connection, m: Migration = m) -> None:
                if isinstance(m.step, str):
                    for statement in split_sql(m.step):
                        c.execute(statement)
                else:
                    m.step(c)
                c.execute(
                    "INSERT INTO schema_migrations (namespace, version, applied_at) VALUES (?, ?, ?)",
                    (m.namespace, m.version, time.time()),
                )

            self.transaction_sync(apply)
            applied.append((m.namespace, m.version))
        return applied

    # -- settings (small key/value, JSON-encoded by callers) -----------------------------------
    async def get_setting(self, key: str) -> str | None:
        row = await self.fetchone("SELECT value FROM settings WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def set_setting(self, key: str, value: str) -> None:
        await self.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, time.time()),
        )


def split_sql(script: str) -> list[str]:
    """Split a migration script on `;` at statement ends (sqlite3.complete_statement aware)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip().strip(";").strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements


StoreBackend = Any  # `Store` (SQLite) or `agent.store_pg.PostgresStore`: the same methods


def make_store(url: str | None, path: Path | str, *, fsync: bool = False, pool_size: int = 4) -> StoreBackend:
    """The store the configuration names: PostgreSQL for `[store] url = "postgresql://…"` (the practice
    shares it), else the embedded SQLite file at `path` (one workstation, the default)."""
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("store url must start with postgresql://")
        from agent.store_pg import PostgresStore  # psycopg is imported only by practices that use it

        return PostgresStore(url, pool_size=pool_size)
    return Store(path, fsync=fsync)
