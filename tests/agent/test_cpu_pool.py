"""agent/cpu_pool.py with real worker processes: lazy start, results, timeouts, a killed worker, close."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from agent.cpu_pool import CpuPool, CpuPoolError


def _pid_and_square(n: int) -> tuple[int, int]:
    return os.getpid(), n * n


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "awake"


def _fail() -> None:
    raise ValueError("bad input")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0): look at its state
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:  # gone meanwhile (ENOENT, or ESRCH while reading)
        return False


async def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid) and time.monotonic() < deadline:  # noqa: ASYNC110 (another process: no event to wait on)
        await asyncio.sleep(0.02)
    return not _alive(pid)


async def test_cpu_pool_runs_in_another_process_started_at_first_use() -> None:
    pool = CpuPool("test")
    assert not pool.started and pool.pids() == []
    try:
        pid, square = await pool.run(_pid_and_square, 7)
        assert square == 49 and pid != os.getpid()
        assert pool.started and pool.pids() == [pid]
        again, _ = await pool.run(_pid_and_square, 2)
        assert again == pid  # the worker is reused
    finally:
        await pool.close()
    assert not pool.started


async def test_cpu_pool_passes_the_function_errors_through() -> None:
    pool = CpuPool("test")
    try:
        with pytest.raises(ValueError, match="bad input"):
            await pool.run(_fail)
        assert (await pool.run(_pid_and_square, 3))[1] == 9  # the worker survives its call's exception
    finally:
        await pool.close()


async def test_cpu_pool_timeout_kills_the_stuck_worker_and_the_next_call_gets_a_new_one() -> None:
    pool = CpuPool("test", timeout=30.0)
    try:
        first, _ = await pool.run(_pid_and_square, 1)
        with pytest.raises(TimeoutError):
            await pool.run(_sleep, 60.0, timeout=0.5)
        assert await _gone(first)
        second, square = await pool.run(_pid_and_square, 4)
        assert square == 16 and second != first
    finally:
        await pool.close()


async def test_cpu_pool_worker_killed_from_outside_fails_its_call_then_recovers() -> None:
    pool = CpuPool("test")
    try:
        pid, _ = await pool.run(_pid_and_square, 1)
        os.kill(pid, signal.SIGKILL)
        assert await _gone(pid)
        with pytest.raises(CpuPoolError):
            await pool.run(_sleep, 0.0)
        other, square = await pool.run(_pid_and_square, 5)
        assert square == 25 and other != pid
    finally:
        await pool.close()


async def test_cpu_pool_close_ends_the_workers() -> None:
    pool = CpuPool("test")
    pid, _ = await pool.run(_pid_and_square, 1)
    await pool.close()
    assert await _gone(pid)
    with pytest.raises(ValueError):
        CpuPool("bad", workers=0)
