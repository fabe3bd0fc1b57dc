"""A hardware scanner's result is said to the person at the desk (issue 19 item 9): nobody reads the
answer of a serial or HID scan, so a refused code and a handled one become a notice (`user_notice`, and
`agent.notice` for the LGC); scans typed in the LGC or the popup are answered to their caller instead."""

from __future__ import annotations

import pytest

from agent.errors import UserFacingError
from agent.hookspecs import hookimpl
from tests.plugins.scanner.conftest import AgentFactory, scanner_service


class Notices:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    @hookimpl
    def user_notice(self, text: str, level: str, topic: str) -> None:
        self.seen.append((text, level, topic))


async def test_scan_notice_for_a_refused_hardware_scan(scanner_agent: AgentFactory) -> None:
    notices = Notices()
    agent, _ = await scanner_agent(extra=[(notices, "notices")])
    events: list[dict[str, str]] = []
    agent.events.subscribe(lambda name, params: events.append(dict(params)) if name == "agent.notice" else None)
    with pytest.raises(UserFacingError) as refused:
        await scanner_service(agent).submit(b"bonjour", "serial")
    text = f"Code scanné refusé : {refused.value.message}"
    assert notices.seen == [(text, "warning", "scan.rejected")]
    assert events == [{"text": text, "level": "warning", "topic": "scan.rejected"}]


async def test_scan_no_notice_when_the_caller_reads_the_answer(scanner_agent: AgentFactory) -> None:
    notices = Notices()
    agent, _ = await scanner_agent(extra=[(notices, "notices")])
    for source in ("lgc", "popup"):
        with pytest.raises(UserFacingError):
            await scanner_service(agent).submit(b"bonjour", source)
    assert notices.seen == []
