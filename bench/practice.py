"""The practice-wide store: the shared outbox on PostgreSQL with 1, 2 and 3 agents vs SQLite, the time a
fact takes to reach another workstation, and how long a claim takes while agents contend.

A private PostgreSQL cluster (sandbox/practice_db.py, fsync on as a real server has it) on loopback.
Agents here are `Outbox` instances, each with its own `PostgresStore` (its own pool and owner name), in
this process: the contention that matters is in the database (row locks, SKIP LOCKED), and a no-op
handler keeps Python's share small. Figures are indicative on a shared 2-core machine.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.outbox import Job, Outbox
from agent.practice import PracticeRelay
from agent.store import Store, make_store
from bench.report import BenchGroup, BenchOptions, Row, machine_line
from sandbox.practice_db import NoPostgres, PgServer, start_server

HANDLER = "bench.noop"


async def _drain(stores: list[Any], jobs: int, concurrency: int) -> float:
    """Enqueue `jobs` from the first agent, then time how long all agents take to run them."""
    outboxes = [Outbox(s, owner=f"poste-{i}") for i, s in enumerate(stores)]

    async def noop(job: Job) -> None:
        return None

    for ob in outboxes:
        ob.register(HANDLER, noop, concurrency=concurrency)
    for i in range(jobs):
        await outboxes[0].enqueue(HANDLER, {"i": i}, key=f"j-{i}")
    t0 = time.perf_counter()
    for ob in outboxes:
        await ob.start()
    # Done means committed by whichever agent ran it: only the shared table knows, so poll it.
    while (await outboxes[0].stats())["done"] < jobs:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    for ob in outboxes:
        await ob.stop(grace=1.0)
    return jobs / elapsed


async def _pg_stores(server: PgServer, n: int) -> list[Any]:
    url = server.url(server.create_database())
    stores = [make_store(url, "unused", pool_size=4) for _ in range(n)]
    for s in stores:
        await s.open()
    return stores


async def throughput(server: PgServer, root: Path, jobs: int, repeats: int) -> list[Row]:
    rows: list[Row] = []
    sqlite_rates = []
    for rep in range(repeats):
        store = Store(root / f"sqlite-{rep}.db")
        await store.open()
        sqlite_rates.append(await _drain([store], jobs, 16))
        await store.close()
    rows.append(Row.of(f"Outbox drain, SQLite, 1 agent, no-op handler, concurrency 16 ({jobs} jobs)", "jobs/s",
                       sqlite_rates))
    for agents in (1, 2, 3):
        rates = []
        for _ in range(repeats):
            stores = await _pg_stores(server, agents)
            rates.append(await _drain(stores, jobs, 16))
            for s in stores:
                await s.close()
        rows.append(Row.of(f"Outbox drain, PostgreSQL, {agents} agent(s), concurrency 16 each ({jobs} jobs)",
                           "jobs/s", rates))
    return rows


async def relay_latency(server: PgServer, samples: int) -> Row:
    """A practice fact sent by one agent's relay → delivered on another agent's loop."""
    stores = await _pg_stores(server, 2)
    arrived: asyncio.Queue[float] = asyncio.Queue()
    sender = PracticeRelay(stores[0], "accueil", lambda *_: None)
    receiver = PracticeRelay(stores[1], "cabinet", lambda _w, _e, _p: arrived.put_nowait(time.perf_counter()))
    sender.start()
    receiver.start()
    await asyncio.sleep(0.5)  # both listeners connected
    latencies = []
    for i in range(samples):
        t0 = time.perf_counter()
        sender.send("identity.updated", {"identity_id": f"id-{i}", "status": "RECUP", "insi_outcome": "found"})
        latencies.append((await asyncio.wait_for(arrived.get(), 5) - t0) * 1000)
    sender.stop()
    receiver.stop()
    for s in stores:
        await s.close()
    return Row.of("Cross-workstation fact (NOTIFY sent by one agent → event on the other's loop)", "ms",
                  latencies, with_p99=True)


async def pickup_latency(server: PgServer, samples: int) -> Row:
    """Three idle agents; one job enqueued at a time: enqueue → its handler starts on some agent."""
    stores = await _pg_stores(server, 3)
    started: asyncio.Queue[float] = asyncio.Queue()

    async def handler(job: Job) -> None:
        started.put_nowait(time.perf_counter())

    outboxes = [Outbox(s, owner=f"poste-{i}") for i, s in enumerate(stores)]
    for ob in outboxes:
        ob.register(HANDLER, handler, concurrency=4)
        await ob.start()
    await asyncio.sleep(0.5)
    latencies = []
    for i in range(samples):
        t0 = time.perf_counter()
        await outboxes[i % 3].enqueue(HANDLER, {}, key=f"p-{i}")
        latencies.append((await asyncio.wait_for(started.get(), 10) - t0) * 1000)
    for ob in outboxes:
        await ob.stop(grace=1.0)
    for s in stores:
        await s.close()
    return Row.of("Job pickup with 3 agents contending (enqueue → handler start, NOTIFY wake-up, SKIP LOCKED)",
                  "ms", latencies, with_p99=True)


async def _run(quick: bool) -> tuple[list[Row], list[str]]:
    root = Path(tempfile.mkdtemp(prefix="vigie-bench-practice-"))
    server = start_server("vigie-bench-pg-", durable=True)
    try:
        rows = await throughput(server, root, 500 if quick else 3000, 1 if quick else 3)
        rows.append(await relay_latency(server, 20 if quick else 200))
        rows.append(await pickup_latency(server, 20 if quick else 200))
        version = server.url()
    finally:
        server.destroy()
    where = version.split("@")[1].rsplit("/", 1)[0]
    return rows, [f"Private cluster on {where} (PostgreSQL from Debian, default durability: fsync on)."]


def run(options: BenchOptions) -> BenchGroup:
    group = BenchGroup(name="practice", machine=machine_line(), quick=options.quick,
                       title="Practice-wide store (PostgreSQL, shared outbox, cross-workstation facts)")
    try:
        rows, notes = asyncio.run(_run(options.quick))
    except NoPostgres as exc:
        group.notes = [f"Not run: {exc}."]
        return group
    group.rows.extend(rows)
    group.command = f"{sys.executable} -m bench practice"
    group.notes = notes + [
        "Drain: jobs enqueued first, then every agent's dispatcher started; time until all are `done` "
        "(median of the repeats). On PostgreSQL each claim is one `UPDATE … FOR UPDATE SKIP LOCKED` "
        "transaction per agent and handler, each completion batch one more; with SQLite one local file.",
    ]
    return group
