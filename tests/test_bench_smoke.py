"""The benchmark package imports and its markdown writer replaces sections (no real benchmark runs)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import bench
from bench.report import BenchGroup, Row, Target, percentile, write_group


def fake_group(name: str, median: float) -> BenchGroup:
    return BenchGroup(
        name=name, title=f"Fake {name}", command="python -m bench fake", machine="test machine",
        rows=[Row.of("latency", "ms", [median, median + 1, median + 2], target=Target("<", 5.0, stat="p99")),
              Row.of("informational", "s", [1.0])],
        notes=["a note with a backslash \\1 and a | pipe"],
    )


def test_bench_groups_are_importable_and_expose_run() -> None:
    for name in bench.GROUPS:
        assert callable(importlib.import_module(f"bench.{name}").run)


def test_bench_sections_are_replaced_not_duplicated(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    write_group(out, fake_group("alpha", 1.0))
    write_group(out, fake_group("beta", 2.0))
    out.write_text(out.read_text() + "\nHand-written text after the sections.\n")
    write_group(out, fake_group("alpha", 3.0))

    text = out.read_text()
    assert text.count("# Benchmarks") == 1
    assert text.count("<!-- bench:alpha -->") == 1 and text.count("<!-- /bench:alpha -->") == 1
    assert text.count("<!-- bench:beta -->") == 1
    assert "| latency | 4 |" in text and "| latency | 2 |" not in text  # alpha rewritten: median of 3, 4, 5
    assert "| latency | 3 |" in text  # beta kept as written
    assert text.index("bench:alpha") < text.index("bench:beta")  # alpha stays in place
    assert "backslash \\1" in text
    assert "Hand-written text after the sections." in text


def test_bench_rows_pass_or_fail_against_their_target() -> None:
    row = Row.of("latency", "ms", [1.0] * 98 + [9.0, 9.0], target=Target("<", 5.0, stat="p99"))
    assert row.median == 1.0 and row.p99 is not None and row.p99 > 5.0 and row.passed is False
    assert Row.of("rate", "jobs/s", [2500.0], target=Target(">=", 2000.0)).passed is True
    assert Row.of("info", "s", [1.0]).passed is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    with pytest.raises(ValueError):
        percentile([], 50)
