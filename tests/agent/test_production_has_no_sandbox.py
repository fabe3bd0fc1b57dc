"""A production `vigie` (no `--sandbox`) loads no sandbox module and offers no sandbox command or method.

The stand-ins are plugins of `sandbox/`, registered only when the sandbox runs (`vigie run --sandbox`,
`vigie sandbox ...`): `vigie --help` and `vigie run` must not even import them, so a frozen build can
leave `sandbox/` out.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import tomli_w

from tests.conftest import PYTHON, REPO, TEST_TOKEN, subprocess_env

HELP_PROBE = r"""
import contextlib, io, json, sys
import agent.cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        agent.cli.main(["--help"])
    except SystemExit:
        pass
print("VIGIE-PROBE " + json.dumps({"help": out.getvalue(),
                                   "modules": sorted(m for m in sys.modules if m.split(".")[0] == "sandbox")}))
"""

RUN_PROBE = r"""
import json, sys
import agent.app, agent.cli
original = agent.app.Agent.start
async def start_and_report(self):
    await original(self)
    print("VIGIE-PROBE " + json.dumps({
        "modules": sorted(m for m in sys.modules if m.split(".")[0] == "sandbox"),
        "methods": sorted(self.rpc.names()), "plugins": sorted(self.plugins.states),
        "tray": [(i.label, i.section, i.plugin) for i in self.tray_items],
        "hooks": sorted(n for n in dir(self.plugins.hook) if "sandbox" in n)}), flush=True)
    self.request_stop()
agent.app.Agent.start = start_and_report
sys.exit(agent.cli.main(["run", "--headless", "--config", sys.argv[1]]))
"""


def _probe(code: str, *args: str, home: Path) -> dict[str, Any]:
    proc = subprocess.run([PYTHON, "-c", code, *args], cwd=REPO, env=subprocess_env(home), capture_output=True,
                          text=True, timeout=120)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("VIGIE-PROBE ")), None)
    assert line is not None, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    result: dict[str, Any] = json.loads(line.removeprefix("VIGIE-PROBE "))
    return result


def test_cli_help_imports_no_sandbox_module(tmp_path: Path) -> None:
    probe = _probe(HELP_PROBE, home=tmp_path / "home")
    assert "démarrer l'agent" in probe["help"]  # the probe did run the help
    assert "piloter le bac à sable" in probe["help"]  # listed (installed here), yet not imported
    assert probe["modules"] == []


def test_production_run_imports_no_sandbox_module_and_registers_nothing_of_it(tmp_path: Path) -> None:
    config = tmp_path / "vigie.toml"
    config.write_text(tomli_w.dumps({
        "api": {"port": 0, "tokens": [TEST_TOKEN]},
        "store": {"path": str(tmp_path / "store" / "vigie.sqlite3")},
        "log": {"dir": str(tmp_path / "logs")},
    }), encoding="utf-8")
    probe = _probe(RUN_PROBE, str(config), home=tmp_path / "home")
    assert "agent.info" in probe["methods"] and "ins" in probe["plugins"]  # a real, fully started agent
    assert probe["modules"] == []
    assert [m for m in probe["methods"] if m.startswith("sandbox.")] == []
    assert [p for p in probe["plugins"] if "sandbox" in p] == []
    assert [t for t in probe["tray"] if t[1] == "sandbox"] == []
    assert probe["hooks"] == []  # the sandbox's hookspecs are not even known


def test_production_cli_has_no_sandbox_command(isolated_home: Path) -> None:
    from agent.cli import _collect_plugin_commands
    from agent.plugins import PluginHost

    host = PluginHost()
    host.load()
    commands = _collect_plugin_commands(host)
    assert "scan" in commands and "ins" in commands  # the product's own commands are there
    assert [c for c in commands if c.split(" ")[0] == "sandbox"] == []
