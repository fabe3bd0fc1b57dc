"""One short exchange with a card in SHARED mode (blocking; run it in the reader's worker thread).

Shared mode lets the practice software (FSE, DMP) use the same reader; a transaction keeps our APDU
sequence atomic without holding the card. T=0 cards answer `61xx` (more data: GET RESPONSE) or `6Cxx`
(wrong Le: send again with xx) and both are followed here, as Rufus does for Vitale cards.
"""

from __future__ import annotations

import time
from types import TracebackType

from smartcard import scard

from hardware.errors import CardError, CardRemoved, ServiceUnavailable
from hardware.process_env import PCSC_SOCKET, PROCESS_ENV

REMOVED = {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD,
           scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER, scard.SCARD_W_UNPOWERED_CARD,
           scard.SCARD_E_NOT_TRANSACTED, scard.SCARD_W_UNRESPONSIVE_CARD}
NO_SERVICE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, 0x80100013}  # 0x13: F_COMM_ERROR


def _message(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult).strip()} (0x{hresult & 0xFFFFFFFF:08X})"


def check(hresult: int, what: str) -> None:
    if hresult == scard.SCARD_S_SUCCESS:
        return
    if hresult in REMOVED:
        raise CardRemoved(f"{what}: {_message(hresult)}")
    if hresult in NO_SERVICE:
        raise ServiceUnavailable(f"{what}: {_message(hresult)}")
    raise CardError("Erreur de communication avec la carte.", f"{what}: {_message(hresult)}")


class CardSession:
    """`with CardSession(reader) as s: s.transmit(apdu)` — own context, shared connection, transaction."""

    def __init__(self, reader: str) -> None:
        self.reader = reader
        self._context: int | None = None
        self._card: int | None = None
        self._protocol = 0

    def __enter__(self) -> CardSession:
        PROCESS_ENV.library_reads(PCSC_SOCKET)
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        check(hresult, "contexte")
        self._context = context
        try:
            hresult, card, protocol = scard.SCardConnect(
                context, self.reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            check(hresult, "connexion")
            self._card, self._protocol = card, protocol
            check(scard.SCardBeginTransaction(card), "transaction")
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close()

    def _close(self) -> None:
        if self._card is not None:
            scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)
            scard.SCardDisconnect(self._card, scard.SCARD_LEAVE_CARD)
            self._card = None
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None

    def raw(self, apdu: bytes) -> tuple[bytes, int]:
        assert self._card is not None
        hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        check(hresult, "échange")
        if len(response) < 2:
            # What a reader driver gives when the card left mid-exchange (vpcd does): tell them apart.
            if self._card_left():
                raise CardRemoved("réponse vide : carte retirée pendant l'échange")
            raise CardError("Réponse de la carte invalide.", f"{len(response)} octet(s)")
        return bytes(response[:-2]), (response[-2] << 8) | response[-1]

    def _card_left(self, within: float = 1.5) -> bool:
        """Whether the card is gone, waiting up to `within` s for the service to notice."""
        assert self._context is not None
        states = [(self.reader, scard.SCARD_STATE_UNAWARE)]
        deadline = time.monotonic() + within
        while True:
            hresult, changes = scard.SCardGetStatusChange(self._context, 0, states)
            if hresult != scard.SCARD_S_SUCCESS:
                return hresult in REMOVED or hresult in NO_SERVICE
            state = changes[0][1]
            if not state & scard.SCARD_STATE_PRESENT:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # Block until the reader's state changes (no polling), bounded by what is left.
            states = [(self.reader, state & ~scard.SCARD_STATE_CHANGED)]
            hresult, changes = scard.SCardGetStatusChange(self._context, int(remaining * 1000), states)
            if hresult == scard.SCARD_E_TIMEOUT:
                return False
            states = [(self.reader, scard.SCARD_STATE_UNAWARE)]

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Send `apdu`, follow 61xx/6Cxx; returns (data, status word)."""
        data, sw = self.raw(apdu)
        if sw >> 8 == 0x6C and len(apdu) >= 5:  # wrong Le: the card tells the right one
            data, sw = self.raw(apdu[:4] + bytes([sw & 0xFF]))
        collected = data
        while sw >> 8 == 0x61:  # more data waiting
            data, sw = self.raw(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
            collected += data
        return collected, sw
