"""A private PostgreSQL server per test process, and one fresh database per test (sandbox/practice_db.py).

Tests that need it take `pg_url` (a new empty database each) or `pg_server` (to stop/start the server
under a running agent). Without the server binaries the tests are skipped with the reason shown.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.practice_db import NoPostgres, PgServer, start_server

__all__ = ["PgServer", "pg_server", "pg_url"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        server = start_server("vigie-test-pg-")
    except NoPostgres as exc:
        pytest.skip(f"{exc} (.ci/run installs it)")
    yield server
    server.destroy()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new, empty database on this process's private server."""
    return pg_server.url(pg_server.create_database())
