"""The Vitale identity block decoder and the ATR table (pure)."""

from __future__ import annotations

import pytest

from hardware.atr import ATR_TABLE, CPS, VITALE, classify, compile_table
from hardware.vitale.apdu import BlockError, decode_block, iter_tlv, read_binary, select_aid
from sandbox.cards.personalities import CPS_ATR, GARBAGE_ATR, VITALE_ATR, identity_block
from sandbox.cards.test_cards import TEST_CARDS, TOUSSAINT_NIR, TestBeneficiary


def test_vitale_decode_keeps_a_beneficiarys_own_nir() -> None:
    holders = [TestBeneficiary("ADRTROIS", "TOUSSAINT", "19600101", "0", 1, TOUSSAINT_NIR),
               TestBeneficiary("ADRTROIS", "DOMINIQUE", "19970226", "6", 1, "2970226020778" + "78")]
    card = decode_block(identity_block(holders))
    assert card.insured_nir == TOUSSAINT_NIR[:13]
    assert card.beneficiaries[0].nir is None  # the insured person: the card-level NIR
    assert (card.beneficiaries[1].nir, card.beneficiaries[1].nir_key) == ("2970226020778", "78")


def test_vitale_decode_without_rank_or_quality_invents_nothing() -> None:
    block = bytes.fromhex("650D") + bytes([0x80, 3]) + b"DUO" + bytes([0x81, 2]) + b"AL" + bytes([0x82, 2]) + b"19"
    card = decode_block(block)
    b = card.beneficiaries[0]
    assert (b.quality, b.nir, card.insured_nir, b.birth_rank) == (None, None, None, 1)


@pytest.mark.parametrize("block", [b"", b"\x65\x05\x80\x03AB", b"\x66\x02\x80\x00", b"\x65\x03\x81\x01A",
                                   b"\x65\x82\xff\xff"])
def test_vitale_decode_refuses_a_damaged_block(block: bytes) -> None:
    with pytest.raises(BlockError):
        decode_block(block)


def test_vitale_tlv_skips_padding_and_reads_long_lengths() -> None:
    value = b"X" * 200
    assert list(iter_tlv(b"\x00\xff" + bytes([0x80, 0x81, 200]) + value)) == [(0x80, value)]


def test_vitale_apdus_match_the_published_reads() -> None:
    assert select_aid(bytes.fromhex("D250000002564954414C45")).hex().upper() == "00A404000BD250000002564954414C45"
    assert read_binary(0) == bytes.fromhex("00B0820000")
    assert read_binary(256) == bytes.fromhex("00B0010000")


def test_atr_table_classifies_known_cards() -> None:
    table = compile_table(ATR_TABLE)
    assert classify(VITALE_ATR.hex(), table) == VITALE
    assert classify("3B 75 13 00 00 47 09 EA 90 00", table) == VITALE
    assert classify("3F6525002209F99000", table) == VITALE
    assert classify(CPS_ATR.hex(), table) == CPS
    assert classify(GARBAGE_ATR.hex(), table) is None


def test_atr_table_refuses_a_bad_pattern() -> None:
    with pytest.raises(ValueError):
        compile_table({"3B7G": "vitale"})


def test_test_cards_hold_one_to_four_beneficiaries() -> None:
    assert sorted(len(h) for h in TEST_CARDS.values()) == [1, 2, 4]
