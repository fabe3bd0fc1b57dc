"""The qualification audit trail is append-only in the database itself, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.store import MigrationRegistry, make_store
from plugins.ins import repository as repo


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    s = make_store(url, tmp_path / "a.db")
    migrations = MigrationRegistry()
    for version, step in repo.MIGRATIONS.items():
        migrations.register(repo.NAMESPACE, version, step)
    await s.open(migrations)
    yield s
    await s.close()


async def test_ins_audit_lines_cannot_be_changed_or_removed(store: Any) -> None:
    def write(conn: Any) -> None:
        conn.execute("INSERT INTO ins_identities (id, source, status, traits, traits_key, created_at, updated_at)"
                     " VALUES ('i1', 'lgc', 'QUAL', '{}', 'k', 0, 0)")
        repo.audit(conn, "i1", actor={"kind": "ps"}, action="qualified", method="attestation",
                   status_before="RECUP", status_after="QUAL")

    await store.transaction(write)
    for statement in ("UPDATE ins_audit SET action = 'created'", "DELETE FROM ins_audit"):
        with pytest.raises(Exception, match="ajout seul"):
            await store.execute(statement)
    rows = await store.fetchall("SELECT action, status_after FROM ins_audit")
    assert [tuple(r) for r in rows] == [("qualified", "QUAL")]
    await store.transaction(lambda c: repo.audit(c, "i1", actor={"kind": "ps"}, action="viewed"))
    assert (await store.fetchone("SELECT COUNT(*) FROM ins_audit"))[0] == 2  # appending still works
