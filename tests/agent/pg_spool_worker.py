"""Subprocess entry for test_spool_kill: one workstation's agent-like process with a local spool.

    python pg_spool_worker.py spool URL SPOOL_FILE PROGRESS N
    python pg_spool_worker.py merge URL SPOOL_FILE EXEC_LOG SLOW

`spool`: for i in 0..N-1, writes an append-only audit line `audit-i` (a table without a unique key, so a
line applied twice would show) and enqueues job `job-i`; either goes to the local spool when the database
is away (the audit line by hand, the job by the outbox itself). After each i, appends "i" to PROGRESS.
Then waits to be killed.

`merge`: merges the spool (SLOW seconds inside each operation's transaction, so a test can kill -9 it
mid-merge), then runs the jobs (the handler appends the key to EXEC_LOG) and exits 0 once the spool is
empty and no job is pending or running.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from agent.errors import StoreUnavailable
from agent.outbox import SPOOL_KIND, Job, Outbox, merge_spooled
from agent.spool import Spool, SpoolMerger, SpoolOp
from agent.store import Migration, MigrationRegistry, make_store

AUDIT = [Migration("audit", 1, "CREATE TABLE audit_lines (key TEXT NOT NULL, at REAL NOT NULL)")]
AUDIT_KIND = "test.audit"


def _write_line(conn: Any, key: str) -> None:
    conn.execute("INSERT INTO audit_lines (key, at) VALUES (?, ?)", (key, time.time()))


async def spool_mode(url: str, spool_file: str, progress: str, n: int) -> int:
    store = make_store(url, "unused")
    await store.open(MigrationRegistry([*MigrationRegistry().ordered(), *AUDIT]))
    spool = Spool(spool_file)
    await spool.open()
    outbox = Outbox(store, owner="accueil")
    outbox.spool = spool
    fd = os.open(progress, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    print("ready", flush=True)
    for i in range(n):
        key = f"audit-{i}"
        try:
            await store.transaction(lambda c, key=key: _write_line(c, key))
        except StoreUnavailable:
            await spool.add(AUDIT_KIND, {"key": key})
        await outbox.enqueue("work", {"i": i}, key=f"job-{i}")
        os.write(fd, f"{i}\n".encode())
        await asyncio.sleep(0.02)
    await asyncio.sleep(3600)  # the test kills us
    return 0


async def merge_mode(url: str, spool_file: str, exec_log: str, slow: float) -> int:
    store = make_store(url, "unused")
    await store.open(MigrationRegistry([*MigrationRegistry().ordered(), *AUDIT]))
    spool = Spool(spool_file)
    await spool.open()
    merger = SpoolMerger(store, spool)

    def slowly(apply: Any) -> Any:
        def run(conn: Any, op: SpoolOp) -> Any:
            time.sleep(slow)  # inside the transaction: a kill here leaves nothing applied
            return apply(conn, op)
        return run

    merger.register(SPOOL_KIND, slowly(merge_spooled))
    merger.register(AUDIT_KIND, slowly(lambda conn, op: _write_line(conn, str(op.payload["key"]))))
    await merger.merge()
    fd = os.open(exec_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    async def handler(job: Job) -> None:
        os.write(fd, f"{job.key}\n".encode())

    outbox = Outbox(store, owner="accueil")
    outbox.register("work", handler, concurrency=4)
    await outbox.start()
    while True:
        stats = await outbox.stats()
        if stats["pending"] == 0 and stats["running"] == 0:
            break
        await asyncio.sleep(0.05)
    await outbox.stop()
    await spool.close()
    await store.close()
    return 0 if spool.count == 0 else 1


if __name__ == "__main__":
    mode, url, spool_file, path, arg = sys.argv[1:6]
    if mode == "spool":
        sys.exit(asyncio.run(spool_mode(url, spool_file, path, int(arg))))
    sys.exit(asyncio.run(merge_mode(url, spool_file, path, float(arg))))
