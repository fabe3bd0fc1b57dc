"""Subprocess entry for test_outbox_crash: an agent-like process that the test kills with SIGKILL.

    python outbox_worker.py DB EXEC_LOG EFFECT_DB N CONCURRENCY DELAY

Enqueues jobs job-0..job-N-1 (a no-op for keys already there, as after a restart), runs them, and
exits 0 once every job is done. The handler appends "key pid" to EXEC_LOG (O_APPEND, one write per
execution) and records its effect in EFFECT_DB idempotently (check-then-insert keyed by job.key in
one transaction, on a table *without* a unique constraint, so a non-idempotent handler would show).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from agent.outbox import Job, Outbox
from agent.store import Migration, MigrationRegistry, Store

EFFECTS = MigrationRegistry(
    [Migration("effects", 1, "CREATE TABLE effects (key TEXT NOT NULL, pid INTEGER NOT NULL);")]
)


async def main(db: Path, exec_log: Path, effect_db: Path, n: int, concurrency: int, delay: float) -> int:
    store = Store(db)
    effects = Store(effect_db)
    await store.open()
    await effects.open(EFFECTS)
    log_fd = os.open(exec_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    pid = os.getpid()

    def record_effect(key: str, conn: sqlite3.Connection) -> None:
        if conn.execute("SELECT 1 FROM effects WHERE key = ?", (key,)).fetchone() is None:
            conn.execute("INSERT INTO effects (key, pid) VALUES (?, ?)", (key, pid))

    async def handler(job: Job) -> None:
        os.write(log_fd, f"{job.key} {pid}\n".encode())
        await asyncio.sleep(delay)
        await effects.transaction(lambda conn: record_effect(job.key, conn))

    outbox = Outbox(store)
    outbox.register("work", handler, concurrency=concurrency, base_delay=0.01)
    for i in range(n):
        await outbox.enqueue("work", {"i": i}, key=f"job-{i}")
    await outbox.start()
    await outbox.wait_idle(timeout=120)
    await outbox.stop()
    stats = await outbox.stats()
    os.close(log_fd)
    await effects.close()
    await store.close()
    return 0 if stats == {"pending": 0, "running": 0, "done": n, "dead": 0} else 1


if __name__ == "__main__":
    db, exec_log, effect_db, n, concurrency, delay = sys.argv[1:7]
    sys.exit(asyncio.run(main(Path(db), Path(exec_log), Path(effect_db), int(n), int(concurrency), float(delay))))
