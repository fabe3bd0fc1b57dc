from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from agent.errors import RegistrationError
from agent.store import MigrationRegistry, Store


async def test_store_wal_private_file_and_core_tables(tmp_path: Path) -> None:
    store = Store(tmp_path / "d" / "v.db")
    applied = await store.open()
    try:
        assert ("agent", 1) in applied
        assert (await store.fetchone("PRAGMA journal_mode"))[0] == "wal"
        tables = {r[0] for r in await store.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"outbox", "api_clients", "settings", "schema_migrations"} <= tables
        await store.set_setting("k", "v")
    finally:
        await store.close()
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{tmp_path / 'd' / 'v.db'}{suffix}")
        if p.exists():
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


async def test_store_tightens_existing_loose_file(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    path.touch()
    os.chmod(path, 0o644)
    store = Store(path)
    await store.open()
    await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_store_migrations_applied_once_in_order(tmp_path: Path) -> None:
    def v2(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO demo_items (v) VALUES ('from v2')")

    def registry() -> MigrationRegistry:
        reg = MigrationRegistry()
        reg.register("demo", 2, v2)
        reg.register("demo", 1, "CREATE TABLE demo_items (id INTEGER PRIMARY KEY, v TEXT);\n")
        return reg

    store = Store(tmp_path / "v.db")
    assert [m for m in await store.open(registry()) if m[0] == "demo"] == [("demo", 1), ("demo", 2)]
    await store.close()
    store = Store(tmp_path / "v.db")
    assert await store.open(registry()) == []
    assert [r[0] for r in await store.fetchall("SELECT v FROM demo_items")] == ["from v2"]
    await store.close()


async def test_store_failed_migration_rolls_back(tmp_path: Path) -> None:
    reg = MigrationRegistry()
    reg.register("demo", 1, "CREATE TABLE ok_table (id INTEGER);\nCREATE TABLE broken (;\n")
    store = Store(tmp_path / "v.db")
    with pytest.raises(sqlite3.OperationalError):
        await store.open(reg)
    tables = {r[0] for r in await store.fetchall("SELECT name FROM sqlite_master")}
    assert "ok_table" not in tables
    await store.close()


def test_store_duplicate_migration_refused() -> None:
    reg = MigrationRegistry()
    reg.register("demo", 1, "SELECT 1;")
    with pytest.raises(RegistrationError):
        reg.register("demo", 1, "SELECT 2;")


async def test_store_work_never_runs_on_the_loop_thread(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    await store.open()
    seen = await store.run(lambda: threading.current_thread().name)
    await store.close()
    assert seen.startswith("vigie-store") and seen != threading.current_thread().name
