"""One worker thread for a capability's CPU-bound Python steps (XML trees, XDS metadata, answer parsing).

Why one: `asyncio.to_thread` hands each step to the loop's default executor, so a burst of documents puts
many threads building XML at once; each of them competes with the event loop for the GIL, and the loop's
wake-ups queue behind all of them (the local API's tail latency grows with the number of busy threads).
The work is serial anyway under the GIL, so one lane costs no throughput: the loop competes with one
thread at a time, which the agent's short GIL switch interval (agent/app.py) keeps to about a millisecond.
Steps that may wait (a PIN prompt, the network) never go here; a step that needs a whole core for long goes
to agent/cpu_pool.py (its own process and GIL) instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class CpuLane:
    """`await lane.run(fn, *args, **kwargs)`: `fn` in the lane's single thread (made at first use)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"vigie-cpu-{self._name}")
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Let the running step finish, refuse new ones until the next `run` (which makes a new thread)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
