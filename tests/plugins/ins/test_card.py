"""From a Vitale card beneficiary to traits and to the Vitale INSi search (plugins/ins/card.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from hardware.ports import VitaleBeneficiary, VitaleCard
from plugins.ins.card import card_date, card_from_dict, card_search, card_to_dict, card_traits, own_nir
from plugins.ins.insi.types import VitaleSearch
from plugins.ins.models import Traits

WOMAN_NIR, WOMAN_KEY = "297022A020778", "78"
MAN_NIR, MAN_KEY = "160012B020777", "13"

INSURED = VitaleBeneficiary(usual_name="ADRTROIS", first_name="DOMINIQUE", birth_date="19970226", quality="0")
CARD = VitaleCard(insured_nir=WOMAN_NIR, insured_nir_key=WOMAN_KEY, beneficiaries=[INSURED], serial="42")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19970226", "1997-02-26"),
        ("19971926", "1997-19-26"),  # lunar month: kept, INSi's DateNaissance is "DateLunaire"
        ("19970000", "1997-00-00"),
        ("20240231", "2024-02-31"),  # not checked here: the comparison treats it as manual review
        ("1997-02-26", "1997-02-26"),  # already dashed
        ("1997-19-26", "1997-19-26"),
        (" 19970226 ", "1997-02-26"),
        ("  1997-02-26\n", "1997-02-26"),
        ("1997022", "1997022"),  # not 8 digits: as read, for the validation to report
        ("199702261", "199702261"),
        ("26/02/1997", "26/02/1997"),
        ("", ""),
    ],
)
def test_card_date(value: str, expected: str) -> None:
    assert card_date(value) == expected


def _card(insured_nir: str | None = WOMAN_NIR, **beneficiary: Any) -> tuple[VitaleCard, VitaleBeneficiary]:
    b = replace(INSURED, **beneficiary)
    return VitaleCard(insured_nir=insured_nir, insured_nir_key=WOMAN_KEY if insured_nir else None,
                      beneficiaries=[b]), b


@pytest.mark.parametrize(
    ("insured_nir", "beneficiary", "sex"),
    [
        (WOMAN_NIR, {"quality": "0"}, "F"),  # the insured person: the insured NIR is theirs
        (MAN_NIR, {"quality": "0"}, "M"),
        (MAN_NIR, {"quality": "6"}, ""),  # a child: the insured's NIR is not theirs
        (WOMAN_NIR, {"quality": "2"}, ""),  # a spouse
        (WOMAN_NIR, {"quality": None}, ""),  # unknown quality: never guessed
        (WOMAN_NIR, {"quality": "00"}, ""),
        (None, {"quality": "0"}, ""),  # no number at all
        ("", {"quality": "0"}, ""),
        (MAN_NIR, {"quality": "6", "nir": WOMAN_NIR, "nir_key": WOMAN_KEY}, "F"),  # their own certified NIR
        (WOMAN_NIR, {"quality": "0", "nir": MAN_NIR, "nir_key": MAN_KEY}, "M"),  # own NIR first
        (WOMAN_NIR, {"quality": "6", "nir": "760012B020777"}, ""),  # a provisional number: no sex read
        (WOMAN_NIR, {"quality": "6", "nir": "397022A020778"}, ""),
        (WOMAN_NIR, {"quality": "6", "nir": ""}, ""),
    ],
)
def test_card_traits_sex_only_from_the_beneficiarys_own_number(insured_nir: str | None,
                                                                beneficiary: dict[str, Any], sex: str) -> None:
    card, b = _card(insured_nir, **beneficiary)
    assert card_traits(card, b).sex == sex


@pytest.mark.parametrize(
    ("beneficiary", "birth_name", "used_name"),
    [
        ({"usual_name": "ADRTROIS", "birth_name": None}, "ADRTROIS", None),  # usual name stands in
        ({"usual_name": "ADRTROIS", "birth_name": ""}, "ADRTROIS", None),
        ({"usual_name": "ADRTROIS", "birth_name": "   "}, "ADRTROIS", None),
        ({"usual_name": "MARTIN", "birth_name": "ADRTROIS"}, "ADRTROIS", "MARTIN"),  # married name in use
        ({"usual_name": "ADRTROIS", "birth_name": "ADRTROIS"}, "ADRTROIS", None),
        # the same name written differently is not a different used name
        ({"usual_name": "ADRTROIS", "birth_name": "Adrtrois "}, "ADRTROIS", None),
        ({"usual_name": " martin", "birth_name": "adrtrois"}, "ADRTROIS", "MARTIN"),
        ({"usual_name": "de la tour", "birth_name": None}, "DE LA TOUR", None),
    ],
)
def test_card_traits_names(beneficiary: dict[str, Any], birth_name: str, used_name: str | None) -> None:
    card, b = _card(**beneficiary)
    traits = card_traits(card, b)
    assert traits.birth_name == birth_name
    assert traits.used_name == used_name
    assert traits.used_first_name is None  # never filled from the card


def test_card_traits_whole() -> None:
    card, b = _card(usual_name="MARTIN", birth_name="ADRTROIS", first_name=" dominique  marie ",
                    birth_date="19971926")
    assert card_traits(card, b) == Traits(birth_name="ADRTROIS", first_names=("DOMINIQUE", "MARIE"), sex="F",
                                          birth_date="1997-19-26", birth_place=None, used_name="MARTIN")


@pytest.mark.parametrize("first_name", ["", "   "])
def test_card_traits_without_first_name(first_name: str) -> None:
    card, b = _card(first_name=first_name)
    assert card_traits(card, b).first_names == ()


@pytest.mark.parametrize(
    ("beneficiary", "expected"),
    [
        ({"quality": "0"}, (WOMAN_NIR, WOMAN_KEY)),
        ({"quality": "6"}, (None, None)),
        ({"quality": "6", "nir": MAN_NIR, "nir_key": MAN_KEY}, (MAN_NIR, MAN_KEY)),
    ],
)
def test_own_nir(beneficiary: dict[str, Any], expected: tuple[str | None, str | None]) -> None:
    card, b = _card(**beneficiary)
    assert own_nir(card, b) == expected


@pytest.mark.parametrize(
    ("beneficiary", "expected"),
    [
        # the insured person without their own number on the card: MatriculeIndividu is not sent
        ({"quality": "0"}, VitaleSearch(insured_nir=WOMAN_NIR, insured_nir_key=WOMAN_KEY, birth_name="ADRTROIS",
                                        birth_date="1997-02-26", birth_rank=1)),
        # a child (rank 2, lunar date, birth name) with their own certified NIR
        ({"quality": "6", "usual_name": "martin", "birth_name": "Adrtrois", "birth_date": "20141926",
          "birth_rank": 2, "nir": MAN_NIR, "nir_key": MAN_KEY},
         VitaleSearch(insured_nir=WOMAN_NIR, insured_nir_key=WOMAN_KEY, beneficiary_nir=MAN_NIR,
                      beneficiary_nir_key=MAN_KEY, birth_name="ADRTROIS", birth_date="2014-19-26", birth_rank=2)),
        # a child without one: only the insured's number
        ({"quality": "6", "usual_name": "ADRTROIS", "birth_rank": 3},
         VitaleSearch(insured_nir=WOMAN_NIR, insured_nir_key=WOMAN_KEY, birth_name="ADRTROIS",
                      birth_date="1997-02-26", birth_rank=3)),
        # an empty number on the card is no number
        ({"quality": "6", "nir": "", "nir_key": "12"},
         VitaleSearch(insured_nir=WOMAN_NIR, insured_nir_key=WOMAN_KEY, birth_name="ADRTROIS",
                      birth_date="1997-02-26", birth_rank=1)),
    ],
)
def test_card_search(beneficiary: dict[str, Any], expected: VitaleSearch) -> None:
    card, b = _card(**beneficiary)
    assert card_search(card, b) == expected


def test_card_to_dict_keys() -> None:
    card, b = _card(quality="6", birth_name="ADRTROIS", usual_name="MARTIN", birth_rank=2, nir=MAN_NIR,
                    nir_key=MAN_KEY)
    assert card_to_dict(card, b) == {
        "insured_nir": WOMAN_NIR, "insured_nir_key": WOMAN_KEY, "usual_name": "MARTIN", "birth_name": "ADRTROIS",
        "first_name": "DOMINIQUE", "birth_date": "19970226", "birth_rank": 2, "quality": "6", "nir": MAN_NIR,
        "nir_key": MAN_KEY,
    }


@pytest.mark.parametrize(
    "beneficiary",
    [
        {},
        {"quality": "6", "birth_name": "ADRTROIS", "usual_name": "MARTIN", "birth_rank": 2, "nir": MAN_NIR,
         "nir_key": MAN_KEY, "birth_date": "20141926"},
        {"quality": None},
    ],
)
def test_card_round_trip_through_json(beneficiary: dict[str, Any]) -> None:
    card, b = _card(**beneficiary)
    card = replace(card, serial="1234", beneficiaries=[INSURED, b])
    stored = json.loads(json.dumps(card_to_dict(card, b)))  # as the identity row keeps it
    card2, b2 = card_from_dict(stored)
    assert b2 == b
    # Only this beneficiary and the insured person's number are kept: enough to search again.
    assert card2 == VitaleCard(insured_nir=card.insured_nir, insured_nir_key=card.insured_nir_key, beneficiaries=[b])
    assert card_search(card2, b2) == card_search(card, b)
    assert card_traits(card2, b2) == card_traits(card, b)


def test_card_from_dict_tolerates_missing_and_empty_values() -> None:
    card, b = card_from_dict({"usual_name": "ADRTROIS", "first_name": "DOMINIQUE", "birth_date": "19970226",
                              "birth_name": "", "nir": "", "quality": "", "birth_rank": None})
    assert b == VitaleBeneficiary(usual_name="ADRTROIS", first_name="DOMINIQUE", birth_date="19970226",
                                  birth_rank=1, quality=None, birth_name=None, nir=None, nir_key=None)
    assert card == VitaleCard(insured_nir=None, insured_nir_key=None, beneficiaries=[b])


def test_card_from_dict_keeps_quality_zero() -> None:
    # "0" (the insured person) is a value, not an empty one: the sex is read from the insured NIR.
    card, b = card_from_dict({**card_to_dict(CARD, INSURED), "quality": 0})
    assert b.quality == "0"
    assert card_traits(card, b).sex == "F"


@pytest.mark.parametrize("missing", ["usual_name", "first_name", "birth_date"])
def test_card_from_dict_requires_the_names_and_date(missing: str) -> None:
    stored = card_to_dict(CARD, INSURED)
    del stored[missing]
    with pytest.raises(KeyError):
        card_from_dict(stored)
