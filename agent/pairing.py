"""Pairing requests: an LGC asks for a token; the user consents in the tray/popup (or a policy
decides). The waiting websocket gets the token on accept.

A page allowed to connect, or any local process, can ask as often as it likes, so prompts are
throttled per requester (its origin; every origin-less local process counts as one) and for the
whole agent: one live prompt per requester, a few prompts a minute, and a cool-down after a refusal,
a timeout or a requester that vanished. The practitioner never sees two prompts for one requester.
The client name is the requester's own claim: the prompt leads with the origin (what the browser
vouches for) and the name is refused if it carries control or bidi characters.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agent.rpc import CONFLICT, RATE_LIMITED

log = logging.getLogger(__name__)
_ids = itertools.count(1)

MAX_CLIENT_NAME = 100
# Cc control, Cf format (bidi overrides and isolates, zero-width characters, soft hyphen, tags), Zl/Zp
# line and paragraph separators, Co private use, Cs surrogates, Cn unassigned: none belongs in a name
# shown in a consent sentence, and several can make it read as something else.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
MAX_COMBINING_RUN = 2  # stacked combining marks draw over the neighbouring text


class BadClientName(ValueError):
    """`rule` names what is wrong in French, never the value."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def clean_client_name(name: str) -> str:
    """The name as it will be shown (NFC, spaces collapsed), or BadClientName."""
    text = unicodedata.normalize("NFC", name)
    run = 0
    for char in text:  # before spaces are collapsed: a newline is refused, not turned into a space
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES:
            raise BadClientName("caractères de contrôle, de direction ou invisibles non autorisés")
        run = run + 1 if category in ("Mn", "Me") else 0
        if run > MAX_COMBINING_RUN:
            raise BadClientName("trop de signes diacritiques superposés")
    text = " ".join(text.split())
    if not text:
        raise BadClientName("vide")
    if len(text) > MAX_CLIENT_NAME:
        raise BadClientName(f"{MAX_CLIENT_NAME} caractères au plus")
    return text


def requester_label(origin: str | None) -> str:
    """Who asks, as far as the agent can tell (the trusted part of the prompt)."""
    return origin if origin is not None else "un logiciel de ce poste"


@dataclass
class PairingRequest:
    """One pending consent. `accept()`/`refuse()` may be called from any plugin on the loop."""

    client_name: str
    origin: str | None
    id: int = field(default_factory=lambda: next(_ids))
    created_at: float = field(default_factory=time.time)
    _future: asyncio.Future[bool] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._future = asyncio.get_running_loop().create_future()

    @property
    def prompt(self) -> str:
        # The origin first: it is what the browser vouches for; the name is only the requester's claim.
        return f"Autoriser {requester_label(self.origin)} (se présente comme « {self.client_name} ») à utiliser Vigie ?"

    @property
    def decided(self) -> bool:
        return self._future.done()

    def accept(self) -> None:
        if not self._future.done():
            self._future.set_result(True)

    def refuse(self) -> None:
        if not self._future.done():
            self._future.set_result(False)

    async def wait(self, timeout: float) -> bool:
        """True if accepted; False if refused or nobody answered within `timeout` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._future), timeout)
        except TimeoutError:
            self.refuse()
            return False


PairingPolicy = Callable[[str, str | None], bool | None]
PairingNotify = Callable[[PairingRequest], Awaitable[None] | None]
# A page allowed to connect could flood the practitioner with prompts; beyond this, refuse at once.
MAX_PENDING = 8
REQUESTER_PROMPTS, REQUESTER_PERIOD = 3, 60.0  # prompts per requester per period (a burst of 3)
AGENT_PROMPTS, AGENT_PERIOD = 10, 60.0  # prompts for the whole agent per period
COOLDOWN = 30.0  # after a refusal, a timeout or a requester that vanished, that requester waits

# Why a request was answered without asking (French, shown to the LGC).
BUSY = "Une demande d'appairage de ce logiciel attend déjà la réponse de l'utilisateur"
TOO_MANY = "Trop de demandes d'appairage : réessayez dans quelques minutes"
COOLING = "Demande d'appairage refusée ou abandonnée il y a peu : réessayez dans {seconds} s"
FULL = "Trop de demandes d'appairage en attente : réessayez plus tard"


@dataclass(frozen=True)
class PairingOutcome:
    """`accepted`, or why not: refused or timed out (`message` None), or not even asked (`message`
    says why in French, `code` is the JSON-RPC error to answer with)."""

    accepted: bool
    message: str | None = None
    code: int | None = None


class _Window:
    """At most `count` events per `period` seconds (a sliding window of stamps)."""

    def __init__(self, count: int, period: float) -> None:
        self.count, self.period = count, period
        self.stamps: list[float] = []

    def full(self, now: float) -> bool:
        self.stamps = [t for t in self.stamps if now - t < self.period]
        return len(self.stamps) >= self.count

    def add(self, now: float) -> None:
        self.stamps.append(now)


@dataclass
class _Requester:
    window: _Window
    live: int | None = None  # id of its pending request
    cooldown_until: float = 0.0


def _no_policy(client_name: str, origin: str | None) -> bool | None:
    return None


def _no_notify(request: PairingRequest) -> None:
    return None


class PairingBroker:
    """Decides pairing requests: auto-accept (sandbox), else the policy hook, else the user."""

    def __init__(
        self,
        *,
        auto_accept: bool,
        timeout: float,
        policy: PairingPolicy = _no_policy,
        notify: PairingNotify = _no_notify,
        max_pending: int = MAX_PENDING,
        cooldown: float = COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.auto_accept = auto_accept
        self.timeout = timeout
        self._policy = policy
        self._notify = notify
        self._max_pending = max_pending
        self._cooldown = cooldown
        self._clock = clock
        self._pending: dict[int, PairingRequest] = {}
        # Keyed by origin: only allowed origins get this far (and None), so the table stays small.
        self._requesters: dict[str | None, _Requester] = {}
        self._agent_window = _Window(AGENT_PROMPTS, AGENT_PERIOD)

    def pending(self) -> list[PairingRequest]:
        return list(self._pending.values())

    def decide(self, request_id: int, accept: bool) -> bool:
        """Answer a pending request (tray, popup, `pairing.decide`); False if unknown or decided."""
        req = self._pending.get(request_id)
        if req is None or req.decided:
            return False
        if accept:
            req.accept()
        else:
            req.refuse()
        return True

    async def request(self, client_name: str, origin: str | None) -> bool:
        """True when the client may be given a token. Waits for the user up to `timeout` seconds."""
        return (await self.consider(client_name, origin)).accepted

    def _throttle(self, origin: str | None, now: float) -> PairingOutcome | None:
        """Why a prompt for this requester may not be shown now, or None."""
        who = self._requesters.get(origin)
        if who is not None and who.live is not None:
            return PairingOutcome(False, BUSY, CONFLICT)
        if who is not None and now < who.cooldown_until:
            return PairingOutcome(False, COOLING.format(seconds=max(1, round(who.cooldown_until - now))),
                                  RATE_LIMITED)
        if (who is not None and who.window.full(now)) or self._agent_window.full(now):
            return PairingOutcome(False, TOO_MANY, RATE_LIMITED)
        if len(self._pending) >= self._max_pending:
            return PairingOutcome(False, FULL, RATE_LIMITED)
        return None

    async def consider(self, client_name: str, origin: str | None) -> PairingOutcome:
        """Like `request`, saying why a request was answered without asking the user."""
        if self.auto_accept:
            return PairingOutcome(True)
        try:
            decision = self._policy(client_name, origin)
        except Exception:
            log.exception("pairing policy failed; asking the user instead")
            decision = None
        if decision is not None:
            return PairingOutcome(bool(decision))
        now = self._clock()
        throttled = self._throttle(origin, now)
        if throttled is not None:
            log.warning("pairing request not shown (%d pending): %s", len(self._pending), throttled.message)
            return throttled
        who = self._requesters.setdefault(origin, _Requester(_Window(REQUESTER_PROMPTS, REQUESTER_PERIOD)))
        who.window.add(now)
        self._agent_window.add(now)
        req = PairingRequest(client_name, origin)
        self._pending[req.id] = req
        who.live = req.id
        deadline = asyncio.get_running_loop().time() + self.timeout
        accepted = False
        try:
            try:
                outcome = self._notify(req)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("pairing notification failed (request %d)", req.id)
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            accepted = await req.wait(remaining)
            return PairingOutcome(accepted)
        finally:
            # Also on cancellation (the LGC's socket went away): the prompt is moot, close it as refused.
            req.refuse()
            self._pending.pop(req.id, None)
            who.live = None
            if not accepted:  # refused, timed out or withdrawn: this requester waits before asking again
                who.cooldown_until = self._clock() + self._cooldown
