"""The local spool under kill -9, on a real PostgreSQL: work kept while the database is away survives the
agent's death, and a merge killed half-way never applies an operation twice (agent/spool.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.pgkit import PgServer

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("pg_spool_worker.py")
TIMEOUT = 120.0
N = 400


def _spawn(*args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)


def _spooled(spool_file: Path) -> Counter[str]:
    with sqlite3.connect(spool_file) as conn:
        return Counter(str(k) for (k,) in conn.execute("SELECT kind FROM spool_ops"))


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _until(predicate: object, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():  # type: ignore[operator]
        assert proc is None or proc.poll() is None, f"worker exited early ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"{what}: not reached"
        time.sleep(0.02)


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)


def _count(url: str, sql: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]
    except psycopg.Error:
        return 0


@pytest.mark.slow
def test_spool_survives_kill9_and_a_killed_merge_applies_nothing_twice(
        pg_server: PgServer, pg_url: str, tmp_path: Path) -> None:
    spool_file, progress, exec_log = tmp_path / "spool.db", tmp_path / "progress", tmp_path / "exec.log"
    a = _spawn("spool", pg_url, spool_file, progress, N)
    try:
        assert a.stdout is not None and a.stdout.readline().strip() == "ready"
        _until(lambda: len(_lines(progress)) >= 5, "some work done with the database up", a)
        pg_server.stop("fast")
        try:
            # The database is away: the worker keeps starting work, which lands in its spool...
            _until(lambda: spool_file.exists() and _spooled(spool_file)["outbox.enqueue"] >= 20, "work spooled", a)
            _kill(a)  # ...and dies with it there.
            kept = _spooled(spool_file)
            assert kept["outbox.enqueue"] >= 20 and kept["test.audit"] >= 20, kept
        finally:
            pg_server.start()
    finally:
        if a.poll() is None:
            a.kill()
            a.wait(timeout=TIMEOUT)
    done = [int(i) for i in _lines(progress)]
    assert len(done) < N, "the worker finished before the database went away: slow it down"

    # The database is back. A merge that is killed after a few operations were applied...
    b = _spawn("merge", pg_url, spool_file, exec_log, 0.1)
    try:
        _until(lambda: _count(pg_url, "SELECT COUNT(*) FROM spool_applied") >= 4, "part of the merge", b)
        _kill(b)
    finally:
        if b.poll() is None:
            b.kill()
            b.wait(timeout=TIMEOUT)
    applied = _count(pg_url, "SELECT COUNT(*) FROM spool_applied")
    assert 0 < applied < sum(kept.values()), "the merge ended before it could be killed: slow it down"

    # ...is finished by the next start, and everything is there exactly once.
    c = _spawn("merge", pg_url, spool_file, exec_log, 0.0)
    try:
        assert c.wait(timeout=TIMEOUT) == 0
    finally:
        if c.poll() is None:
            c.kill()
            c.wait(timeout=TIMEOUT)
    assert sum(_spooled(spool_file).values()) == 0
    assert _count(pg_url, "SELECT COUNT(*) FROM spool_applied") == sum(kept.values())
    with psycopg.connect(pg_url) as conn:
        audit = Counter(str(k) for (k,) in conn.execute("SELECT key FROM audit_lines"))
        jobs = Counter(str(k) for (k,) in conn.execute("SELECT idem_key FROM outbox"))
    assert all(n == 1 for n in audit.values()), [k for k, n in audit.items() if n > 1]
    for i in done:  # every piece of work the worker reported, before and during the outage
        assert audit[f"audit-{i}"] == 1 and jobs[f"job-{i}"] == 1, i
    runs = Counter(_lines(exec_log))
    assert set(runs) == set(jobs) and all(n == 1 for n in runs.values())  # each job ran, once
