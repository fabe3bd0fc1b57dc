"""kill -9 a real process running outbox jobs, restart it: nothing lost, only in-flight jobs re-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("outbox_worker.py")
N, CONCURRENCY, HANDLER_DELAY = 300, 4, 0.01
KILLS = 2
TIMEOUT = 60.0


def _done_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'done'").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created or not migrated yet
        return 0


def _spawn(tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [tmp_path / "outbox.db", tmp_path / "exec.log", tmp_path / "effects.db", N, CONCURRENCY, HANDLER_DELAY]
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], cwd=ROOT, env=env)


@pytest.mark.slow
def test_outbox_crash_kill9_restart_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    for kill in range(KILLS):
        proc = _spawn(tmp_path)
        try:
            target = _done_count(db) + 40
            deadline = time.monotonic() + TIMEOUT
            while (done := _done_count(db)) < target:
                assert proc.poll() is None, f"worker exited early ({proc.returncode}) before kill {kill + 1}"
                assert time.monotonic() < deadline, "worker made no progress"
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=TIMEOUT)
        assert done < N, "the worker finished before it could be killed: slow the handler down"

    proc = _spawn(tmp_path)  # re-enqueues the same keys: must be a no-op
    try:
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)

    keys = {f"job-{i}" for i in range(N)}
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT idem_key, state FROM outbox").fetchall()
    assert sorted(k for k, _ in rows) == sorted(keys)
    assert {state for _, state in rows} == {"done"}
    with sqlite3.connect(tmp_path / "effects.db") as conn:
        effects = Counter(k for (k,) in conn.execute("SELECT key FROM effects"))
    assert set(effects) == keys and set(effects.values()) == {1}

    executions = [line.split() for line in (tmp_path / "exec.log").read_text().splitlines()]
    pids_by_key: dict[str, list[str]] = defaultdict(list)
    for key, pid in executions:
        pids_by_key[key].append(pid)
    assert set(pids_by_key) == keys
    assert len({pid for _, pid in executions}) == KILLS + 1
    # Only a job in flight at a kill runs again, and then in the next process, never twice in one.
    assert len(executions) - N <= KILLS * CONCURRENCY
    assert all(len(set(pids)) == len(pids) for pids in pids_by_key.values())
