"""When the popup offers an identity (pure; `popup_offer` hook of the INS plugin).

Mission: every patient for whom INSi was called is offered qualification. The window comes up by itself
for what the user is doing now (record opened, card inserted, document scanned); identities of the
start-of-day batch only join the queue (the tray counts them), so that 40 windows do not pop up at 8 am.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KIND = "identity"
RAISE, QUEUE, DROP, WAIT = "raise", "queue", "drop", "wait"
# Transient answers the outbox retries on its own: not worth interrupting the practitioner yet.
RETRYING = ("timeout", "unavailable", "malformed")


def offer(view: Mapping[str, Any]) -> str:
    """`raise` (show now), `queue` (list it, do not interrupt), `drop` (nothing to do) or `wait`."""
    if view.get("status") == "QUAL":
        return DROP
    insi = view.get("insi") or {}
    outcome = insi.get("outcome")
    if outcome in (None, "idle", "pending"):
        return WAIT
    if outcome in RETRYING and insi.get("state") == "pending":
        return WAIT
    return QUEUE if view.get("source") == "batch" else RAISE
