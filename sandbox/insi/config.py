"""Runtime settings of the INSi sandbox and its deterministic fault injection.

Everything here can be given to `start_insi_sandbox(...)`, changed with `InsiSandbox.configure(**changes)`,
or posted as JSON to `POST /_sandbox/config` (same keys, same validation, applied atomically).

| key | default | meaning |
|---|---|---|
| `latency` | 0.0 | seconds added to every SOAP answer |
| `jitter` | 0.0 | plus uniform [0, jitter) seconds drawn from `random.Random(seed)` in arrival order |
| `seed` | 0 | re-seeds the jitter generator when changed |
| `timeout_hold` | 30.0 | seconds a `timeout` fault holds the request (unless the rule gives `hold`) |
| `faults` | [] | fault rules, see below (replaces the list; counters restart) |
| `idams` | [`VIGIE-SANDBOX-IDAM`] | IDAMs the service knows; others get siram_100/desir_550 |
| `accepted_cns` | [`INSI-AUTO`, `INSI-MANU`] | client certificate CNs allowed in mTLS mode (else DESIR_560) |
| `extra_identities` | [] | identities added to the CSV ones (CSV-row mappings, see identities.py) |
| `body_style` | `sample` | envelope prefixes: sample, live, cnda, soap (responses.py) |
| `addressing_headers` | False | add a SOAP Header with wsa:Action/MessageID/RelatesTo (the samples have none) |
| `strict` | True | refuse requests breaking the documented schema (contexts, order, formats, content type) |
| `require_specialty_code` | False | CPS mode: require the `codeSpecialite` attribute ([2nd] in insi.md §3.4) |
| `assertion_max_age` | 3600.0 | CPS mode: maximum age of the assertion's IssueInstant, seconds |
| `history_size` | 50 | how many requests `stats.last_requests` keeps |

A fault rule is a mapping (a bare string `"siram_40"` is shorthand for `{"fault": "siram_40"}`):

    {"match": {"birth_name": "FAUTE"}, "fault": "siram_40", "times": 2, "after": 0, "delay": 0.0, "hold": null}

- `match`: all given keys must fit the request (none: every request). Keys: `operation` (full name or
  `traits`/`vitale`), `birth_name`, `first_name` (one of the sent Prenom names), `sex`, `birth_date`,
  `birth_place`, `idam`, `mode` (`mtls`/`cps`), `nir`, `message_id`. Names compare normalised.
- `fault`: a kind from faults.py (`siram_40`, `siram_40_desir_1020`, `siram_100`, `desir_560`, `http_503`,
  `timeout`, `malformed`, `empty`, `reset`, `none`).
- `after`: let this many matching requests through first; `times`: fire at most this many times (null:
  always). `delay`: extra seconds when it fires; `hold`: hold time of a `timeout`.

Each SOAP request walks the rules in order: every matching rule counts the request; every rule that fires
adds its delay; the first firing rule whose fault is not `none` decides the answer (later fault rules do
not fire for that request). Injected faults come before authentication and IDAM checks.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sandbox.insi.faults import check_kind
from sandbox.insi.identities import Identity, identity_from_row, normalise
from sandbox.insi.request import OP_TRAITS, OP_VITALE
from sandbox.insi.responses import BODY_STYLES

DEFAULT_IDAM = "VIGIE-SANDBOX-IDAM"
MATCH_KEYS = ("operation", "birth_name", "first_name", "sex", "birth_date", "birth_place", "idam", "mode", "nir",
              "message_id")
_OPERATION_ALIASES = {"traits": OP_TRAITS, "vitale": OP_VITALE}
_NORMALISED = ("birth_name", "first_name", "sex", "birth_place")


@dataclass(frozen=True)
class RequestFacts:
    """What fault rules can match on (empty values when the request could not be read)."""

    operation: str | None = None
    birth_name: str | None = None
    first_names: tuple[str, ...] = ()
    sex: str | None = None
    birth_date: str | None = None
    birth_place: str | None = None
    idam: str | None = None
    mode: str | None = None
    nir: str | None = None
    message_id: str | None = None


def _number(key: str, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ValueError(f"{key}: expected a number >= {minimum}, got {value!r}")
    return float(value)


def _integer(key: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _strings(key: str, value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key}: expected a list of strings")
    return list(value)


@dataclass
class FaultRule:
    fault: str = "none"
    match: dict[str, str] = field(default_factory=dict)
    times: int | None = None
    after: int = 0
    delay: float = 0.0
    hold: float | None = None
    seen: int = 0  # matching requests so far
    fired: int = 0

    @classmethod
    def from_value(cls, raw: Any) -> FaultRule:
        if isinstance(raw, FaultRule):
            return copy.copy(raw)
        if isinstance(raw, str):
            raw = {"fault": raw}
        if not isinstance(raw, Mapping):
            raise ValueError(f"fault rule {raw!r}: expected a mapping or a fault name")
        unknown = set(raw) - {"fault", "match", "times", "after", "delay", "hold"}
        if unknown:
            raise ValueError(f"fault rule: unknown key(s) {', '.join(sorted(unknown))}")
        fault = raw.get("fault", "none")
        if not isinstance(fault, str):
            raise ValueError("fault rule: fault must be a string")
        match = raw.get("match") or {}
        if not isinstance(match, Mapping):
            raise ValueError("fault rule: match must be a mapping")
        bad = set(match) - set(MATCH_KEYS)
        if bad:
            raise ValueError(f"fault rule: unknown match key(s) {', '.join(sorted(bad))} (known: "
                             f"{', '.join(MATCH_KEYS)})")
        if not all(isinstance(v, str) for v in match.values()):
            raise ValueError("fault rule: match values must be strings")
        times = raw.get("times")
        return cls(
            fault=check_kind(fault),
            match=dict(match),
            times=None if times is None else _integer("fault rule times", times, minimum=0),
            after=_integer("fault rule after", raw.get("after", 0), minimum=0),
            delay=_number("fault rule delay", raw.get("delay", 0.0)),
            hold=None if raw.get("hold") is None else _number("fault rule hold", raw["hold"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"fault": self.fault, "match": dict(self.match), "times": self.times, "after": self.after,
                "delay": self.delay, "hold": self.hold, "seen": self.seen, "fired": self.fired}

    def matches(self, facts: RequestFacts) -> bool:
        for key, wanted in self.match.items():
            if key == "first_name":
                names = {n for s in facts.first_names for n in normalise(s).split(" ")}
                if normalise(wanted) not in names:
                    return False
                continue
            if key == "operation":
                if _OPERATION_ALIASES.get(wanted, wanted) != facts.operation:
                    return False
                continue
            actual = getattr(facts, key)
            if key in _NORMALISED:
                if normalise(actual) != normalise(wanted):
                    return False
            elif (actual or "") != wanted:
                return False
        return True

    def can_fire(self) -> bool:
        return self.seen > self.after and (self.times is None or self.fired < self.times)


@dataclass
class Decision:
    delay: float = 0.0
    rule: FaultRule | None = None  # the rule whose fault decides the answer

    @property
    def fault(self) -> str | None:
        return self.rule.fault if self.rule is not None else None


def _identity(raw: Any) -> Identity:
    if isinstance(raw, Identity):
        return raw
    if not isinstance(raw, Mapping):
        raise ValueError(f"extra identity {raw!r}: expected a mapping with the CSV columns")
    return identity_from_row(raw)


@dataclass
class SandboxConfig:
    latency: float = 0.0
    jitter: float = 0.0
    seed: int = 0
    timeout_hold: float = 30.0
    faults: list[FaultRule] = field(default_factory=list)
    idams: list[str] = field(default_factory=lambda: [DEFAULT_IDAM])
    accepted_cns: list[str] = field(default_factory=lambda: ["INSI-AUTO", "INSI-MANU"])
    extra_identities: list[Identity] = field(default_factory=list)
    body_style: str = "sample"
    addressing_headers: bool = False
    strict: bool = True
    require_specialty_code: bool = False
    assertion_max_age: float = 3600.0
    history_size: int = 50

    def update(self, changes: Mapping[str, Any]) -> set[str]:
        """Validate and apply `changes` all at once (nothing applied on error); return the changed keys."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        staged: dict[str, Any] = {}
        for key, value in changes.items():
            if key in ("latency", "jitter", "timeout_hold", "assertion_max_age"):
                staged[key] = _number(key, value)
            elif key == "seed":
                staged[key] = _integer(key, value, minimum=-(2**63))
            elif key == "history_size":
                staged[key] = _integer(key, value, minimum=1)
            elif key == "faults":
                if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
                    raise ValueError("faults: expected a list of rules")
                staged[key] = [FaultRule.from_value(v) for v in value]
            elif key in ("idams", "accepted_cns"):
                staged[key] = _strings(key, value)
            elif key == "extra_identities":
                if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
                    raise ValueError("extra_identities: expected a list")
                staged[key] = [_identity(v) for v in value]
            elif key == "body_style":
                if value not in BODY_STYLES:
                    raise ValueError(f"body_style: one of {', '.join(BODY_STYLES)}")
                staged[key] = value
            else:  # the booleans
                if not isinstance(value, bool):
                    raise ValueError(f"{key}: expected true or false")
                staged[key] = value
        for key, value in staged.items():
            setattr(self, key, value)
        return set(staged)

    def decide(self, facts: RequestFacts) -> Decision:
        decision = Decision()
        for rule in self.faults:
            if not rule.matches(facts):
                continue
            rule.seen += 1
            if not rule.can_fire():
                continue
            if rule.fault != "none" and decision.rule is not None:
                continue  # a fault is already chosen: this rule stays unfired
            rule.fired += 1
            decision.delay += rule.delay
            if rule.fault != "none":
                decision.rule = rule
        return decision

    def reset_counters(self) -> None:
        for rule in self.faults:
            rule.seen = rule.fired = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "faults":
                value = [r.to_dict() for r in value]
            elif f.name == "extra_identities":
                value = [{"birth_name": i.birth_name, "first_names": i.first_names_text, "sex": i.sex,
                          "birth_date": i.birth_date, "expected_cr": i.expected_cr} for i in value]
            elif isinstance(value, list):
                value = list(value)
            out[f.name] = value
        return out
