"""INS plugin benchmarks: agent overhead on a lookup, loop responsiveness under load, batch, parsing.

The agent runs as `vigie run --headless` (bench.agentproc) and the INSi sandbox in its own process
(bench.insi_server), over real mTLS; this process only drives them through the websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.agentproc import REPO, TOKEN, AgentProcess, Profile
from bench.report import BenchGroup, BenchOptions, Row, Target, machine_line
from plugins.ins.insi.parser import parse_response
from plugins.ins.insi.types import InsiFault
from sandbox.insi.identities import synthetic_identities

FIXTURES = REPO / "tests" / "fixtures" / "insi"


class Sandbox:
    """The INSi stand-in process; `configure` changes latency at run time through its admin endpoint."""

    def __init__(self, latency: float, count: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.insi_server", str(latency), str(count)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO, text=True)
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.settings: dict[str, Any] = info["plugin_settings"]
        self.secrets: dict[str, str] = info.get("secrets", {})  # for the agent's keyring
        self.admin = info["admin_url"]
        self.tls = ssl.create_default_context(cafile=self.settings["ca_files"][0])
        for extra in self.settings["ca_files"][1:]:
            self.tls.load_verify_locations(cafile=extra)

    def configure(self, **changes: Any) -> None:
        req = urllib.request.Request(f"{self.admin}/config", data=json.dumps(changes).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5, context=self.tls).close()

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.admin}/stats?bodies=0", timeout=5, context=self.tls) as resp:
            data: dict[str, Any] = json.load(resp)
            return data

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Lgc:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.replies: dict[int, asyncio.Future[Any]] = {}
        self.waiters: list[tuple[Callable[[str, dict[str, Any]], bool], asyncio.Future[float]]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            now = time.perf_counter()
            if data.get("id") in self.replies:
                self.replies.pop(data["id"]).set_result(data)
            elif "method" in data:
                for predicate, future in list(self.waiters):
                    if not future.done() and predicate(data["method"], data["params"]):
                        future.set_result(now)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = future
        await self.ws.send_str(json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method,
                                           "params": params or {}}))
        answer = await asyncio.wait_for(future, 60)
        if "result" not in answer:
            raise RuntimeError(f"{method}: {answer}")
        return answer["result"]

    def expect(self, predicate: Callable[[str, dict[str, Any]], bool]) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters.append((predicate, future))
        return future


def patients(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"local_id": f"p{i}", "traits": {"birth_name": r["birth_name"], "first_names": [r["first_names"]],
                                            "sex": r["sex"], "birth_date": r["birth_date"],
                                            "birth_place": r["birth_place"]}} for i, r in enumerate(rows)]


def start_agent(root: Path, sandbox: Sandbox, label: str, **ins: Any) -> AgentProcess:
    settings = {**sandbox.settings, **ins}
    profile = Profile(root / label, api={"rate_per_second": 100000, "rate_burst": 100000},
                      plugins={"ins": settings}, sandbox=True)
    agent = AgentProcess(profile, label, secrets=sandbox.secrets)
    agent.start()
    agent.wait_started()
    deadline = time.monotonic() + 30
    while not any(p["name"] == "ins" and p["status"] == "ok" for p in agent.rpc("agent.info")["plugins"]):
        if time.monotonic() > deadline:
            raise RuntimeError("INS plugin did not start")
        time.sleep(0.05)
    return agent


async def connect(session: aiohttp.ClientSession, agent: AgentProcess) -> Lgc:
    ws = await session.ws_connect(f"ws://127.0.0.1:{agent.port}/ws")
    lgc = Lgc(ws)
    await lgc.call("session.open", {"token": TOKEN})
    return lgc


def found(identity_id: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda m, p: m == "identity.updated" and p["identity_id"] == identity_id and p["insi_outcome"] != "pending"


async def overhead(agent: AgentProcess, rows: list[dict[str, Any]], latency: float) -> list[float]:
    async with aiohttp.ClientSession() as session:
        lgc = await connect(session, agent)
        samples = []
        for i, patient in enumerate(patients(rows)):
            t0 = time.perf_counter()
            submitted = await lgc.call("identity.submit", patient)
            t1 = await asyncio.wait_for(lgc.expect(found(submitted["identity_id"])), 30)
            if i >= 3:  # the first calls open TLS connections
                samples.append((t1 - t0 - latency) * 1000)
        return samples


async def info_under_load(agent: AgentProcess, sandbox: Sandbox, rows: list[dict[str, Any]],
                          calls: int) -> tuple[list[float], list[float], int]:
    """`agent.info` latencies while the records are submitted and their lookups start (a second socket
    calls it back to back meanwhile: the probe of issue 18), then once they are all in flight."""
    async with aiohttp.ClientSession() as session:
        lgc = await connect(session, agent)
        watcher = await connect(session, agent)
        ramp: list[float] = []
        submitting = True

        async def watch() -> None:
            while submitting:
                t0 = time.perf_counter()
                await watcher.call("agent.info")
                ramp.append((time.perf_counter() - t0) * 1000)

        task = asyncio.create_task(watch())
        for patient in patients(rows):
            await lgc.call("identity.submit", patient)
        deadline = time.monotonic() + 30
        # The counter lives in another process: poll it (in a thread: urllib blocks).
        while (in_flight := (await asyncio.to_thread(sandbox.stats))["in_flight"]) < len(rows) \
                and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        submitting = False
        await task
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter()
            await lgc.call("agent.info")
            samples.append((time.perf_counter() - t0) * 1000)
        return ramp, samples, in_flight


async def batch(agent: AgentProcess, rows: list[dict[str, Any]]) -> float:
    async with aiohttp.ClientSession() as session:
        lgc = await connect(session, agent)
        total = len(rows)
        t0 = time.perf_counter()
        result = await lgc.call("identity.batch", {"patients": patients(rows)})
        done = lgc.expect(lambda m, p: m == "batch.progress" and p["batch_id"] == result["batch_id"]
                          and p["done"] == total)
        return await asyncio.wait_for(done, 900) - t0


def parsing() -> list[Row]:
    rows = []
    for path in sorted(FIXTURES.glob("REP_*.xml")) + sorted(FIXTURES.glob("FAULT_*.xml")):
        data = path.read_bytes()

        def parse(data: bytes = data) -> None:
            with contextlib.suppress(InsiFault):
                parse_response(data)

        number = 2000
        runs = [timeit.timeit(parse, number=number) / number * 1e6 for _ in range(5)]
        rows.append(Row.of(f"Parse `{path.name}` ({len(data)} bytes)", "µs", runs))
    return rows


def run(options: BenchOptions) -> BenchGroup:
    quick = options.quick
    latency, n_overhead, n_load, n_batch = 0.3, (10 if quick else 40), 100, (100 if quick else 500)
    group = BenchGroup(name="ins", title="INS plugin (INSi lookups, batch, parsing)", machine=machine_line(),
                       quick=quick)
    population = synthetic_identities(n_overhead + n_load + 2 * n_batch)
    root = Path(tempfile.mkdtemp(prefix="vigie-bench-ins-"))
    sandbox = Sandbox(latency, len(population))
    try:
        agent = start_agent(root, sandbox, "lookups", lookup_concurrency=n_load)
        try:
            ms = asyncio.run(overhead(agent, population[:n_overhead], latency))
            group.rows.append(Row.of("`identity.submit` → `identity.updated`, minus the 300 ms INSi latency",
                                     "ms", ms, target=Target("<=", 15.0)))
            sandbox.configure(latency=8.0)
            ramp, info, in_flight = asyncio.run(info_under_load(
                agent, sandbox, population[n_overhead:n_overhead + n_load], 300 if quick else 1000))
            group.rows.append(Row.of(f"`agent.info` round trip while {n_load} `identity.submit` are sent and "
                                     "their INSi calls start", "ms", ramp, target=Target("<=", 10.0, stat="p99")))
            group.rows.append(Row.of(f"`agent.info` round trip with {in_flight} INSi calls in flight", "ms", info,
                                     target=Target("<=", 10.0, stat="p99")))
        finally:
            agent.terminate()
        sandbox.configure(latency=0.2)
        batch_rows = population[n_overhead + n_load:]
        agent = start_agent(root, sandbox, "batch", batch_concurrency=8, batch_rate_per_second=1000)
        try:
            wall = asyncio.run(batch(agent, batch_rows[:n_batch]))
            ideal = n_batch * 0.2 / 8
            group.rows.append(Row.of(f"Batch of {n_batch}, INSi 200 ms, concurrency 8: wall time", "s", [wall]))
            group.rows.append(Row.of(f"Batch wall time / ideal ({ideal:.1f} s)", "×", [wall / ideal],
                                     target=Target("<=", 1.15)))
        finally:
            agent.terminate()
        n_seq = 20 if quick else 50
        agent = start_agent(root, sandbox, "sequential", batch_concurrency=1, batch_rate_per_second=1000)
        try:
            seq = asyncio.run(batch(agent, batch_rows[n_batch:n_batch + n_seq]))
            group.rows.append(Row.of(f"Sequential baseline (concurrency 1), {n_seq} patients, per patient", "ms",
                                     [seq / n_seq * 1000]))
            group.rows.append(Row.of(f"Speed-up of concurrency 8 over the sequential baseline ({n_batch} patients)",
                                     "×", [(seq / n_seq * n_batch) / wall]))
        finally:
            agent.terminate()
    finally:
        sandbox.close()
        shutil.rmtree(root, ignore_errors=True)
    group.rows.extend(parsing())
    group.command = f"{sys.executable} -m bench ins"
    group.notes = [
        "The agent is `vigie run --headless` in its own process (bench.agentproc), the INSi sandbox another "
        "(bench.insi_server, mTLS with its throwaway PKI, fixed latency, no jitter); this process drives the "
        "local API over one websocket.",
        f"Overhead: {n_overhead} records opened one after another (the first 3 excluded: TLS connections), each "
        "timed from sending `identity.submit` to receiving its `identity.updated` answer event; the 300 ms the "
        "sandbox waits is subtracted. What remains is the agent's own work: outbox, store, envelope, TLS, "
        "parsing, comparison, event.",
        f"Loop responsiveness: {n_load} records submitted with `lookup_concurrency = {n_load}` and the sandbox "
        "holding each call 8 s. While they are submitted, one after another on one socket, and until the sandbox "
        "counts them all in flight, a second socket calls `agent.info` back to back (the submissions, the outbox "
        "claims, the TLS handshakes and the envelopes share the agent's loop with it); then, all in flight, "
        "`agent.info` is called back to back again.",
        "Batch: `identity.batch` with distinct synthetic identities (sandbox.insi.identities.synthetic_identities),"
        " timed from the call to the `batch.progress` event with done = total; rate limit set high so that "
        "concurrency is what is measured. Ideal = patients × 200 ms / 8.",
        "Parsing: `parse_response` on each wire sample (faults raise their typed error, caught here), 5 runs "
        "of 2,000, median per message.",
    ]
    return group
