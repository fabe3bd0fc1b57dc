"""The ui plugin's pure parts (settings, display detection, when to offer an identity) and the popup
channel's allow-list, with a real child process standing in for the Tk popup."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import Config
from agent.errors import ConfigError
from agent.popup.host import PopupProcess
from agent.ui import UiPlugin, UiSettings, display_env, parse_ui_settings


def test_parse_ui_settings_defaults_and_values() -> None:
    assert parse_ui_settings({}) == UiSettings(popup=True, tray=True, display=None)
    assert parse_ui_settings({"popup": False, "tray": False, "display": ":5"}) == UiSettings(False, False, ":5")


@pytest.mark.parametrize(("raw", "key"), [
    ({"popup": "yes"}, "plugins.ui.popup"), ({"tray": 1}, "plugins.ui.tray"),
    ({"display": ""}, "plugins.ui.display"), ({"colour": "red"}, "plugins.ui.colour")])
def test_parse_ui_settings_refuses_bad_values(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ui_settings(raw)
    assert info.value.key == key


def test_display_env_linux_needs_a_display() -> None:
    assert display_env(UiSettings(), {}, "linux") is None
    assert display_env(UiSettings(), {"DISPLAY": ":1"}, "linux") == {"DISPLAY": ":1"}
    assert display_env(UiSettings(display=":7"), {"DISPLAY": ":1"}, "linux") == {"DISPLAY": ":7"}
    assert display_env(UiSettings(), {}, "win32") == {}  # Windows and macOS always have a desktop


async def test_ui_plugin_headless_without_display(agent_config: Config) -> None:
    agent = Agent(agent_config)
    await agent.start()
    try:
        ui = agent.plugins.pm.get_plugin("ui")
        assert isinstance(ui, UiPlugin)
        assert ui.popup is None and ui.tray is None
        assert agent.plugins.states["ui"].status == "ok"
    finally:
        await agent.stop()


CHILD = """
import json, sys
print(json.dumps({"op": "ready"}), flush=True)
for i, method in enumerate(["agent.info", "identity.view", "clients.list"], start=1):
    print(json.dumps({"op": "rpc", "id": i, "method": method, "params": {"identity_id": "x"}}), flush=True)
with open(sys.argv[1], "w") as out:
    for n, line in enumerate(sys.stdin, start=1):
        out.write(line); out.flush()
        if n == 3:
            break
"""


async def test_popup_process_answers_only_allowed_methods(agent_config: Config, tmp_path: Path) -> None:
    agent = Agent(agent_config)
    await agent.start()
    replies = tmp_path / "replies.jsonl"
    ui = agent.plugins.pm.get_plugin("ui")
    # The allow-list: the host's own scan.submit plus what the panel kinds registered (INS: identity.view...).
    popup = PopupProcess(agent.rpc, command=[sys.executable, "-c", CHILD, str(replies)], methods=ui.panels.methods)
    try:
        await popup.start()
        for _ in range(200):
            if replies.exists() and len(replies.read_text().splitlines()) == 3:
                break
            await asyncio.sleep(0.05)
        got = {r["id"]: r for r in map(json.loads, replies.read_text().splitlines())}
        assert got[1]["error"]["message"] == "Méthode non permise : agent.info"
        assert got[3]["error"]["message"] == "Méthode non permise : clients.list"
        # identity.view is allowed: it reaches the registry (the INS plugin is not configured here).
        assert got[2]["error"]["message"].startswith("Le module « ins » n'est pas prêt")
    finally:
        await popup.stop()
        await agent.stop()


def test_popup_process_without_tkinter_exits_like_without_display() -> None:
    # Code 3 makes the host wait RESTART_MAX before trying again, instead of restarting a crash every second.
    import subprocess

    code = ('import sys, runpy; sys.modules["tkinter"] = None; '
            'runpy.run_module("agent.popup", run_name="__main__")')
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "tkinter is not installed (Debian/Ubuntu: python3-tk)" in proc.stderr
