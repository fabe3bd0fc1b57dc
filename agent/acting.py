"""Who is acting: the professional whose CPS/CPE is in a reader, or the configured default.

The card layer sets it (`Agent.set_acting_user`), plugins read `agent.acting_user` (the INS plugin
applies the qualification rules to it) and `agent.info` shows it. Plain data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

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
