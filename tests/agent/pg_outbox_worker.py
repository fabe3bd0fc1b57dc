"""Subprocess entry for test_outbox_shared: one workstation's agent-like process on the shared outbox.

    python pg_outbox_worker.py URL OWNER EXEC_LOG N CONCURRENCY DELAY LEASE

Enqueues jobs job-0..job-N-1 (a no-op for keys already there: every worker enqueues the same keys, as
agents of one practice would), runs what it claims, and exits 0 once no job is pending or running.
The handler appends "key owner" to EXEC_LOG (O_APPEND, one write per execution) and records its
effect idempotently in the shared database (check-then-insert keyed by job.key in one transaction, on
a table without a unique constraint, so a job run twice without idempotency would show).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from agent.errors import StoreUnavailable
from agent.outbox import Job, Outbox
from agent.store import Migration, MigrationRegistry, make_store

EFFECTS = [Migration("effects", 1, "CREATE TABLE effects (key TEXT NOT NULL, owner TEXT NOT NULL);"
                                   " CREATE INDEX effects_key ON effects (key);")]


async def main(url: str, owner: str, exec_log: str, n: int, concurrency: int, delay: float, lease: float) -> int:
    store = make_store(url, "unused")
    await store.open(MigrationRegistry([*MigrationRegistry().ordered(), *EFFECTS]))
    log_fd = os.open(exec_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def record_effect(key: str, conn: Any) -> None:
        if conn.execute("SELECT 1 FROM effects WHERE key = ?", (key,)).fetchone() is None:
            conn.execute("INSERT INTO effects (key, owner) VALUES (?, ?)", (key, owner))

    async def handler(job: Job) -> None:
        os.write(log_fd, f"{job.key} {owner}\n".encode())
        await asyncio.sleep(delay)
        await store.transaction(lambda conn: record_effect(job.key, conn))

    outbox = Outbox(store, owner=owner, lease=lease)
    outbox.register("work", handler, concurrency=concurrency, base_delay=0.01)
    for i in range(n):
        while True:  # an agent's caller is told the database is away; this one, a test worker, tries again
            try:
                await outbox.enqueue("work", {"i": i}, key=f"job-{i}")
                break
            except StoreUnavailable:
                await asyncio.sleep(0.1)
    await outbox.start()
    while True:  # idle here is not enough: another agent's jobs (or leases) may still come back
        try:
            stats = await outbox.stats()
        except StoreUnavailable:  # the test restarts the database under us: look again
            await asyncio.sleep(0.1)
            continue
        if stats["pending"] == 0 and stats["running"] == 0:
            break
        await asyncio.sleep(0.1)
    await outbox.stop()
    os.close(log_fd)
    await store.close()
    return 0 if stats["dead"] == 0 else 1


if __name__ == "__main__":
    url, owner, exec_log, n, concurrency, delay, lease = sys.argv[1:8]
    sys.exit(asyncio.run(main(url, owner, exec_log, int(n), int(concurrency), float(delay), float(lease))))
