"""Test Vitale cards: who is on each, built from the INSi sandbox's test identities.

Names are test identities of the INSi sandbox (sandbox/insi/data/test-identities.csv) so an inserted
card gets real answers end to end. `LUNAIRE` carries four beneficiaries, one with a lunar birth
date (month 19, as the card writes it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestBeneficiary:
    __test__ = False  # not a pytest class

    usual_name: str
    first_name: str
    birth_date: str  # AAAAMMJJ as on the card, possibly lunar
    quality: str = "0"
    rank: int = 1
    nir: str | None = None  # 15 characters (13 + key) when the card carries one


TOUSSAINT_NIR = "160012B020777" + "13"
ZOE_NIR = "2751263220749" + "74"

TEST_CARDS: dict[str, list[TestBeneficiary]] = {
    "ADRTROIS": [
        TestBeneficiary("ADRTROIS", "TOUSSAINT", "19600101", "0", 1, TOUSSAINT_NIR),
        TestBeneficiary("ADRTROIS", "DOMINIQUE", "19970226", "6", 1, TOUSSAINT_NIR),
    ],
    "ADRUN": [TestBeneficiary("ADRUN", "ZOE", "19751231", "0", 1, ZOE_NIR)],
    "LUNAIRE": [
        TestBeneficiary("ADRUN", "ZOE", "19751231", "0", 1, ZOE_NIR),
        TestBeneficiary("ECETINSI", "PIERRE-ALAIN", "20090714", "6", 1, ZOE_NIR),
        TestBeneficiary("NESSI", "MICHELANGELO", "20100807", "6", 2, ZOE_NIR),
        TestBeneficiary("ADRUN", "LUNE", "19421901", "1", 1, ZOE_NIR),
    ],
}
