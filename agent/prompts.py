"""Questions the agent asks the user through whatever UI is present (native popup, LGC page).

A `PinRequest` is raised by the card layer when a CPS/CPE needs its PIN; the `pin_requested` hook
hands it to the UIs, the first answer wins. The PIN itself never appears in a repr, a log or the store.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

_ids = itertools.count(1)


@dataclass
class PinRequest:
    """One pending PIN prompt. `submit()`/`cancel()` may be called from any coroutine on the loop."""

    reader: str
    card_label: str  # what the user sees: "CPS de Dr Jean MARTIN", "CPE", ...
    tries_left: int | None = None  # from the token when it tells (CKF_USER_PIN_COUNT_LOW/FINAL_TRY)
    id: int = field(default_factory=lambda: next(_ids))
    created_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        # Not a dataclass field: `agent.logging.redact` (hook tracing) walks every field, repr=False ones
        # included, and an answered future's repr shows its result, the PIN.
        self._future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    @property
    def prompt(self) -> str:
        text = f"Code porteur de la carte ({self.card_label}) :"
        if self.tries_left == 1:
            text += " dernier essai avant blocage."
        elif self.tries_left is not None:
            text += f" {self.tries_left} essais restants."
        return text

    @property
    def decided(self) -> bool:
        return self._future.done()

    def submit(self, pin: str) -> None:
        if not self._future.done():
            self._future.set_result(pin)

    def cancel(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self, timeout: float) -> str | None:
        """The PIN, or None when cancelled or unanswered within `timeout` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._future), timeout)
        except TimeoutError:
            self.cancel()
            return None
