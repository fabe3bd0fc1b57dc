"""Counters the tests read: requests, operations, calls in flight, outcomes, the last request bodies."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RequestRecord:
    at: float  # time.time() on arrival
    operation: str  # operation name, or "unknown"
    mode: str  # mtls | cps
    client_cn: str | None
    message_id: str | None
    outcome: str  # "pending", then "CR 00", "fault desir_550", "injected http_503", ...
    body: str


@dataclass
class SandboxStats:
    total: int = 0
    per_operation: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)  # fault kind -> times injected (counted on arrival)
    last_requests: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=50))

    def begin(self) -> None:
        self.total += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self) -> None:
        self.in_flight -= 1

    def arrive(self, record: RequestRecord) -> None:
        """A request was read: count its operation and keep it (its outcome comes with `finish`)."""
        self.per_operation[record.operation] += 1
        self.last_requests.append(record)

    def finish(self, record: RequestRecord, outcome: str) -> None:
        record.outcome = outcome
        self.outcomes[outcome] += 1

    def resize(self, size: int) -> None:
        if self.last_requests.maxlen != size:
            self.last_requests = deque(self.last_requests, maxlen=size)

    @property
    def last_bodies(self) -> list[str]:
        return [r.body for r in self.last_requests]

    def reset(self) -> None:
        """Zero the counters (requests still in flight stay counted in `in_flight`)."""
        self.total = 0
        self.per_operation.clear()
        self.max_in_flight = self.in_flight
        self.outcomes.clear()
        self.injected.clear()
        self.last_requests.clear()

    def to_dict(self, *, bodies: bool = True) -> dict[str, Any]:
        records = []
        for r in self.last_requests:
            item = asdict(r)
            if not bodies:
                item.pop("body")
            records.append(item)
        return {"total": self.total, "per_operation": dict(self.per_operation), "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight, "outcomes": dict(self.outcomes),
                "injected": dict(self.injected), "last_requests": records}

    @staticmethod
    def now() -> float:
        return time.time()
