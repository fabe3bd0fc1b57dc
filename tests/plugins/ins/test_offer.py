"""When the popup offers an identity (the INS plugin's `popup_offer` decision), moved from the host."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.ins.offer import DROP, QUEUE, RAISE, WAIT, offer
from plugins.ins.plugin import InsPlugin


def view(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"status": "RECUP", "source": "lgc", "insi": {"state": "done", "outcome": "found"}}
    return {**base, **changes}


@pytest.mark.parametrize(
    ("v", "decision"),
    [
        (view(), RAISE),
        (view(source="vitale"), RAISE),
        (view(source="datamatrix:lgc"), RAISE),
        (view(source="batch"), QUEUE),  # the day's batch joins the queue without popping up
        (view(status="QUAL"), DROP),
        (view(insi={"state": "idle", "outcome": None}), WAIT),
        (view(insi={"state": "pending", "outcome": "pending"}), WAIT),
        (view(insi={"state": "pending", "outcome": "timeout"}), WAIT),  # retried on its own
        (view(status="PROV", insi={"state": "done", "outcome": "timeout"}), RAISE),  # gave up: say so
        (view(status="PROV", insi={"state": "done", "outcome": "not_found"}), RAISE),
        (view(status="PROV", insi={"state": "done", "outcome": "several"}), RAISE),
        (view(status="PROV", insi={"state": "done", "outcome": "unavailable"}), RAISE),
    ],
)
def test_offer_decision(v: dict[str, Any], decision: str) -> None:
    assert offer(v) == decision




def test_popup_offer_hook_answers_only_for_its_kind() -> None:
    plugin = InsPlugin()
    assert plugin.popup_offer(kind="identity", view=view()) == RAISE
    assert plugin.popup_offer(kind="dmp_document", view=view()) is None  # another capability's panel
