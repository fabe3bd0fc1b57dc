"""The sandbox's card bench: virtual cards plugged into the two vpcd slots on demand.

Driven by `vigie sandbox card insert vitale ADRTROIS` / `vigie sandbox card remove` (through the
agent's `sandbox.card_insert` / `sandbox.card_remove` methods) and the tray's sandbox entries. The
bench lives in the agent process because a card stays inserted only while its socket is open.
"""

from __future__ import annotations

from sandbox.cards.personalities import CPS_ATR, GARBAGE_ATR, InertCard, VitaleCardPersonality
from sandbox.cards.test_cards import TEST_CARDS
from sandbox.cards.vpcd import Personality, VirtualCard

KINDS = ("vitale", "cps", "unknown", "vanishing")
SLOTS = 2


class BenchError(ValueError):
    """Bad request to the bench; the message is French."""


def personality(kind: str, name: str | None) -> Personality:
    if kind in ("vitale", "vanishing"):
        holders = TEST_CARDS.get((name or "ADRTROIS").upper())
        if holders is None:
            raise BenchError(f"Carte Vitale de test inconnue : {name} (connues : {', '.join(TEST_CARDS)}).")
        return VitaleCardPersonality(holders, vanish_on_read=kind == "vanishing")
    if kind == "cps":
        return InertCard(CPS_ATR)
    if kind == "unknown":
        return InertCard(GARBAGE_ATR)
    raise BenchError(f"Type de carte inconnu : {kind} (attendu : {', '.join(KINDS)}).")


class CardBench:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port, self.host = port, host
        self.cards: dict[int, VirtualCard] = {}

    def insert(self, kind: str, name: str | None = None, slot: int | None = None) -> int:
        """Blocking (connects to vpcd): call from a worker thread. Returns the slot used."""
        card_personality = personality(kind, name)
        if slot is None:
            slot = next((s for s in range(SLOTS) if s not in self.cards), None)
            if slot is None:
                raise BenchError("Les deux lecteurs virtuels ont déjà une carte : retirez-en une.")
        elif slot not in range(SLOTS):
            raise BenchError("Lecteur virtuel inconnu (0 ou 1).")
        elif slot in self.cards:
            raise BenchError(f"Le lecteur virtuel {slot} a déjà une carte.")
        card = VirtualCard(card_personality, self.port + slot, self.host)
        try:
            card.insert()
        except OSError as exc:
            raise BenchError(f"Lecteur virtuel injoignable (vpcd, port {self.port + slot}) : {exc}.") from None
        self.cards[slot] = card
        return slot

    def remove(self, slot: int | None = None) -> list[int]:
        slots = [slot] if slot is not None else sorted(self.cards)
        removed = []
        for s in slots:
            card = self.cards.pop(s, None)
            if card is not None:
                card.remove()
                removed.append(s)
        return removed
