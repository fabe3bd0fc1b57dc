"""What the person at the desk is told when a card goes in (pure): whose card it is and what it allows,
or why nothing happens. Shown as a short notice (popup, tray) and sent to the LGC as `agent.notice`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hardware.errors import PinError

ALLOWS = {
    "cps": "vous pouvez interroger l'INSi et qualifier les identités (document d'identité ou attestation).",
    "cpe_nominative": "vous pouvez qualifier avec un document d'identité ; l'attestation reste au praticien.",
    "cpe_anonymous": "elle permet de consulter, pas de qualifier une identité.",
}
CARD_NAMES = {"cps": "Carte CPS", "cpe_nominative": "Carte CPE", "cpe_anonymous": "Carte CPE anonyme"}


def reader_name(reader: str) -> str:
    """`Virtual PCD 00 00` → `Virtual PCD` (PC/SC's slot numbers mean nothing to the user)."""
    return re.sub(r"(\s+\d{2})+$", "", reader).strip() or reader


def professional_card(kind: str, name: str | None) -> str:
    card = CARD_NAMES.get(kind, "Carte professionnelle")
    who = f" de {name}" if name and kind != "cpe_anonymous" else ""
    return f"{card}{who} insérée : {ALLOWS.get(kind, 'rien de plus à faire.')}"


def unknown_card(reader: str) -> str:
    return (f"Carte non reconnue dans le lecteur « {reader_name(reader)} » : Vigie lit les cartes Vitale, CPS et "
            "CPE ; vérifiez la carte et son sens d'insertion.")


def pin_failed(reader: str, message: str) -> str:
    return (f"Carte CPS du lecteur « {reader_name(reader)} » : {message} Les recherches INSi attendent ; "
            "retirez et réinsérez la carte pour saisir de nouveau le code.")


def read_failed(reader: str, message: str) -> str:
    return f"Lecteur « {reader_name(reader)} » : {message}"


class NoticingSigner:
    """The CPS token as the INSi client's signer, telling the user when its PIN is wrong, locked or the entry
    was cancelled: the signature runs in a worker thread long after the card went in, so without this a wrong
    PIN would only surface as an INSi lookup waiting. `on_pin_error(message)` is called on that thread."""

    def __init__(self, token: Any, on_pin_error: Callable[[str], None]) -> None:
        self._token = token
        self._on_pin_error = on_pin_error

    def sign(self, data: bytes) -> bytes:
        try:
            return bytes(self._token.sign(data))
        except PinError as exc:
            self._on_pin_error(exc.message_fr)
            raise

    def __getattr__(self, name: str) -> Any:  # certificate, close, ...: the token's own
        return getattr(self._token, name)
