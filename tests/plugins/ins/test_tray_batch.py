"""The tray's start-of-day batch entry (registered by the INS plugin) runs the day's CSV against INSi."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.errors import UserFacingError
from plugins.ins.plugin import BATCH_TRAY_LABEL
from tests.plugins.ins.conftest import AgentFactory, wait_until


def tray_action(agent: Any) -> Any:
    return next(i for i in agent.tray_items if i.label == BATCH_TRAY_LABEL and i.section == "main").action


async def test_tray_batch_runs_the_configured_file(make_agent: AgentFactory, tmp_path: Path) -> None:
    day = tmp_path / "jour.csv"
    day.write_text("local_id;birth_name;first_names;sex;birth_date\n"
                   "a-1;ADRTROIS;DOMINIQUE;F;1997-02-26\n"
                   "a-2;HOUILLES;PIERRE PAUL JACQUES;M;1993-01-27\n", encoding="utf-8")
    agent = await make_agent(batch_file=str(day))
    opened: list[str] = []
    agent.pages.opener = lambda url: opened.append(url) is None  # the desktop's browser: recorded here
    progress: list[dict[str, Any]] = []
    agent.events.subscribe(lambda name, p: progress.append(dict(p)) if name == "batch.progress" else None)
    result = await tray_action(agent)()
    assert result["total"] == 2 and result["queued"] == 2
    await wait_until(lambda: any(p["done"] == 2 and p["total"] == 2 for p in progress), timeout=20,
                     what="batch done")
    assert len(opened) == 1 and opened[0].startswith(f"{agent.server.url}/web/batch.html#jeton=")  # to follow it


async def test_tray_batch_without_file_opens_the_batch_page(make_agent: AgentFactory, tmp_path: Path) -> None:
    # Issue 19 item 12: no configuration to edit; the page lets the secretary choose the day's file.
    agent = await make_agent()
    opened: list[str] = []
    agent.pages.opener = lambda url: opened.append(url) is None
    assert await tray_action(agent)() is None
    assert opened and opened[0].startswith(f"{agent.server.url}/web/batch.html#jeton=")
    # Without any browser (no graphical session), the user is told where the page is.
    agent.pages.opener = lambda url: False
    with pytest.raises(UserFacingError, match=r"/web/batch.html"):
        await tray_action(agent)()


async def test_tray_batch_unreadable_file_is_named(make_agent: AgentFactory, tmp_path: Path) -> None:
    agent = await make_agent(batch_file=str(tmp_path / "absent.csv"))
    with pytest.raises(UserFacingError, match="illisible"):
        await tray_action(agent)()
