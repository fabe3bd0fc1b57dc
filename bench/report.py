"""What a benchmark group returns, the statistics it uses, and the markdown file it is written to.

A group (`bench.<name>.run`) returns a `BenchGroup`: a title, rows of figures, the command that
produced them and notes. `write_group` puts the group's section into docs/benchmarks.md between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, replacing a previous run of the same group and
leaving every other group's section untouched.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STATS = ("median", "p99", "min", "max")

HEADER = """# Benchmarks

Written by `make bench` (`.venv/bin/python -m bench [GROUP ...] [--quick]`). Each section below belongs
to one benchmark group and is rewritten, between its `<!-- bench:NAME -->` markers, each time that
group runs; text outside the markers is kept. Figures are medians unless the row says otherwise.
"""


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct`-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no value")
    if not 0 <= pct <= 100:
        raise ValueError("pct must be within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class BenchOptions:
    """What `python -m bench` passes to each group's `run`."""

    quick: bool = False  # shorter runs: a smoke check of the benchmarks, not figures to publish


@dataclass(frozen=True)
class Target:
    """A goal on one statistic of a row, e.g. `Target("<", 1.0)` or `Target("<", 5.0, stat="p99")`."""

    op: str  # "<", "<=", ">" or ">="
    value: float
    stat: str = "median"

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}")
        if self.stat not in STATS:
            raise ValueError(f"unknown statistic {self.stat!r}")

    def met_by(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.value)

    def describe(self, unit: str) -> str:
        prefix = "" if self.stat == "median" else f"{self.stat} "
        return f"{prefix}{self.op} {fmt(self.value)} {unit}".strip()


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Row:
    """One measured figure: the statistics of its samples, its unit and an optional target."""

    metric: str
    unit: str
    median: float
    p99: float | None = None
    min: float | None = None
    max: float | None = None
    samples: int = 1
    target: Target | None = None

    @classmethod
    def of(cls, metric: str, unit: str, values: Sequence[float], *, target: Target | None = None,
           with_p99: bool = False) -> Row:
        """A row summarising `values` (median, min, max, and p99 when asked or targeted)."""
        if not values:
            raise ValueError(f"{metric}: no sample")
        wants_p99 = with_p99 or (target is not None and target.stat == "p99")
        return cls(
            metric=metric, unit=unit, median=statistics.median(values),
            p99=percentile(values, 99) if wants_p99 else None,
            min=min(values), max=max(values), samples=len(values), target=target,
        )

    def stat(self, name: str) -> float | None:
        value: float | None = getattr(self, name)
        return value

    @property
    def passed(self) -> bool | None:
        """True/False against the target; None for an informational row (no target)."""
        if self.target is None:
            return None
        measured = self.stat(self.target.stat)
        return None if measured is None else self.target.met_by(measured)


@dataclass
class BenchGroup:
    name: str  # the module name, e.g. "agent_host"; also the marker of its section
    title: str
    rows: list[Row] = field(default_factory=list)
    command: str = ""
    notes: list[str] = field(default_factory=list)
    machine: str = ""
    quick: bool = False
    # CPU other processes used while the group ran, in % of the machine (`foreign_cpu_percent`).
    foreign_cpu: float | None = None
    steal_cpu: float | None = None  # CPU the hypervisor gave to other guests, in % of the machine

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.passed is False]


def fmt(value: float | None) -> str:
    """A human figure: thousands separators for large values, 3 significant digits otherwise."""
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_line() -> str:
    cores = os.cpu_count() or 0
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return (f"{_cpu_model()}, {cores} logical cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()} ({platform.python_implementation()}), {date}")


@dataclass(frozen=True)
class CpuSnapshot:
    """Machine-wide busy CPU time (/proc/stat) and this process's own plus its waited children's."""

    wall: float
    machine_busy_s: float
    steal_s: float
    own_s: float

    @classmethod
    def take(cls) -> CpuSnapshot:
        times = os.times()
        own = times.user + times.system + times.children_user + times.children_system
        busy, steal = _machine_cpu_seconds()
        return cls(time.perf_counter(), busy, steal, own)


def _machine_cpu_seconds() -> tuple[float, float]:
    """Busy and stolen CPU seconds of the whole machine since boot ((0, 0) where /proc/stat is absent)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0
    # user nice system idle iowait irq softirq steal ...: busy = user + nice + system + irq + softirq
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    steal = fields[7] if len(fields) > 7 else 0
    tick = os.sysconf("SC_CLK_TCK")
    return busy / tick, steal / tick


def foreign_cpu_percent(start: CpuSnapshot, end: CpuSnapshot) -> float | None:
    """CPU used by other processes between two snapshots, in % of the whole machine (None: unknown)."""
    wall = end.wall - start.wall
    if wall <= 0 or end.machine_busy_s == 0.0:
        return None
    foreign = (end.machine_busy_s - start.machine_busy_s) - (end.own_s - start.own_s)
    return max(0.0, foreign) / (wall * (os.cpu_count() or 1)) * 100


def steal_cpu_percent(start: CpuSnapshot, end: CpuSnapshot) -> float | None:
    """CPU time the hypervisor gave to other guests between two snapshots, in % of the machine."""
    wall = end.wall - start.wall
    if wall <= 0 or end.machine_busy_s == 0.0:
        return None
    return (end.steal_s - start.steal_s) / (wall * (os.cpu_count() or 1)) * 100


def render_group(group: BenchGroup) -> str:
    """The markdown section of `group`, markers included."""
    lines = [
        begin_marker(group.name),
        f"## {group.title}",
        "",
        f"- Machine: {group.machine or machine_line()}",
        *([] if group.foreign_cpu is None else [
            f"- Other processes' CPU use during the run: {group.foreign_cpu:.1f} % of the machine"
            + ("" if group.steal_cpu is None else f", hypervisor steal {group.steal_cpu:.1f} %")
            + " (`/proc/stat`, this benchmark's own processes excluded; well above 0, figures are noisy)"]),
        f"- Command: `{group.command}`" + (" (quick mode: shortened runs)" if group.quick else ""),
        "",
        "| Metric | Median | p99 | Min | Max | Unit | Samples | Target | Result |",
        "|---|---:|---:|---:|---:|---|---:|---|---|",
    ]
    for r in group.rows:
        result = {True: "pass", False: "**FAIL**", None: "–"}[r.passed]
        target = r.target.describe(r.unit) if r.target is not None else "–"
        lines.append(
            f"| {_cell(r.metric)} | {fmt(r.median)} | {fmt(r.p99)} | {fmt(r.min)} | {fmt(r.max)} | {_cell(r.unit)} "
            f"| {r.samples} | {_cell(target)} | {result} |"
        )
    if group.notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {note}" for note in group.notes]
    lines.append(end_marker(group.name))
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def begin_marker(name: str) -> str:
    return f"<!-- bench:{name} -->"


def end_marker(name: str) -> str:
    return f"<!-- /bench:{name} -->"


def replace_section(document: str, name: str, section: str) -> str:
    """`document` with the section of group `name` replaced by `section` (appended if absent)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"invalid group name {name!r}")
    pattern = re.compile(
        re.escape(begin_marker(name)) + r".*?" + re.escape(end_marker(name)) + r"[^\S\n]*\n?", re.DOTALL
    )
    if pattern.search(document):
        # A function replacement: `section` is literal text (backslashes, group references...).
        return pattern.sub(lambda _m: section, document, count=1)
    if not document.strip():
        document = HEADER
    if not document.endswith("\n"):
        document += "\n"
    return f"{document}\n{section}"


def write_group(path: Path, group: BenchGroup) -> None:
    """Create or update `path` with the section of `group`, keeping other groups' sections."""
    document = path.read_text(encoding="utf-8") if path.exists() else ""
    updated = replace_section(document, group.name, render_group(group))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(updated, encoding="utf-8")
    os.replace(tmp, path)
