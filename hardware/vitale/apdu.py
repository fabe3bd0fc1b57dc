"""The APDUs of the Vitale card's public identity block (hardware.md B3), and its decoding (pure).

Sources: cardpeek `vitale_2.lua` and Rufus `lecteurvitale.cpp`: select the VITALE application, then
read the identity block (short file 2) in 256-byte chunks; it is a BER-TLV list of per-holder
templates `0x65` holding `0x80` nom, `0x81` prénom, `0x82` date (AAAAMMJJ, possibly lunar) and `0x93`
NIR (15 characters, key included). Rank (`0x83`) and quality (`0x84`) are read when the block carries
them (our virtual card does; not confirmed on real cards): otherwise rank 1, quality unknown. This is
a development/test path: rights, INS-C and certified NIRs need the official SESAM-Vitale library.
"""

from __future__ import annotations

from collections.abc import Iterator

from hardware.ports import VitaleBeneficiary, VitaleCard

AID_VITALE = bytes.fromhex("D250000002564954414C45")
AID_VITALE_MF = bytes.fromhex("D2500000024D465F564954414C45")
IDENTITY_SFI = 2
CHUNK = 256

TAG_HOLDER, TAG_NAME, TAG_FIRST_NAME, TAG_BIRTH_DATE = 0x65, 0x80, 0x81, 0x82
TAG_RANK, TAG_QUALITY, TAG_NATIONALITY, TAG_NIR = 0x83, 0x84, 0x90, 0x93


class BlockError(ValueError):
    """The identity block is not the expected TLV (damaged or not a Vitale card)."""


def select_aid(aid: bytes) -> bytes:
    return bytes([0x00, 0xA4, 0x04, 0x00, len(aid)]) + aid


def read_binary(offset: int, le: int = 0) -> bytes:
    """READ BINARY: by short file identifier for the first chunk, then by offset in the same file."""
    if offset == 0:
        return bytes([0x00, 0xB0, 0x80 | IDENTITY_SFI, 0x00, le & 0xFF])
    if offset > 0x7FFF:
        raise BlockError("bloc d'identité trop long")
    return bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, le & 0xFF])


def iter_tlv(data: bytes) -> Iterator[tuple[int, bytes]]:
    """BER-TLV: one- or two-byte tags, short or long (0x81/0x82) lengths; 0x00/0xFF padding skipped."""
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag in (0x00, 0xFF):
            continue
        if tag & 0x1F == 0x1F:  # two-byte tag (e.g. 7F21)
            if i >= len(data):
                raise BlockError("étiquette tronquée")
            tag = (tag << 8) | data[i]
            i += 1
        if i >= len(data):
            raise BlockError("longueur manquante")
        length = data[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            if n not in (1, 2) or i + n > len(data):
                raise BlockError("longueur invalide")
            length = int.from_bytes(data[i:i + n], "big")
            i += n
        if i + length > len(data):
            raise BlockError("valeur tronquée")
        yield tag, data[i:i + length]
        i += length


def _text(value: bytes) -> str:
    # Cards write ISO-8859-1 uppercase; trailing spaces pad fixed-width fields.
    return value.decode("latin-1").strip()


def decode_block(data: bytes) -> VitaleCard:
    holders: list[dict[int, str]] = []
    for tag, value in iter_tlv(data):
        if tag == TAG_HOLDER:
            holders.append({t: _text(v) for t, v in iter_tlv(value)})
    if not holders:
        raise BlockError("aucun bénéficiaire dans le bloc d'identité")
    insured = next((h for h in holders if h.get(TAG_QUALITY) == "0"), holders[0])
    insured_nir = insured.get(TAG_NIR) or None
    beneficiaries = []
    for h in holders:
        if not h.get(TAG_NAME) or not h.get(TAG_BIRTH_DATE):
            raise BlockError("bénéficiaire sans nom ou sans date de naissance")
        nir = h.get(TAG_NIR) or None
        own = nir if nir and nir != insured_nir else None  # the insured's NIR is not the beneficiary's own
        rank = h.get(TAG_RANK, "1")
        beneficiaries.append(VitaleBeneficiary(
            usual_name=h[TAG_NAME], first_name=h.get(TAG_FIRST_NAME, ""), birth_date=h[TAG_BIRTH_DATE],
            birth_rank=int(rank) if rank.isdigit() else 1, quality=h.get(TAG_QUALITY) or None,
            nir=own[:13] if own else None, nir_key=own[13:15] or None if own else None,
        ))
    return VitaleCard(
        insured_nir=insured_nir[:13] if insured_nir else None,
        insured_nir_key=(insured_nir[13:15] or None) if insured_nir else None,
        beneficiaries=beneficiaries,
    )
