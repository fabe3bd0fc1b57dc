"""The frozen executable's two entry points: the agent asks for its popup with the flag the entry script reads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.popup.host import POPUP_ARG, popup_command

ENTRY = Path(__file__).resolve().parents[2] / "installer" / "vigie_entry.py"


def test_entry_popup_command_in_the_source_tree() -> None:
    assert popup_command() == [sys.executable, "-m", "agent.popup"]


def test_entry_popup_command_when_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert popup_command() == [sys.executable, POPUP_ARG]
    # The entry script compares argv with a literal (so the popup child imports no agent host module).
    assert f'sys.argv[1:2] == ["{POPUP_ARG}"]' in ENTRY.read_text()
