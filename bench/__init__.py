"""Benchmarks of Vigie, run by `make bench` (`python -m bench [GROUP ...] [--quick]`).

Each group is a module `bench.<name>` exposing `run(options: BenchOptions) -> BenchGroup`; list it in
`GROUPS` to add it. Results go to docs/benchmarks.md, one section per group (see `bench.report`).
"""

from __future__ import annotations

# Groups run by default, in this order. Add a module name here to add a group.
GROUPS: tuple[str, ...] = ("agent_host", "ins", "cards", "scanner", "eprescription", "ui", "practice", "frozen",
                          "dmp", "mss")
