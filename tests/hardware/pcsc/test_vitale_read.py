"""Reading a Vitale card's public identity block by APDU, on pcscd with vpcd virtual cards."""

from __future__ import annotations

import pytest

from hardware.errors import CardError, CardRemoved
from hardware.pcsc.monitor import CARD_INSERTED, PcscMonitor
from hardware.vitale.reader import ApduVitaleReader, confirm_vitale
from sandbox.cards.pcscd import READERS, PrivatePcscd
from sandbox.cards.personalities import CPS_ATR, InertCard, VitaleCardPersonality
from sandbox.cards.test_cards import TEST_CARDS, ZOE_NIR
from tests.cardkit import EventLog, Slots

R0 = READERS[0]


def inserted(pcscd: PrivatePcscd, slots: Slots, personality: object, slot: int = 0) -> None:
    """Insert and wait until pcscd has seen the card (through our monitor)."""
    log = EventLog()
    monitor = PcscMonitor(log)
    monitor.start()
    try:
        slots.insert(personality, slot)  # type: ignore[arg-type]
        log.wait(CARD_INSERTED, READERS[slot])
    finally:
        monitor.stop()


def test_vitale_read_four_beneficiaries_with_a_lunar_date(pcscd: PrivatePcscd, slots: Slots) -> None:
    inserted(pcscd, slots, VitaleCardPersonality(TEST_CARDS["LUNAIRE"]))
    card = ApduVitaleReader().read(R0)
    assert (card.insured_nir, card.insured_nir_key) == (ZOE_NIR[:13], ZOE_NIR[13:])
    assert [(b.usual_name, b.first_name, b.birth_date, b.birth_rank, b.quality) for b in card.beneficiaries] == [
        ("ADRUN", "ZOE", "19751231", 1, "0"),
        ("ECETINSI", "PIERRE-ALAIN", "20090714", 1, "6"),
        ("NESSI", "MICHELANGELO", "20100807", 2, "6"),
        ("ADRUN", "LUNE", "19421901", 1, "1"),  # month 19: kept as the card writes it
    ]
    # Every holder carries the insured's NIR: none of them gets it as their own.
    assert all(b.nir is None for b in card.beneficiaries)


def test_vitale_read_a_block_longer_than_one_chunk(pcscd: PrivatePcscd, slots: Slots) -> None:
    holders = TEST_CARDS["LUNAIRE"] * 3  # > 256 bytes: READ BINARY continues at an offset
    personality = VitaleCardPersonality(holders)
    assert len(personality.block) > 256
    inserted(pcscd, slots, personality)
    assert len(ApduVitaleReader().read(R0).beneficiaries) == 12


def test_vitale_confirm_refuses_a_card_without_the_application(pcscd: PrivatePcscd, slots: Slots) -> None:
    inserted(pcscd, slots, InertCard(CPS_ATR))
    assert confirm_vitale(R0) is False
    with pytest.raises(CardError, match="pas une carte Vitale"):
        ApduVitaleReader().read(R0)


def test_vitale_card_removed_mid_read_is_a_clean_error_then_reading_works_again(
        pcscd: PrivatePcscd, slots: Slots) -> None:
    inserted(pcscd, slots, VitaleCardPersonality(TEST_CARDS["ADRUN"], vanish_on_read=True))
    with pytest.raises(CardRemoved) as info:
        ApduVitaleReader().read(R0)
    assert "retirée" in info.value.message_fr
    slots.close()
    inserted(pcscd, slots, VitaleCardPersonality(TEST_CARDS["ADRUN"]), slot=1)
    assert ApduVitaleReader().read(READERS[1]).beneficiaries[0].first_name == "ZOE"


def test_vitale_read_without_card_says_so(pcscd: PrivatePcscd) -> None:
    with pytest.raises(CardRemoved):
        ApduVitaleReader().read(R0)
