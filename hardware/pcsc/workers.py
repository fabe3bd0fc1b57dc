"""One worker thread per reader for blocking card I/O, awaited from asyncio.

Card exchanges of one reader are serialised (a card talks to one host exchange at a time) while two
readers (bi-fente, CPS + Vitale) work in parallel; the event loop never blocks on a card.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ReaderWorkers:
    def __init__(self) -> None:
        self._pools: dict[str, ThreadPoolExecutor] = {}

    async def run(self, reader: str, fn: Callable[..., T], *args: Any) -> T:
        pool = self._pools.get(reader)
        if pool is None:
            pool = self._pools[reader] = ThreadPoolExecutor(1, thread_name_prefix=f"card-{len(self._pools)}")
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(fn, *args))

    def drop(self, reader: str) -> None:
        pool = self._pools.pop(reader, None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        for reader in list(self._pools):
            self.drop(reader)
