"""Virtual card personalities for the vpcd reader: Vitale, CPS, unknown, and a card that vanishes.

The Vitale card answers the APDUs the APDU backend sends (hardware/vitale/apdu.py): SELECT of the
VITALE application, then READ BINARY of its identity block (short file 2) in chunks, like a T=0
card: a wrong Le gets `6Cxx` with the right length. The TLV encoder here is written independently
of the reader's decoder, so a bug on one side is not mirrored on the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.cards.test_cards import TestBeneficiary

VITALE_ATR = bytes.fromhex("3B751300004409EA9000")  # Vitale 2 (hardware.md B3)
CPS_ATR = bytes.fromhex("3BAC00402A001225006480000310009000")  # CPS family prefix
GARBAGE_ATR = bytes.fromhex("3B0F0102030405")  # declares 15 historical bytes, carries 5
AID_VITALE = bytes.fromhex("D250000002564954414C45")
AID_VITALE_MF = bytes.fromhex("D2500000024D465F564954414C45")

SW_OK, SW_NOT_FOUND, SW_INS, SW_NOT_ALLOWED, SW_OFFSET = b"\x90\x00", b"\x6a\x82", b"\x6d\x00", b"\x69\x86", b"\x6b\x00"


def _tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82, n >> 8, n & 0xFF])
    return bytes([tag]) + length + value


def identity_block(holders: list[TestBeneficiary]) -> bytes:
    out = b""
    for h in holders:
        inner = _tlv(0x80, h.usual_name.encode("latin-1")) + _tlv(0x81, h.first_name.encode("latin-1"))
        inner += _tlv(0x82, h.birth_date.encode()) + _tlv(0x83, str(h.rank).encode())
        inner += _tlv(0x84, h.quality.encode()) + _tlv(0x90, b"FRA")
        if h.nir:
            inner += _tlv(0x93, h.nir.encode())
        out += _tlv(0x65, inner)
    return out


class VitaleCardPersonality:
    def __init__(self, holders: list[TestBeneficiary], *, vanish_on_read: bool = False) -> None:
        self.atr = VITALE_ATR
        self.block = identity_block(holders)
        self.vanish_on_read = vanish_on_read
        self.selected = False

    def reset(self) -> None:
        self.selected = False

    def process(self, apdu: bytes) -> bytes | None:
        if len(apdu) < 4:
            return b"\x67\x00"
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        if ins == 0xA4 and p1 == 0x04:
            aid = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
            self.selected = aid in (AID_VITALE, AID_VITALE_MF)
            return SW_OK if self.selected else SW_NOT_FOUND
        if ins == 0xB0:
            if self.vanish_on_read:
                return None
            return self._read(p1, p2, apdu[4] if len(apdu) == 5 else 0)
        return SW_INS

    def _read(self, p1: int, p2: int, le: int) -> bytes:
        if not self.selected:
            return SW_NOT_ALLOWED
        if p1 & 0x80:
            if p1 & 0x1F != 2:
                return SW_NOT_FOUND
            offset = p2
        else:
            offset = (p1 << 8) | p2
        if offset > len(self.block):
            return SW_OFFSET
        available = min(256, len(self.block) - offset)
        if (le or 256) != available:
            if available == 0:
                return SW_OFFSET
            return bytes([0x6C, available & 0xFF])  # T=0: "send again with this Le"
        return self.block[offset:offset + available] + SW_OK


@dataclass
class InertCard:
    """A card that only has an ATR (CPS: its keys live in SoftHSM2; unknown: garbage ATR)."""

    atr: bytes

    def reset(self) -> None:
        return None

    def process(self, apdu: bytes) -> bytes | None:
        return SW_INS
