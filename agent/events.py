"""In-process event bus: plugins publish, the local API (and the tray) subscribe.

Events are JSON-RPC notifications on the wire (`card.inserted`, `identity.updated`...). Publishing
is synchronous and never blocks: each subscriber must only enqueue (the websocket server gives every
socket its own bounded queue).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

# `<noun>.<verb>`, or `<noun>.<noun>.<verb>` for a plugin's sub-object (`dmp.document.updated`, issue 14).
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)?\.[a-z][a-z0-9_]*$")
Subscriber = Callable[[str, Mapping[str, Any]], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns the function that removes it."""
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

        return unsubscribe

    def publish(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        if not EVENT_NAME.match(name):
            raise ValueError(f"event name must be <noun>[.<noun>].<verb>: {name!r}")
        payload = dict(params or {})
        for fn in list(self._subscribers):
            try:
                fn(name, payload)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("event subscriber failed for %s", name)
