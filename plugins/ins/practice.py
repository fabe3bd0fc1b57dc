"""What waits in the whole practice: identities INSi found that nobody has qualified yet.

With the shared store (PostgreSQL), every workstation's tray shows this count, whoever looked the
patients up (the start-of-day batch at reception, a card in a consulting room). The tray asks for it at
each refresh, synchronously: the count is kept here and re-read in the background when an identity
changes on this workstation (`identity_updated`) or on another (`practice_fact_received`).
"""

from __future__ import annotations

import logging
from typing import Any

from agent.panels import Badge

log = logging.getLogger(__name__)

WAITING = "RECUP"  # INSi answered with an INS; qualification (document or attestation) still to do


class PracticeWaiting:
    def __init__(self, store: Any) -> None:
        self._store = store
        self.count: int | None = None

    @property
    def shared(self) -> bool:
        return bool(getattr(self._store, "shared", False))

    async def refresh(self) -> None:
        try:
            row = await self._store.fetchone("SELECT COUNT(*) FROM ins_identities WHERE status = ?", (WAITING,))
        except Exception as exc:  # the database is away: keep the last count, the store status says why
            log.warning("practice waiting count not refreshed: %s", type(exc).__name__)
            return
        self.count = int(row[0]) if row is not None else 0

    def badge(self) -> Badge | None:
        if not self.shared or not self.count:
            return None
        return Badge(self.count, "Identités à qualifier dans le cabinet", attention=False,
                     hint="trouvées par l'INSi sur l'un des postes, en attente de qualification")
