"""`hardware/` exposes ports and emits events: it imports nothing from `agent/` or `plugins/`."""

from __future__ import annotations

import ast
from pathlib import Path

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"


def test_hardware_imports_nothing_from_agent_or_plugins() -> None:
    offenders = []
    for path in sorted(HARDWARE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("agent", "plugins")]
    assert len(list(HARDWARE.rglob("*.py"))) > 10
    assert offenders == []
