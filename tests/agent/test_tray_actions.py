"""Tray actions on a real agent: the redacted diagnostic archive, pairing answers, plugin items, quit."""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import Config
from agent.diagnostic import write_diagnostic
from agent.errors import UserFacingError
from agent.tray_actions import TrayActions
from agent.ui import UiPlugin
from tests.conftest import TEST_TOKEN
from tests.plugins.ins.conftest import wait_until


class Notes(UiPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.notes: list[str] = []
        self.opened: list[str] = []

    def notify(self, text: str) -> None:
        self.notes.append(text)

    def open_popup(self, what: str) -> None:
        self.opened.append(what)


@pytest.fixture
async def agent(agent_config: Config) -> Any:
    agent_config.disabled_plugins = ["ins"]
    a = Agent(agent_config)
    await a.start()
    yield a
    await a.stop()


def test_write_diagnostic_redacts_logs_and_secrets(agent_config: Config, tmp_path: Path) -> None:
    log_dir = Path(agent_config.log.dir)
    log_dir.mkdir(parents=True)
    (log_dir / "vigie.log").write_text('{"msg": "lookup for 2 97 02 2A 020 778 78 done"}\n', encoding="utf-8")
    info = {"version": "0.1.0", "services": {"insi": {"state": "ok"}}, "traits": {"birth_name": "ADRTROIS"}}
    path = write_diagnostic(agent_config, info, tmp_path / "out")
    assert path.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["agent-info.json", "config.json", "logs/vigie.log"]
        log = archive.read("logs/vigie.log").decode()
        config = json.loads(archive.read("config.json"))
        agent_info = archive.read("agent-info.json").decode()
    assert "778" not in log and "***" in log
    assert TEST_TOKEN not in json.dumps(config) and config["api"]["tokens"] == "***"
    assert "ADRTROIS" not in agent_info and '"insi"' in agent_info


async def test_tray_actions_diagnostic_pairing_items_quit(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    ui = Notes()
    actions = TrayActions(agent, notify=ui.notify, open_popup=ui.open_popup, open_menu=ui.open_menu)
    opened: list[Path] = []
    monkeypatch.setattr("agent.tray_actions.open_folder", opened.append)
    await actions.run(("diagnostic",))
    assert ui.notes and ui.notes[-1].startswith("Diagnostic exporté : ")
    assert Path(ui.notes[-1].split(" : ", 1)[1]).is_file() and opened

    agent.pairing.auto_accept = False
    decision = asyncio.ensure_future(agent.pairing.request("LGC", None))
    await wait_until(lambda: agent.pairing.pending(), what="pairing pending")
    await actions.run(("pairing", agent.pairing.pending()[0].id, False))
    assert await asyncio.wait_for(decision, 5) is False

    await actions.run(("open", "queue"))
    assert ui.opened == ["queue"]

    async def failing() -> None:
        raise UserFacingError("Lecteur virtuel absent")

    agent.tray_items.append(_item("Carte de test", failing))
    await actions.run(("item", len(agent.tray_items) - 1))
    assert ui.notes[-1] == "Lecteur virtuel absent"  # a plugin's French error reaches the user

    await actions.run(("quit",))
    assert agent._stop_requested is not None and agent._stop_requested.is_set()


def _item(label: str, action: Any) -> Any:
    from agent.app import TrayItem

    return TrayItem(label, action, "sandbox", "test")


async def test_open_folder_without_opener_says_where(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from agent.tray_actions import open_folder

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserFacingError, match="il se trouve ici"):
        open_folder(tmp_path / "logs")
