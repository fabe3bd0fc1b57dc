from __future__ import annotations

import pytest

from plugins.common.nir import OID_NIA, OID_NIR, is_matricule, key_is_valid, nir_key, oid_label


@pytest.mark.parametrize(
    ("matricule", "key"),
    [
        ("297022A020778", 78),  # ADRTROIS DOMINIQUE, born in 2A
        ("160012B020777", 13),  # ADRTROIS TOUSSAINT, born in 2B
        ("2360663220836", 56),
        ("1090763220834", 89),
        ("2090763220834", 39),
        ("2751263220749", 74),
        ("180032B020401", 23),
        ("1090763220888", 35),  # NIA
        ("1100863220830", 60),
    ],
)
def test_nir_key_of_test_identities(matricule: str, key: int) -> None:
    assert nir_key(matricule) == key
    assert key_is_valid(matricule, f"{key:02d}")


def test_nir_key_invalid_is_flagged_not_raised() -> None:
    assert not key_is_valid("1810363220456", "60")  # HERMANN GATIEN: test-book key that fails mod-97
    assert not key_is_valid("297022A020778", "77")
    assert not key_is_valid("297022A020778", "7")
    assert not key_is_valid("29702XA020778", "78")
    assert not key_is_valid("", "")


@pytest.mark.parametrize("bad", ["29702", "297022C020778", "2970222A02077", "2970A2A020778", "29702 2A02077"])
def test_nir_malformed_matricule_rejected(bad: str) -> None:
    assert not is_matricule(bad)
    with pytest.raises(ValueError):
        nir_key(bad)


def test_nir_oids() -> None:
    assert oid_label(OID_NIR) == "INS-NIR" and oid_label(OID_NIA) == "INS-NIA"
    assert oid_label("1.2.250.1.213.1.4.10") == "INS-NIR-TEST"
    assert oid_label("1.2.3") is None
