"""NIR / NIA matricules and INS OIDs (pure).

A matricule is 13 characters (sex, year, month, department — digits, `2A` or `2B` —, commune, order)
followed by a 2-digit key = 97 − (N mod 97). For Corsica, `2A` reads as 19 and `2B` as 18 (the
same as replacing the letter by 0 and subtracting 1 000 000 / 2 000 000).
"""

from __future__ import annotations

import re

OID_ROOT = "1.2.250.1.213.1.4"
OID_NIR = f"{OID_ROOT}.8"
OID_NIA = f"{OID_ROOT}.9"
OID_NIR_TEST = f"{OID_ROOT}.10"
OID_NIR_DEMO = f"{OID_ROOT}.11"
KNOWN_OIDS: dict[str, str] = {
    OID_NIR: "INS-NIR",
    OID_NIA: "INS-NIA",
    OID_NIR_TEST: "INS-NIR-TEST",
    OID_NIR_DEMO: "INS-NIR-DEMO",
}

# The XSD pattern of NumIdentifiant (`\d{6}[A-Za-z0-9]\d{6}`), narrowed to what a key can be
# computed on: the 7th character is a digit, or the A/B of 2A/2B (then the 6th must be 2).
MATRICULE = re.compile(r"^\d{5}(?:\d\d|2[AB])\d{6}$")
KEY = re.compile(r"^\d{2}$")


def is_matricule(value: str) -> bool:
    return bool(MATRICULE.match(value))


def nir_key(matricule: str) -> int:
    """The key of a 13-character matricule; ValueError when it is not one."""
    value = matricule.upper()
    if not MATRICULE.match(value):
        raise ValueError("matricule must be 13 characters: digits, with 2A/2B for Corsica")
    digits = value.replace("2A", "19", 1) if value[5:7] == "2A" else value
    digits = digits.replace("2B", "18", 1) if value[5:7] == "2B" else digits
    return 97 - int(digits) % 97


def key_is_valid(matricule: str, key: str) -> bool:
    """True when `key` is the mod-97 key of `matricule` (False for any malformed input)."""
    if not KEY.match(key or ""):
        return False
    try:
        return nir_key(matricule) == int(key)
    except ValueError:
        return False


def oid_label(oid: str) -> str | None:
    return KNOWN_OIDS.get(oid)
