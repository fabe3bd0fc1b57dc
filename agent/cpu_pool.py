"""A small process pool for CPU-bound Python work that a worker thread would run holding the GIL.

Why not a thread: the event loop shares the GIL with the worker threads. While a thread runs Python code
(the email package composing a MIME message, the XDM zip and its XML), every wake-up of the loop waits for
the GIL (CPython hands it over only every switch interval, and not necessarily to the loop), so the local
API stalls for tens of milliseconds while documents are mailed. A separate process has its own GIL.

- Lazy: no process until the first `run` (an agent that never mails never starts one).
- Bounded: `workers` processes (default 1: on a 2-core workstation the other core is the loop's).
- Timeouts: a call that outlives its timeout raises `TimeoutError` and its worker is killed (the pool is made
  again at the next call); a worker that dies (killed, out of memory) raises `CpuPoolError` for the calls
  it held, and the next call starts a fresh pool.
- `close()` ends the workers (the owner calls it when it stops; a later `run` starts them again).
- `spawn`, never `fork` (a forked child of a threaded process can inherit held locks); the frozen build's
  entry point (installer/vigie_entry.py) calls `multiprocessing.freeze_support()` for its children.

`fn` must be a module-level function and its arguments and result picklable. As with any `spawn` pool, the
program's main module is imported again in each worker, so it must keep its work under
`if __name__ == "__main__"` (agent/cli.py, installer/vigie_entry.py and `python -m bench` do).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_TIMEOUT = 120.0  # seconds; a 5 MB attachment composes in well under a second


class CpuPoolError(RuntimeError):
    """The worker process ended before answering (killed, out of memory)."""


class CpuPool:
    def __init__(self, name: str, *, workers: int = 1, timeout: float = DEFAULT_TIMEOUT) -> None:
        if workers < 1 or timeout <= 0:
            raise ValueError("a CPU pool needs at least one worker and a positive timeout")
        self.name = name
        self._workers = workers
        self._timeout = timeout
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def pids(self) -> list[int]:
        """The live workers' process ids (the tests look at them)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.pid is not None]

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self._workers, mp_context=multiprocessing.get_context("spawn"))
        pool = self._pool
        # submit() starts the worker processes at the first call (fork+exec, then the pickling is done by
        # the pool's own thread): in a thread, so the loop never waits for a process to start.
        try:
            future = await asyncio.to_thread(pool.submit, fn, *args)  # raises at once if the pool is broken
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout or self._timeout)
        except TimeoutError:
            log.warning("%s: a call outlived its timeout; its worker is stopped", self.name)
            self._discard(pool, kill=True)
            raise
        except BrokenProcessPool:
            self._discard(pool, kill=False)
            raise CpuPoolError(f"{self.name}: worker process ended") from None

    def _discard(self, pool: concurrent.futures.ProcessPoolExecutor, *, kill: bool) -> None:
        if self._pool is pool:
            self._pool = None
        if kill:
            # ProcessPoolExecutor cannot cancel a running call: end its processes (Python 3.14 has
            # terminate_workers(); before it, the processes map is the only handle).
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """End the workers (a later `run` would start a new pool)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
