"""Benchmarks of the agent host: start, memory, idle CPU, local-API latency, outbox, stop.

Start, memory, idle CPU, API latency and stop are measured on the real `vigie run --headless`
process (see `bench.agentproc`), with every default plugin loaded. The websocket load comes from
`bench.ws_driver` in a third process, so the client never runs on the agent's event loop. The
outbox is measured in this process through `agent.store.Store` and `agent.outbox.Outbox`, the
objects the agent itself uses.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from agent.outbox import Job, Outbox
from agent.plugins import DEFAULT_PLUGINS, ENTRY_POINT_GROUP
from agent.store import Store
from bench.agentproc import REPO, TOKEN, AgentProcess, Profile, shown, vigie_command
from bench.report import BenchGroup, BenchOptions, CpuSnapshot, Row, Target, foreign_cpu_percent, percentile

TITLE = "Agent host (start, memory, idle CPU, local API, outbox, stop)"
SETTLE = 2.0  # seconds between the announce line and the idle-CPU window
WS_CLIENTS = 10
MANY_CLIENTS = 100  # the probe of issue 18: 100 clients x 50 calls
PROFILE_TOP = 12  # functions of the agent's own code listed from the cProfile run
OUTBOX_HANDLER = "bench.noop"
DRIVER_TIMEOUT = 600.0


@dataclass(frozen=True)
class Plan:
    starts: int
    idle_seconds: float
    calls_per_client: int
    warmup_calls: int
    jobs: int
    outbox_repeats: int
    host_only_starts: int
    api_rounds: int  # driver runs with 10 clients, pooled
    many_calls: int  # calls per client with MANY_CLIENTS clients

    @classmethod
    def for_options(cls, options: BenchOptions) -> Plan:
        if options.quick:
            return cls(starts=3, idle_seconds=10.0, calls_per_client=200, warmup_calls=20, jobs=2_000,
                       outbox_repeats=1, host_only_starts=1, api_rounds=1, many_calls=20)
        return cls(starts=10, idle_seconds=60.0, calls_per_client=1_000, warmup_calls=100, jobs=10_000,
                   outbox_repeats=3, host_only_starts=5, api_rounds=3, many_calls=50)


def _progress(message: str) -> None:
    print(f"[agent_host] {message}", file=sys.stderr, flush=True)


# -- 1, 2, 3, 6: start, memory, idle CPU, stop of the real process -----------------------------------
@dataclass
class LifecycleFigures:
    health_s: list[float]
    started_s: list[float]
    rss_mib: list[float]
    idle_cpu_pct: float
    stop_s: list[float]
    # The same with every plugin disabled (the host's own share), interleaved with the starts above
    # so that a drift of the machine's speed affects both alike.
    host_only_plugins: list[str]
    host_only_health_s: list[float]
    host_only_rss_mib: list[float]


def measure_lifecycle(root: Path, plan: Plan) -> LifecycleFigures:
    # One profile for every start: after the (unmeasured) warm-up start the store exists, as in a
    # practice where the agent starts every morning on yesterday's database.
    profile = Profile(root / "lifecycle")
    host_only = Profile(root / "host-only", disabled_plugins=all_plugin_names())
    _warm_up(profile)
    _warm_up(host_only)
    figures = LifecycleFigures([], [], [], 0.0, [], host_only.disabled_plugins, [], [])
    for i in range(plan.starts):
        with AgentProcess(profile, f"start-{i}") as agent:
            figures.health_s.append(agent.start())
            figures.started_s.append(agent.wait_started())
            figures.rss_mib.append(agent.rss_mib())
            if i == plan.starts - 1:
                _progress(f"idle CPU over {plan.idle_seconds:.0f} s")
                time.sleep(SETTLE)
                cpu0, wall0 = agent.cpu_seconds(), time.perf_counter()
                time.sleep(plan.idle_seconds)
                cpu1, wall1 = agent.cpu_seconds(), time.perf_counter()
                figures.idle_cpu_pct = (cpu1 - cpu0) / (wall1 - wall0) * 100
            figures.stop_s.append(agent.terminate())
        _progress(f"start {i + 1}/{plan.starts}: /health {figures.health_s[-1]:.3f} s, "
                  f"RSS {figures.rss_mib[-1]:.1f} MiB, stop {figures.stop_s[-1]:.3f} s")
        if i < plan.host_only_starts:
            with AgentProcess(host_only, f"host-only-{i}") as agent:
                figures.host_only_health_s.append(agent.start())
                agent.wait_started()
                figures.host_only_rss_mib.append(agent.rss_mib())
                agent.terminate()
            _progress(f"  host only: /health {figures.host_only_health_s[-1]:.3f} s, "
                      f"RSS {figures.host_only_rss_mib[-1]:.1f} MiB")
    return figures


def all_plugin_names() -> list[str]:
    """Every plugin the agent would load: built-in ones and entry points."""
    names = list(DEFAULT_PLUGINS)
    names += [ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name not in names]
    return names


def _warm_up(profile: Profile) -> None:
    """One unmeasured start: creates the store and warms the OS caches."""
    with AgentProcess(profile, "warmup") as agent:
        agent.start()
        agent.wait_started()
        agent.terminate()


# -- 4: agent.info round trip over the websocket --------------------------------------------------------
@dataclass
class DriverRun:
    clients: int
    latencies_ms: list[float]
    wall_s: float
    agent_cpu_s: float  # CPU time the agent process used during the timed phase and its warm-up

    @property
    def calls_per_s(self) -> float:
        return len(self.latencies_ms) / self.wall_s

    @property
    def agent_cpu_us_per_call(self) -> float:
        return self.agent_cpu_s / len(self.latencies_ms) * 1e6


@dataclass
class ApiFigures:
    rounds: list[DriverRun]  # with WS_CLIENTS clients each
    single: DriverRun
    many: DriverRun  # MANY_CLIENTS clients
    plugins: str
    rss_after_mib: float
    profile_top: list[str]  # from the cProfile run: "function (file:line) own ms, cumulative ms"
    profiled: DriverRun | None

    @property
    def concurrent(self) -> DriverRun:
        """Every round pooled."""
        return DriverRun(
            WS_CLIENTS, [ms for r in self.rounds for ms in r.latencies_ms], sum(r.wall_s for r in self.rounds),
            sum(r.agent_cpu_s for r in self.rounds),
        )


def _drive(agent: AgentProcess, clients: int, plan: Plan, calls: int | None = None) -> DriverRun:
    calls = plan.calls_per_client if calls is None else calls
    warmup = min(plan.warmup_calls, calls)
    cmd = [sys.executable, "-m", "bench.ws_driver", f"ws://127.0.0.1:{agent.port}/ws", TOKEN,
           "--clients", str(clients), "--calls", str(calls),
           "--warmup", str(warmup), "--method", "agent.info"]
    _progress(f"{clients} websocket client(s) x {calls} agent.info calls")
    cpu0 = agent.cpu_seconds()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=DRIVER_TIMEOUT, check=False)
    cpu1 = agent.cpu_seconds()
    if done.returncode != 0:
        raise RuntimeError(f"ws driver failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    return DriverRun(clients, [float(x) for x in report["latencies_ms"]], float(report["wall_s"]), cpu1 - cpu0)


def measure_api(root: Path, plan: Plan) -> ApiFigures:
    # Rate limits raised: the default (50 calls/s per socket) would answer "Trop de requêtes" to a
    # client looping as fast as it can, and this measures the round trip, not the limiter.
    profile = Profile(root / "api", api={"rate_per_second": 1e6, "rate_burst": 1_000_000})
    with AgentProcess(profile, "api") as agent:
        agent.start()
        agent.wait_started()
        info = agent.rpc("agent.info")
        plugins = ", ".join(f"{p['name']} ({p['status']}{': ' + p['reason'] if p.get('reason') else ''})"
                            for p in info["plugins"])
        single = _drive(agent, 1, plan)
        rounds = [_drive(agent, WS_CLIENTS, plan) for _ in range(plan.api_rounds)]
        many = _drive(agent, MANY_CLIENTS, plan, plan.many_calls)
        rss_after = agent.rss_mib()
        agent.terminate()
    top, profiled = profile_api(root, profile, plan)
    return ApiFigures(rounds, single, many, plugins, rss_after, top, profiled)


def profile_api(root: Path, profile: Profile, plan: Plan) -> tuple[list[str], DriverRun | None]:
    """One 10-client run against an agent under cProfile: where the loop's time goes per call."""
    stats_path = root / "agent.prof"
    with AgentProcess(profile, "api-profiled", cprofile_to=stats_path) as agent:
        agent.start()
        agent.wait_started()
        run = _drive(agent, WS_CLIENTS, plan)
        agent.terminate()
    if not stats_path.exists():
        return [], None
    stats = pstats.Stats(str(stats_path))
    calls = len(run.latencies_ms)
    own = []
    for (file, line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        try:
            rel = Path(file).resolve().relative_to(REPO)
        except ValueError:
            continue
        if rel.parts[0] in ("agent", "plugins", "hardware") and name != "<module>":  # not the imports
            own.append((tottime, cumtime, f"`{name}` ({rel}:{line})"))
    own.sort(reverse=True)
    top = [f"{label} {tottime / calls * 1e6:.0f} µs own, {cumtime / calls * 1e6:.0f} µs cumulative"
           for tottime, cumtime, label in own[:PROFILE_TOP]]
    return top, run


# -- 5: outbox throughput ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutboxRun:
    fsync: bool
    concurrency: int
    enqueue_per_s: float
    drain_per_s: float


async def _outbox_once(path: Path, *, fsync: bool, concurrency: int, jobs: int) -> OutboxRun:
    store = Store(path, fsync=fsync)
    await store.open()
    outbox = Outbox(store)
    try:
        async def noop(job: Job) -> None:
            return None

        outbox.register(OUTBOX_HANDLER, noop, concurrency=concurrency)
        t0 = time.perf_counter()
        for i in range(jobs):
            await outbox.enqueue(OUTBOX_HANDLER, {"i": i, "doc": "bench"}, key=f"bench-{i}")
        enqueued = time.perf_counter() - t0
        t0 = time.perf_counter()
        await outbox.start()
        await outbox.wait_idle(timeout=600)
        drained = time.perf_counter() - t0
        stats = await outbox.stats()
        if stats["done"] != jobs:
            raise RuntimeError(f"outbox run ended with {stats} instead of {jobs} done jobs")
    finally:
        await outbox.stop(grace=1.0)
        await store.close()
    return OutboxRun(fsync, concurrency, jobs / enqueued, jobs / drained)


def measure_outbox(root: Path, plan: Plan) -> list[OutboxRun]:
    runs: list[OutboxRun] = []
    directory = root / "outbox"
    directory.mkdir(parents=True)
    for fsync in (False, True):
        for concurrency in (1, 16):
            for rep in range(plan.outbox_repeats):
                db = directory / f"fsync{int(fsync)}-c{concurrency}-{rep}.sqlite3"
                run = asyncio.run(_outbox_once(db, fsync=fsync, concurrency=concurrency, jobs=plan.jobs))
                for leftover in directory.glob(f"{db.name}*"):
                    leftover.unlink()
                runs.append(run)
                _progress(f"outbox fsync={'on' if fsync else 'off'} concurrency={concurrency}: "
                          f"drain {run.drain_per_s:,.0f} jobs/s, enqueue {run.enqueue_per_s:,.0f} jobs/s")
    return runs


# -- the group ----------------------------------------------------------------------------------------------
def filesystem_of(path: Path) -> str:
    """The file-system type holding `path` (fsync on tmpfs would cost nothing)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount = parts[1]
                inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, kind = mount, parts[2]
    except OSError:
        pass
    return kind


class _PhaseLoad:
    """CPU used by other processes during each phase (a busy machine makes the figures noisy)."""

    def __init__(self) -> None:
        self.foreign: dict[str, float | None] = {}
        self._since = CpuSnapshot.take()

    def mark(self, phase: str) -> None:
        now = CpuSnapshot.take()
        self.foreign[phase] = foreign_cpu_percent(self._since, now)
        self._since = now


def run(options: BenchOptions) -> BenchGroup:
    plan = Plan.for_options(options)
    root = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    try:
        _progress(f"{plan.starts} starts of `vigie run --headless` (after one warm-up start)")
        phases = _PhaseLoad()
        life = measure_lifecycle(root, plan)
        phases.mark("starts, idle CPU and stops")
        api = measure_api(root, plan)
        phases.mark("websocket runs")
        _progress(f"outbox: {plan.jobs:,} jobs per run, {plan.outbox_repeats} run(s) per configuration")
        outbox = measure_outbox(root, plan)
        phases.mark("outbox runs")
        fs = filesystem_of(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n_calls = len(api.concurrent.latencies_ms)
    rows = [
        Row.of("Start of `vigie run --headless` to `/health` answering", "s", life.health_s,
               target=Target("<", 1.0)),
        Row.of("Start to every plugin started (announce line)", "s", life.started_s),
        Row.of("RSS after start (VmRSS)", "MiB", life.rss_mib, target=Target("<", 60.0)),
        Row.of("Start to `/health`, every plugin disabled (host only)", "s", life.host_only_health_s),
        Row.of("RSS after start, every plugin disabled (host only)", "MiB", life.host_only_rss_mib),
        Row.of(f"CPU while idle ({plan.idle_seconds:.0f} s, no client)", "% of one core", [life.idle_cpu_pct],
               target=Target("<", 0.5)),
        Row.of(f"`agent.info` round trip, {WS_CLIENTS} websocket clients", "ms", api.concurrent.latencies_ms,
               target=Target("<", 5.0, stat="p99")),
        Row.of(f"`agent.info` throughput, {WS_CLIENTS} websocket clients", "calls/s", [api.concurrent.calls_per_s]),
        Row.of("`agent.info` round trip, 1 websocket client", "ms", api.single.latencies_ms, with_p99=True),
        Row.of(f"`agent.info` round trip, {MANY_CLIENTS} websocket clients", "ms", api.many.latencies_ms,
               with_p99=True),
        Row.of(f"`agent.info` throughput, {MANY_CLIENTS} websocket clients", "calls/s", [api.many.calls_per_s]),
        Row.of("Agent CPU per `agent.info` call (10 clients)", "µs", [api.concurrent.agent_cpu_us_per_call]),
        Row.of("RSS after the websocket run", "MiB", [api.rss_after_mib]),
    ]
    for fsync in (False, True):
        for concurrency in (1, 16):
            rates = [r.drain_per_s for r in outbox if r.fsync == fsync and r.concurrency == concurrency]
            rows.append(Row.of(
                f"Outbox drain, no-op handler, fsync {'on' if fsync else 'off'}, concurrency {concurrency}",
                "jobs/s", rates, target=Target(">=", 2000.0)))
    for fsync in (False, True):
        rates = [r.enqueue_per_s for r in outbox if r.fsync == fsync]
        rows.append(Row.of(f"Outbox enqueue (one transaction per job), fsync {'on' if fsync else 'off'}",
                           "jobs/s", rates))
    rows.append(Row.of("SIGTERM to process exit", "s", life.stop_s, target=Target("<", 2.0)))

    notes = [
        f"Start, memory, CPU and stop: `{shown(vigie_command())} run --headless --config FILE` as a subprocess, "
        "isolated profile (temporary store, logs and HOME, "
        "no `VIGIE_*` variable, in-memory keyring), a new free port each start. "
        f"{plan.starts} measured starts after one unmeasured warm-up start; the store already exists.",
        "Start time runs from just before `Popen` to the first `GET /health` answering `ok` "
        "(probed every 5 ms). The local API starts listening before the plugins' `startup` hooks run, but a "
        "`startup` that blocks the event loop (a heavy synchronous import, say) delays `/health` too; the "
        "announce line is printed once every plugin's `startup` has returned.",
        "RSS is `VmRSS` from `/proc/PID/status` read right after the announce line "
        "(1 MiB = 1,048,576 bytes; the target of 60 MB is read as 60 MiB).",
        f"Host-only rows: {plan.host_only_starts} starts with `disabled_plugins = "
        f"[{', '.join(repr(n) for n in life.host_only_plugins)}]`, one after each of the first measured starts "
        "(after its own warm-up start), measured like them; the difference is "
        "the plugins' share of start time and memory.",
        f"Idle CPU: (utime + stime) delta from `/proc/PID/stat` over {plan.idle_seconds:.0f} s, "
        f"{SETTLE:.0f} s after the announce line, no client connected, on the last start "
        "(clock-tick resolution: 10 ms over the window).",
        f"Plugins loaded (`DEFAULT_PLUGINS` and entry points, as `agent.info` lists them): {api.plugins}. "
        "No plugin settings are given, so a plugin that needs them runs degraded (its retries included).",
        f"`agent.info` latency: a separate driver process (`python -m bench.ws_driver`); each client has its "
        f"own `/ws` and `session.open`, makes {plan.warmup_calls} untimed then {plan.calls_per_client:,} timed "
        f"calls back to back, one in flight (closed loop). {WS_CLIENTS} clients: {plan.api_rounds} round(s) "
        f"pooled, {n_calls:,} samples; p99 per round: "
        f"{', '.join(f'{percentile(r.latencies_ms, 99):.2f}' for r in api.rounds)} ms. "
        f"With {WS_CLIENTS} clients in a closed loop the agent is saturated, so the round trip is mostly queueing: "
        f"mean latency ≈ clients / throughput (Little's law); the 1-client row is the round trip without "
        "queueing. The per-socket rate limit is raised for these runs (the default 50 calls/s would refuse a "
        "tight loop). Agent and driver share the machine's cores. Agent CPU per call is the agent's "
        "(utime + stime) delta over the driver run (warm-up calls included) divided by the timed calls. "
        f"{MANY_CLIENTS} clients: one run of {plan.many_calls} timed calls each (after "
        f"{min(plan.warmup_calls, plan.many_calls)} untimed), the same closed loop.",
        f"Outbox: in-process `Store` + `Outbox`, {plan.jobs:,} jobs enqueued first (timed separately, "
        f"one `enqueue` call each), then timed from `Outbox.start()` to `wait_idle()`; a fresh database "
        f"per run ({fs} file system), {plan.outbox_repeats} run(s) per configuration. "
        "fsync on is `[store] fsync = true` (`PRAGMA synchronous=FULL`); off is `NORMAL` (WAL).",
        "SIGTERM to exit: from `send_signal(SIGTERM)` to `wait()` returning (exit code 0 checked), "
        "one per measured start.",
    ]
    if api.profile_top and api.profiled is not None:
        notes.append(
            f"Profile: one more {WS_CLIENTS}-client run ({len(api.profiled.latencies_ms):,} timed calls) against an "
            "agent under `python -m cProfile` (slower: the figures above come from the unprofiled agent); the "
            "agent's own functions by own time per timed call (warm-up and start included in the totals): "
            + "; ".join(api.profile_top) + ".")
    busy = [f"{phase} {pct:.1f} %" for phase, pct in phases.foreign.items() if pct is not None]
    if busy:
        notes.append("CPU used by other processes, in % of the machine, per phase: " + ", ".join(busy) + ".")
    return BenchGroup(name="agent_host", title=TITLE, rows=rows, notes=notes, quick=options.quick)
