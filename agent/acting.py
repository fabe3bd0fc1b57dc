"""Who is acting: the professional whose CPS/CPE is in a reader, or the configured default.

`ActingUsers` is the port plugins get in their `PluginContext` (`context.acting`). The cards plugin, which
reads the CPS/CPE, is its only writer of the card user and its signer (`set_card_user`); a capability that
knows the configured professional (INS) sets the default; everybody else reads `current` (the INS plugin
applies the qualification rules to it) and `agent.info` shows it. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.emitter import Emitter

# kind: "cps" (professional card), "cpe_nominative", "cpe_anonymous" (establishment cards),
# "configured" (no card: the default from the configuration), "none" (nothing configured either).
ACTING_KINDS = ("cps", "cpe_nominative", "cpe_anonymous", "configured", "none")


@dataclass(frozen=True)
class ActingUser:
    kind: str
    name: str | None = None
    national_id: str | None = None  # RPPS-based national identifier ("8" + RPPS) when the card tells
    profession: str | None = None
    reader: str | None = None  # the reader holding the card, when it comes from a card

    @property
    def from_card(self) -> bool:
        return self.kind in ("cps", "cpe_nominative", "cpe_anonymous")


class ActingUsers:
    """The acting user and the CPS signer, for one agent."""

    def __init__(self, emitter: Emitter) -> None:
        self._emitter = emitter
        self._card_user: ActingUser | None = None
        self.default = ActingUser(kind="none")
        # The CPS signer (PKCS#11) while a CPS is in; INSi CPS mode signs its assertion with it.
        self.card_signer: Any | None = None

    @property
    def current(self) -> ActingUser:
        return self._card_user or self.default

    async def set_card_user(self, user: ActingUser | None, signer: Any | None = None) -> None:
        """A CPS/CPE was read (`user`, with its signer) or removed (None: the default applies again)."""
        if user is not None and not user.from_card:
            raise ValueError(f"a card user must come from a card, not {user.kind!r}")
        self._card_user = user
        self.card_signer = signer if user is not None else None
        await self._emitter.emit("acting_user_changed", user=self.current)

    def set_default(self, user: ActingUser) -> None:
        """The configured default (a plugin's configuration), shown as such when no card is in."""
        if user.from_card:
            raise ValueError("the configured default cannot be a card user")
        self.default = user
