"""The `VitaleReader` port and its APDU backend (development and tests; blocking calls).

Production reads go through the official SESAM-Vitale library (`hardware/vitale/sesam.py`); this
backend reads only the public identity block (hardware.md B3) and never fills what it cannot read.
"""

from __future__ import annotations

from typing import Protocol

from hardware.errors import CardError
from hardware.pcsc.session import CardSession
from hardware.ports import VitaleCard
from hardware.vitale.apdu import AID_VITALE, CHUNK, BlockError, decode_block, read_binary, select_aid

OK = 0x9000


class VitaleReader(Protocol):
    name: str

    def read(self, reader: str) -> VitaleCard:
        """Read the card in `reader` (blocking). Raises `CardError` (French message)."""
        ...


def is_vitale(session: CardSession) -> bool:
    """Confirm a Vitale card by selecting its application (the ATR is only a hint)."""
    _, sw = session.transmit(select_aid(AID_VITALE))
    return sw == OK


def read_block(session: CardSession) -> bytes:
    block = b""
    while True:
        data, sw = session.transmit(read_binary(len(block)))
        if sw != OK:
            if block and sw in (0x6B00, 0x6282):  # offset past the end: the block ended on a chunk
                return block
            raise CardError("Lecture de la carte Vitale impossible.", f"READ BINARY SW={sw:04X}")
        block += data
        if len(data) < CHUNK:
            return block


class ApduVitaleReader:
    name = "apdu"

    def read(self, reader: str) -> VitaleCard:
        with CardSession(reader) as session:
            if not is_vitale(session):
                raise CardError("Cette carte n'est pas une carte Vitale.", "SELECT VITALE refusé")
            block = read_block(session)
        try:
            return decode_block(block)
        except BlockError as exc:
            raise CardError("Carte Vitale illisible (bloc d'identité invalide).", str(exc)) from None


def confirm_vitale(reader: str) -> bool:
    with CardSession(reader) as session:
        return is_vitale(session)
