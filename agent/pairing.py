"""Pairing requests: an LGC asks for a token; the user consents in the tray/popup (or a policy
decides). The waiting websocket gets the token on accept."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
_ids = itertools.count(1)


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
        return f"Autoriser « {self.client_name} » à utiliser Vigie ?"

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
    ) -> None:
        self.auto_accept = auto_accept
        self.timeout = timeout
        self._policy = policy
        self._notify = notify
        self._max_pending = max_pending
        self._pending: dict[int, PairingRequest] = {}

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
        if self.auto_accept:
            return True
        try:
            decision = self._policy(client_name, origin)
        except Exception:
            log.exception("pairing policy failed; asking the user instead")
            decision = None
        if decision is not None:
            return bool(decision)
        if len(self._pending) >= self._max_pending:
            log.warning("pairing request refused: %d requests already pending", len(self._pending))
            return False
        req = PairingRequest(client_name, origin)
        self._pending[req.id] = req
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            try:
                outcome = self._notify(req)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("pairing notification failed (request %d)", req.id)
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            return await req.wait(remaining)
        finally:
            # Also on cancellation (the LGC's socket went away): the prompt is moot, close it as refused.
            req.refuse()
            self._pending.pop(req.id, None)
