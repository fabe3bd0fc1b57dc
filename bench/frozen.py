"""The frozen one-folder build (`make dist`) against the source-tree run: size, start to /health, memory.

Needs dist/vigie/vigie (run `make dist` first; `make bench` skips the group's figures without it and says
so). Starts alternate between the two programs so machine load hits both alike. The `make run` on a fresh
machine figure is measured by bench/fresh_machine.sh (root, debootstrap) and quoted in the notes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.agentproc import REPO, AgentProcess, Profile, shown, vigie_command
from bench.report import BenchGroup, BenchOptions, Row, Target

BUILD = REPO / "dist" / "vigie"


def _size_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def _measure(command: list[str], root: Path, label: str) -> tuple[float, float]:
    profile = Profile(root / label)
    with AgentProcess(profile, label, command=command) as agent:
        health = agent.start()
        agent.wait_started()
        rss = agent.rss_mib()
        agent.terminate()
    return health, rss


def run(options: BenchOptions) -> BenchGroup:
    exe = BUILD / "vigie"
    group = BenchGroup("frozen", "Frozen build (PyInstaller one-folder) vs the source-tree run",
                       command=f"{shown([sys.executable])} -m bench frozen")
    if not exe.exists():
        group.notes.append("No frozen build in dist/vigie: run `make dist`, then `python -m bench frozen`.")
        return group
    starts = 3 if options.quick else 10
    root = Path(tempfile.mkdtemp(prefix="vigie-bench-frozen-"))
    frozen_h: list[float] = []
    frozen_rss: list[float] = []
    venv_h: list[float] = []
    venv_rss: list[float] = []
    try:
        _measure([str(exe)], root, "warmup-frozen")  # page cache, store creation
        _measure(vigie_command(), root, "warmup-venv")
        for i in range(starts):
            h, r = _measure([str(exe)], root, f"frozen-{i}")
            frozen_h.append(h)
            frozen_rss.append(r)
            h, r = _measure(vigie_command(), root, f"venv-{i}")
            venv_h.append(h)
            venv_rss.append(r)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    debs = sorted((REPO / "dist").glob("vigie_*.deb"), key=lambda p: p.stat().st_mtime)
    group.rows = [
        Row.of("Frozen build size on disk (dist/vigie)", "MiB", [_size_mib(BUILD)]),
        Row.of("Frozen start of `vigie run --headless` to `/health`", "s", frozen_h, target=Target("<", 1.5)),
        Row.of("Source-tree (venv) start to `/health`", "s", venv_h),
        Row.of("Frozen RSS after start (VmRSS)", "MiB", frozen_rss, target=Target("<", 80.0)),
        Row.of("Source-tree (venv) RSS after start", "MiB", venv_rss),
    ]
    if debs:
        group.rows.insert(1, Row.of(f"Debian package size ({debs[-1].name}, zstd)", "MiB",
                                    [debs[-1].stat().st_size / 2**20]))
    group.notes += [
        f"{starts} starts of each program after one warm-up start each, alternating frozen / venv; isolated "
        "profile as in the agent_host group (temporary store, logs and HOME, in-memory keyring).",
        "Start runs from just before `Popen` to the first `GET /health` answering `ok`; RSS is VmRSS after the "
        "announce line. The frozen executable unpacks nothing at start (one-folder build).",
        f"Built with `make dist` ({_pyinstaller_version()}).",
    ]
    return group


def _pyinstaller_version() -> str:
    try:
        out = subprocess.run([sys.executable, "-m", "PyInstaller", "--version"], capture_output=True, text=True,
                             timeout=60, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "PyInstaller"
    return f"PyInstaller {out}"
