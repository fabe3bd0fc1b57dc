"""`vigie autostart`: the XDG entry for real (validated, then its Exec line started and answering /health),
the Windows Run value and the macOS LaunchAgent by what they write."""

from __future__ import annotations

import json
import plistlib
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from agent.autostart import AutostartStatus, for_platform, launch_command
from agent.autostart.macos import LABEL, LaunchAgentAutostart
from agent.autostart.windows import RUN_KEY, WindowsAutostart
from agent.autostart.xdg import XdgAutostart, exec_line, parse_exec
from agent.cli import main
from tests.conftest import free_port, subprocess_env
from tests.ui_support import require_binary


def xdg(tmp_path: Path, system: bool = False) -> XdgAutostart:
    system_dir = tmp_path / "etc-xdg"
    if system:
        (system_dir / "autostart").mkdir(parents=True)
        (system_dir / "autostart" / "vigie.desktop").write_text(
            "[Desktop Entry]\nType=Application\nName=Vigie\nExec=/usr/bin/vigie run\n")
    return XdgAutostart(config_home=tmp_path / "config", config_dirs=[system_dir])


def test_autostart_xdg_exec_line_quotes_per_spec() -> None:
    argv = ["/opt/My Vigie/vigie", "run", "100%", 'a"b$c']
    line = exec_line(argv)
    assert line == '"/opt/My Vigie/vigie" run 100%% "a\\"b\\$c"'
    assert parse_exec(line) == argv
    assert parse_exec("/usr/bin/vigie  run") == ["/usr/bin/vigie", "run"]


def test_autostart_xdg_entry_is_valid_and_starts_the_agent(tmp_path: Path) -> None:
    require_binary("desktop-file-validate")
    adapter = xdg(tmp_path)
    status = adapter.enable(launch_command())
    assert status.enabled and status.where == str(tmp_path / "config" / "autostart" / "vigie.desktop")
    check = subprocess.run(["desktop-file-validate", status.where], capture_output=True, text=True, check=False)
    assert check.returncode == 0 and check.stdout == "", check.stdout
    # What a session manager does with the entry: split its Exec line and run it. It must find the
    # user's configuration (XDG_CONFIG_HOME) and start an agent that answers /health.
    port = free_port()
    (tmp_path / "config" / "vigie").mkdir(parents=True)
    (tmp_path / "config" / "vigie" / "config.toml").write_text(
        f'[api]\nport = {port}\n[store]\npath = "{tmp_path / "store.sqlite3"}"\n[log]\ndir = "{tmp_path / "log"}"\n')
    argv = parse_exec(adapter._read(Path(status.where))["Exec"])
    env = {**subprocess_env(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        health, deadline = None, time.monotonic() + 30
        while health is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                    health = json.load(resp)
            except OSError:
                time.sleep(0.1)
        assert health is not None and health["status"] == "ok", proc.poll()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_autostart_xdg_disable_masks_the_system_entry(tmp_path: Path) -> None:
    adapter = xdg(tmp_path, system=True)
    assert adapter.status() == AutostartStatus(True, str(tmp_path / "etc-xdg/autostart/vigie.desktop"),
                                               "/usr/bin/vigie run")
    status = adapter.disable()
    assert not status.enabled and status.where.startswith(str(tmp_path / "config"))
    assert "Hidden=true" in adapter.user_entry.read_text()
    assert (tmp_path / "etc-xdg/autostart/vigie.desktop").exists()  # the package's file is left alone
    assert adapter.enable(["/usr/bin/vigie", "run"]).enabled
    assert "Hidden" not in adapter.user_entry.read_text()


def test_autostart_xdg_disable_without_system_entry_removes_the_user_entry(tmp_path: Path) -> None:
    adapter = xdg(tmp_path)
    adapter.enable(["/usr/bin/vigie", "run"])
    assert not adapter.disable().enabled
    assert not adapter.user_entry.exists()
    assert not adapter.disable().enabled  # twice: no error


class DictRegistry:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, value: str) -> None:
        self.values[name] = value

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


def test_autostart_windows_writes_one_quoted_run_value() -> None:
    registry = DictRegistry()
    adapter = WindowsAutostart(registry)
    status = adapter.enable([r"C:\Program Files\Vigie\vigie.exe", "run"])
    assert registry.values == {"Vigie": r'"C:\Program Files\Vigie\vigie.exe" run'}
    assert status == AutostartStatus(True, f"HKCU\\{RUN_KEY}\\Vigie", r'"C:\Program Files\Vigie\vigie.exe" run')
    assert RUN_KEY == r"Software\Microsoft\Windows\CurrentVersion\Run"
    assert not adapter.disable().enabled and registry.values == {}


def test_autostart_macos_writes_a_launch_agent(tmp_path: Path) -> None:
    adapter = LaunchAgentAutostart(home=tmp_path)
    status = adapter.enable(["/Applications/Vigie.app/Contents/MacOS/vigie", "run"])
    path = tmp_path / "Library" / "LaunchAgents" / "fr.vigie.agent.plist"
    assert status.enabled and status.where == str(path)
    with path.open("rb") as fh:
        plist = plistlib.load(fh)
    assert plist == {"Label": LABEL, "ProgramArguments": ["/Applications/Vigie.app/Contents/MacOS/vigie", "run"],
                     "RunAtLoad": True, "KeepAlive": False, "ProcessType": "Interactive"}
    assert not adapter.disable().enabled and not path.exists()


def test_autostart_adapter_per_platform() -> None:
    assert type(for_platform("linux")).__name__ == "XdgAutostart"
    assert type(for_platform("win32")).__name__ == "WindowsAutostart"
    assert type(for_platform("darwin")).__name__ == "LaunchAgentAutostart"
    assert launch_command()[:3] == [sys.executable, "-m", "agent.cli"]


def test_autostart_cli_enable_status_disable(isolated_home: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(isolated_home / "no-system"))
    assert main(["autostart", "enable"]) == 0
    assert "Démarrage automatique activé" in capsys.readouterr().out
    assert main(["autostart"]) == 0
    assert "activé" in capsys.readouterr().out
    assert main(["autostart", "disable"]) == 0
    assert "Démarrage automatique désactivé" in capsys.readouterr().out
