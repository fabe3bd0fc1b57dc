"""Pairing requests: an LGC asks for a token; the user consents in the tray/popup (or a policy
decides). The waiting websocket gets the token on accept."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

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
