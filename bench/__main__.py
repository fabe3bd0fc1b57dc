"""`python -m bench [GROUP ...] [--quick] [--output FILE] [--check]`: run benchmark groups.

Each selected group's section of the output file (docs/benchmarks.md by default) is rewritten; the
sections of groups not run are kept as they are.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from bench import GROUPS
from bench.agentproc import REPO, shown
from bench.report import (
    BenchGroup,
    BenchOptions,
    CpuSnapshot,
    fmt,
    foreign_cpu_percent,
    machine_line,
    steal_cpu_percent,
    write_group,
)

DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"

BUSY_WARNING = 10.0  # % of the machine's CPU used by other processes before a run: warn

GroupRunner = Callable[[BenchOptions], BenchGroup]


def load_group(name: str) -> GroupRunner:
    module = importlib.import_module(f"bench.{name}")
    runner = getattr(module, "run", None)
    if not callable(runner):
        raise SystemExit(f"bench.{name} has no run(options) function")
    return cast(GroupRunner, runner)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="*", metavar="GROUP",
                        help=f"groups to run (default: all of {', '.join(GROUPS)})")
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke check, not for publishing)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file to update")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    options = BenchOptions(quick=args.quick)
    command = shown([sys.executable, "-m", "bench", *raw])
    missed = 0
    before = CpuSnapshot.take()
    time.sleep(1.0)
    busy = foreign_cpu_percent(before, CpuSnapshot.take())
    if busy is not None and busy > BUSY_WARNING:
        print(f"warning: other processes use {busy:.0f} % of the machine's CPU; figures will be noisy",
              file=sys.stderr, flush=True)
    for name in args.groups or GROUPS:
        runner = load_group(name)
        print(f"== {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        start = CpuSnapshot.take()
        group = runner(options)
        end = CpuSnapshot.take()
        group.foreign_cpu = foreign_cpu_percent(start, end)
        group.steal_cpu = steal_cpu_percent(start, end)
        group.command = group.command or command
        group.machine = group.machine or machine_line()
        group.quick = options.quick
        write_group(args.output, group)
        print(f"== {name}: {time.perf_counter() - t0:.0f} s, written to {shown([str(args.output)])}",
              file=sys.stderr, flush=True)
        for row in group.rows:
            verdict = {True: "pass", False: "FAIL", None: ""}[row.passed]
            target = row.target.describe(row.unit) if row.target else ""
            p99 = f"  p99 {fmt(row.p99)}" if row.p99 is not None else ""
            print(f"  {row.metric:<70} {fmt(row.median):>10} {row.unit:<14}{p99:<14} {target:<20} {verdict}")
        missed += len(group.failed)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
