"""The practice-wide store: the shared outbox on PostgreSQL with 1, 2 and 3 agents vs SQLite, the time a
fact takes to reach another workstation (its loop, and the doctor's popup window), and how long a claim
takes while agents contend.

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


async def _shown(ui: Any, key: str, timeout: float = 20.0) -> float:
    """When the popup process reported its window mapped with `key`'s panel (monotonic)."""
    async with asyncio.timeout(timeout):
        while True:
            shown_key, at = await ui.shown.get()
            if shown_key == key:
                return float(at)


async def _close_panel(ui: Any, key: str) -> None:
    """The doctor closes the panel: the queue is empty again and the window hidden."""
    ui.offered.pop(key, None)
    ui.popup.send("drop", key=key)
    while (await ui.describe())["visible"]:  # noqa: ASYNC110 (asks the popup each time)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    while not ui.shown.empty():
        ui.shown.get_nowait()


async def popup_latency(server: PgServer, root: Path, samples: int) -> list[Row]:
    """Two real agents on the practice database, the doctor's with its popup process on Xvfb; per sample
    the doctor's LGC opens a new patient (its panel comes up, the doctor closes it), then the reception
    scans that patient's INS Datamatrix: time from the scan to the doctor's popup window mapped."""
    import keyring

    from agent.app import Agent
    from agent.config import config_from_dict
    from agent.hookcall import call_each
    from agent.secrets import MemoryKeyring, SecretStore
    from bench.ui import _rpc, xvfb
    from plugins.ins.settings import PASSPHRASE_SECRET
    from sandbox.insi.identities import synthetic_identities
    from sandbox.insi.server import start_insi_sandbox

    people = synthetic_identities(samples + 1)
    sandbox = await start_insi_sandbox(extra_identities=people)
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())  # the bench's passphrase stays in this process
    SecretStore().set(PASSPHRASE_SECRET, sandbox.secrets()[PASSPHRASE_SECRET])
    url = server.url(server.create_database())
    agents: list[Agent] = []
    try:
        with xvfb(first=1400) as display:  # away from the displays tests and the ui group start from
            for name, popup in (("accueil", False), ("cabinet", True)):
                config = config_from_dict({
                    "api": {"port": 0, "tokens": ["bench-token-0123456789abcdef"]},
                    "store": {"url": url, "workstation": name, "path": str(root / name / "vigie.sqlite3")},
                    "log": {"dir": str(root / name / "logs")},
                    "plugins": {"ins": sandbox.plugin_settings(),
                                "ui": {"popup": popup, "tray": False, "display": display}},
                })
                agent = Agent(config)
                await agent.start()
                agents.append(agent)
            reception, room = agents
            ui: Any = room.plugins.pm.get_plugin("ui")
            await asyncio.wait_for(ui.popup.ready.wait(), 30)
            while not all(a.plugins.states["ins"].started for a in agents):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            scans, relayed = [], []
            for i, person in enumerate(people[:samples]):
                traits = {"birth_name": person["birth_name"], "first_names": [person["first_names"]],
                          "sex": person["sex"], "birth_date": person["birth_date"],
                          "birth_place": person["birth_place"]}
                opened = await _rpc(room, "identity.submit", local_id=f"dossier-{i}", traits=traits)
                key = opened["identity_id"]
                await _shown(ui, key)  # INSi answered for the record opened: the panel came up
                await _close_panel(ui, key)
                scanned = {**traits, "first_names": person["first_names"],
                           "matricule": person["matricule"] + person["key"], "oid": person["oid"]}
                t0 = time.monotonic()
                await call_each(reception.plugins, "scan_received", kind="ins_datamatrix", content=scanned,
                                source="serial")
                scans.append((await _shown(ui, key) - t0) * 1000)
                await _close_panel(ui, key)
                # The fact alone: as the INS plugin emits it after a lookup on the reception's agent.
                t0 = time.monotonic()
                await reception.emitter.emit("identity_updated", identity_id=key, status="RECUP", insi_outcome="found")
                relayed.append((await _shown(ui, key) - t0) * 1000)
                await _close_panel(ui, key)
            for agent in reversed(agents):
                await agent.stop()
            agents.clear()
    finally:
        for agent in agents:
            await agent.stop()
        await sandbox.stop()
        keyring.set_keyring(previous)
    return [
        Row.of("Datamatrix scan at reception (agent A) → doctor's popup window mapped on agent B (patient open "
               "there; includes the INSi lookup on the sandbox, no added latency, and the shared outbox)", "ms",
               scans, with_p99=True),
        Row.of("`identity_updated` on agent A → doctor's popup window mapped on agent B (NOTIFY, B's "
               "`identity.view` on PostgreSQL, Tk, X server)", "ms", relayed, with_p99=True),
    ]


async def _run(quick: bool) -> tuple[list[Row], list[str]]:
    root = Path(tempfile.mkdtemp(prefix="vigie-bench-practice-"))
    server = start_server("vigie-bench-pg-", durable=True)
    try:
        rows = await throughput(server, root, 500 if quick else 3000, 1 if quick else 3)
        rows.append(await relay_latency(server, 20 if quick else 200))
        rows.append(await pickup_latency(server, 20 if quick else 200))
        rows.extend(await popup_latency(server, root, 5 if quick else 40))
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
        "Popup rows: two real agents (INS and ui plugins) on the same database, the doctor's popup process on a "
        "private Xvfb; per sample the doctor's LGC opens a new patient (its panel comes up, then is closed), the "
        "reception's scanner hook gets that patient's INS Datamatrix, and the time runs until the popup process "
        "reports its window mapped (`ui.shown`). The scan row includes the new INSi lookup (sandbox, in process) "
        "run by whichever agent claims the job.",
    ]
    return group
