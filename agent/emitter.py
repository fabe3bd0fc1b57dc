"""One way to tell the world a fact: the hook first, then the LGC's websocket event, from one table.

Before, a fact went out twice by hand (`events.publish("card.inserted")` then `call_each("card_inserted")`),
some facts had only an event (`identity.updated`) and the UI listened to the websocket bus. Now a
producer calls `emitter.emit("card_inserted", reader=..., atr=..., kind=...)`: every plugin's
`card_inserted` runs (isolated, through `call_each`), then the `card.inserted` event goes to the LGCs with
the parameters `FACTS` derives from the hook's arguments (never more: the ATR stays in the agent).

`publish(name, params)` is for the events no plugin needs as a hook (progress counters, per-plugin
events such as `prescription.created`): they go to the LGCs only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.hookcall import DEFAULT_TIMEOUT, call_each

if TYPE_CHECKING:
    from agent.events import EventBus
    from agent.plugins import PluginHost

Params = Callable[[Mapping[str, Any], list[Any]], dict[str, Any]]


@dataclass(frozen=True)
class Fact:
    """A notification hook and the LGC event that follows it (None: the fact stays inside the agent)."""

    event: str | None
    params: Params = lambda kwargs, results: dict(kwargs)
    # Heard by the practice's other workstations too (shared store; agent/practice.py). Its event
    # parameters must be ids and states only: they cross the network.
    practice: bool = False


def acting_user_dict(user: Any) -> dict[str, Any]:
    """How `agent.info` and `acting_user.changed` show who is acting (an `agent.acting.ActingUser`)."""
    return {"kind": user.kind, "name": user.name, "national_id": user.national_id,
            "profession": user.profession, "reader": user.reader,
            "source": "card" if user.from_card else "configured" if user.kind == "configured" else "none"}


def _scan_event(kwargs: Mapping[str, Any], results: list[Any]) -> dict[str, Any]:
    # The scanned content stays in the agent; the LGC learns which identity the scan led to, if any.
    event: dict[str, Any] = {"kind": kwargs["kind"], "source": kwargs["source"]}
    for result in results:
        if isinstance(result, Mapping) and "identity_id" in result:
            event["identity_id"] = result["identity_id"]
    return event


# hook name -> the LGC event that follows it (docs/local-api.md documents each event).
FACTS: dict[str, Fact] = {
    "card_service_changed": Fact("card.service_changed"),
    "reader_added": Fact(None),
    "reader_removed": Fact(None),
    "card_inserted": Fact("card.inserted", lambda a, r: {"reader": a["reader"], "kind": a["kind"]}),
    "card_removed": Fact("card.removed"),
    "vitale_card_read": Fact("card.read", lambda a, r: {"reader": a["reader"], "kind": "vitale",
                                                        "beneficiaries": len(a["card"].beneficiaries)}),
    "pin_requested": Fact("pin.requested", lambda a, r: {"request_id": a["request"].id,
                                                         "reader": a["request"].reader,
                                                         "prompt": a["request"].prompt}),
    "acting_user_changed": Fact("acting_user.changed", lambda a, r: {"acting_user": acting_user_dict(a["user"])}),
    "scan_received": Fact("scan.received", _scan_event),
    "identity_updated": Fact("identity.updated", practice=True),
    # The host's own facts; `agent.status` (a snapshot, not a fact) is published after them by the host.
    "plugin_status_changed": Fact(None),
    "outbox_job_dead": Fact(None),
    "pairing_requested": Fact("pairing.requested", lambda a, r: {"request_id": a["request"].id,
                                                                 "client_name": a["request"].client_name}),
    "user_notice": Fact("agent.notice"),  # agent.panels.notify_user
    "panel_changed": Fact(None),  # the ui plugin refreshes the popup's panel (docs/ui.md)
}


# LGC-only events the practice's other workstations hear too (ids and counts only): a batch started at
# reception is run by every agent of the practice, and each reports its share of the progress.
PRACTICE_EVENTS = frozenset({"batch.progress"})


class Emitter:
    """Bound to one agent's plugins and event bus; plugins get it in their `PluginContext`."""

    def __init__(self, host: PluginHost, events: EventBus) -> None:
        self._host = host
        self._events = events
        # Set by the host when the store is shared: `relay(event, params)` tells the other agents.
        self.relay: Callable[[str, Mapping[str, Any]], None] | None = None

    async def emit(self, hook: str, /, *, timeout: float | None = DEFAULT_TIMEOUT, **kwargs: Any) -> list[Any]:
        """Call `hook` on every started plugin, then publish its LGC event; the hooks' non-None results."""
        fact = FACTS.get(hook)
        if fact is None:
            raise KeyError(f"{hook!r} is not a fact of agent.emitter.FACTS")
        results = await call_each(self._host, hook, timeout=timeout, **kwargs)
        if fact.event is not None:
            params = fact.params(kwargs, results)
            self._events.publish(fact.event, params)
            if fact.practice and self.relay is not None:
                self.relay(fact.event, params)
        return results

    def publish(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        """An LGC-only event (no plugin hook): `batch.progress`, `prescription.created`..."""
        if any(f.event == name for f in FACTS.values()):
            raise ValueError(f"{name!r} follows a hook: emit the hook instead")
        self._events.publish(name, params)
        if name in PRACTICE_EVENTS and self.relay is not None:
            self.relay(name, params or {})
