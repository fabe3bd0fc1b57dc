"""The practice's shared outbox on a real PostgreSQL: several agent processes, kill -9, a database restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import psycopg
import pytest

from tests.pgkit import PgServer

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("pg_outbox_worker.py")
TIMEOUT = 120.0
LEASE = 1.5  # short, so that a killed agent's jobs are taken over quickly in the test


def _spawn(url: str, owner: str, exec_log: Path, n: int, concurrency: int, delay: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [url, owner, exec_log, n, concurrency, delay, LEASE]
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], cwd=ROOT, env=env)


def _count(url: str, sql: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]
    except psycopg.Error:  # not migrated yet, or the server is restarting
        return 0


def _wait(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    try:
        return [p.wait(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


def _effects(url: str) -> Counter[str]:
    with psycopg.connect(url) as conn:
        return Counter(str(k) for (k,) in conn.execute("SELECT key FROM effects"))


def _executions(exec_log: Path) -> list[list[str]]:
    return [line.split() for line in exec_log.read_text().splitlines()]


@pytest.mark.slow
def test_outbox_shared_1000_jobs_across_three_agents_each_done_once(pg_url: str, tmp_path: Path) -> None:
    n = 1000
    exec_log = tmp_path / "exec.log"
    procs = [_spawn(pg_url, f"poste-{i}", exec_log, n, 4, 0.002) for i in range(3)]
    assert _wait(procs) == [0, 0, 0]
    effects = _effects(pg_url)
    keys = {f"job-{i}" for i in range(n)}
    assert set(effects) == keys and set(effects.values()) == {1}
    executions = _executions(exec_log)
    assert len(executions) == n  # nobody died: no job ran twice
    by_owner = Counter(owner for _, owner in executions)
    assert set(by_owner) == {"poste-0", "poste-1", "poste-2"}, by_owner  # all three took a share
    assert _count(pg_url, "SELECT COUNT(*) FROM outbox WHERE state = 'done'") == n


@pytest.mark.slow
def test_outbox_shared_agent_killed_mid_job_another_finishes_once(pg_url: str, tmp_path: Path) -> None:
    n, concurrency = 200, 4
    exec_log = tmp_path / "exec.log"
    a = _spawn(pg_url, "poste-a", exec_log, n, concurrency, 0.05)
    try:
        deadline = time.monotonic() + TIMEOUT
        while _count(pg_url, "SELECT COUNT(*) FROM outbox WHERE state = 'done'") < 20:
            assert a.poll() is None and time.monotonic() < deadline, "agent A made no progress"
            time.sleep(0.01)
        os.kill(a.pid, signal.SIGKILL)
        a.wait(timeout=10)
    finally:
        if a.poll() is None:
            a.kill()
    in_flight = _count(pg_url, "SELECT COUNT(*) FROM outbox WHERE state = 'running' AND claimed_by = 'poste-a'")
    assert 0 < in_flight <= concurrency
    b = _spawn(pg_url, "poste-b", exec_log, n, concurrency, 0.005)
    assert _wait([b]) == [0]

    keys = {f"job-{i}" for i in range(n)}
    effects = _effects(pg_url)
    assert set(effects) == keys and set(effects.values()) == {1}
    runs: dict[str, list[str]] = defaultdict(list)
    for key, owner in _executions(exec_log):
        runs[key].append(owner)
    # Only A's jobs in flight at the kill ran again, by B after their lease ran out; none twice by one agent.
    again = {k: v for k, v in runs.items() if len(v) > 1}
    assert len(again) == in_flight and all(v == ["poste-a", "poste-b"] for v in again.values())
    assert _count(pg_url, "SELECT COUNT(*) FROM outbox WHERE state = 'done'") == n


@pytest.mark.slow
def test_outbox_shared_database_restarted_mid_run_loses_nothing(pg_server: PgServer, pg_url: str,
                                                                tmp_path: Path) -> None:
    n = 300
    exec_log = tmp_path / "exec.log"
    procs = [_spawn(pg_url, f"poste-{i}", exec_log, n, 4, 0.01) for i in range(2)]
    try:
        deadline = time.monotonic() + TIMEOUT
        while _count(pg_url, "SELECT COUNT(*) FROM outbox WHERE state = 'done'") < 50:
            assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, "no progress"
            time.sleep(0.01)
        pg_server.stop("fast")  # every connection drops, in the middle of claims and completions
        time.sleep(1.0)
        pg_server.start()
    except BaseException:
        for p in procs:
            p.kill()
        raise
    assert _wait(procs) == [0, 0]
    effects = _effects(pg_url)
    assert set(effects) == {f"job-{i}" for i in range(n)} and set(effects.values()) == {1}
    assert _count(pg_url, "SELECT COUNT(*) FROM outbox WHERE state = 'done'") == n
