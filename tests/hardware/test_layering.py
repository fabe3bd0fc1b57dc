"""The layers of the tree, checked on every source file (architecture.md "Layout").

- `hardware/` exposes ports and emits events: it imports nothing from `agent/`, `plugins/` or `sandbox/`;
- `agent/` (the host) imports neither `plugins/` nor `sandbox/` (built-in plugins are named by strings in
  `DEFAULT_PLUGINS` and loaded like third-party ones, which is not an import);
- `plugins/` never import `sandbox/`: the stand-ins are plugins of their own, registered only by the sandbox.

Every import counts: at module top, inside functions, under `if TYPE_CHECKING:`, and modules loaded by name
(`importlib.import_module("sandbox.x")`, `__import__`, a `"sandbox.x:Attr"` reference string).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARDWARE = ROOT / "hardware"
LAYERS = ("agent", "plugins", "hardware", "sandbox")
FORBIDDEN = {"agent": {"plugins", "sandbox"}, "plugins": {"sandbox"}, "hardware": {"agent", "plugins", "sandbox"}}
LOADERS = {"import_module", "__import__", "find_spec", "_load_reference"}


def _is_module(name: str) -> bool:
    """`name` ("pkg.mod" or "pkg.mod:attr") names a module of this repository."""
    parts = name.partition(":")[0].split(".")
    if not parts or parts[0] not in LAYERS or not all(p.isidentifier() for p in parts):
        return False
    path = ROOT.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def references(source: str, filename: str = "<source>") -> Iterator[tuple[int, str]]:
    """(line, module) for every module of the tree `source` imports or names as a module."""
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in LOADERS and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value.partition(":")[0]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("sandbox."):
            # A reference string to a sandbox module (a plugin or keyring backend named by string).
            if _is_module(node.value):
                yield node.lineno, node.value.partition(":")[0]


def violations(layer: str, source: str, filename: str = "<source>") -> list[str]:
    forbidden = FORBIDDEN[layer]
    out = []
    for line, module in sorted(set(references(source, filename))):
        top = module.split(".")[0]
        if top not in forbidden:
            continue
        if layer == "agent" and top == "plugins" and not _loaded_by_call(source, line):
            continue  # a `DEFAULT_PLUGINS` string, not an import (see module docstring)
        out.append(f"{filename}:{line}: {module}")
    return out


def _loaded_by_call(source: str, line: int) -> bool:
    """True for an import statement or an import call at `line` (not a bare reference string)."""
    for node in ast.walk(ast.parse(source)):
        if getattr(node, "lineno", None) == line and isinstance(node, ast.Import | ast.ImportFrom | ast.Call):
            return True
    return False


def tree_violations(layer: str) -> list[str]:
    out = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        out += violations(layer, path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    return out


def test_hardware_imports_nothing_from_agent_or_plugins() -> None:
    offenders = []
    for path in sorted(HARDWARE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("agent", "plugins")]
    assert len(list(HARDWARE.rglob("*.py"))) > 10
    assert offenders == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layering_whole_tree(layer: str) -> None:
    assert len(list((ROOT / layer).rglob("*.py"))) > 5  # the walk sees the tree
    assert tree_violations(layer) == []


SAMPLE = '''
from __future__ import annotations
import importlib
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from sandbox.supervisor import SandboxService
DEFAULT = {"ins": "plugins.ins.plugin:InsPlugin"}
BACKEND = "sandbox.cards.bench:CardBench"
NOT_A_MODULE = "sandbox.card_insert"
def f():
    import sandbox.cards.bench
    from plugins.cards import service
    return importlib.import_module("sandbox.scanner.emulator"), __import__("plugins.ins.service")
'''


def test_layering_checker_sees_every_kind_of_import() -> None:
    assert sorted(violations("agent", SAMPLE)) == sorted([
        "<source>:6: sandbox.supervisor", "<source>:8: sandbox.cards.bench", "<source>:11: sandbox.cards.bench",
        "<source>:12: plugins.cards", "<source>:13: sandbox.scanner.emulator", "<source>:13: plugins.ins.service"])
    # plugins/ may import plugins/, and name modules in strings; never sandbox/.
    assert sorted(violations("plugins", SAMPLE)) == sorted([
        "<source>:6: sandbox.supervisor", "<source>:8: sandbox.cards.bench", "<source>:11: sandbox.cards.bench",
        "<source>:13: sandbox.scanner.emulator"])
    assert violations("hardware", "def g():\n    from agent.errors import UserFacingError\n") == [
        "<source>:2: agent.errors"]
