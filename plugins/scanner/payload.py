"""INS Datamatrix content for a qualified identity (pure): the writer side of `datamatrix.py`.

Fields in order S1..S7; GS only after a variable-length field shorter than its maximum and not last
(datamatrix-ins.md). Names must already be INS traits (uppercase, no accents): they are what INSi
returned and the identity is qualified, so nothing is transliterated here; anything else is refused.
"""

from __future__ import annotations

from plugins.scanner.datamatrix import HEADER, VARIABLE, InsDatamatrix, parse
from plugins.scanner.keyboard import GS


class PayloadError(ValueError):
    """The identity cannot be written as an INS Datamatrix (French message)."""


def build_payload(ins: InsDatamatrix) -> str:
    """The exact text to encode (header included); checked by reading it back with our own parser."""
    day = ins.birth_date
    fields: list[tuple[str, str]] = [
        ("S1", ins.matricule), ("S2", ins.oid), ("S3", " ".join(ins.first_names)), ("S4", ins.birth_name),
        ("S5", ins.sex), ("S6", f"{day[8:10]}-{day[5:7]}-{day[0:4]}"),
    ]
    if ins.birth_place:
        fields.append(("S7", ins.birth_place))
    parts = [HEADER]
    for index, (marker, value) in enumerate(fields):
        parts.append(marker + value)
        last = index == len(fields) - 1
        if marker in VARIABLE and len(value) < VARIABLE[marker] and not last:
            parts.append(GS)
    text = "".join(parts)
    check = parse(text)
    if check is None or check.value != ins:
        reasons = "; ".join(e.message for e in (check.errors if check else ()))
        raise PayloadError(f"Identité impossible à écrire en Datamatrix INS : {reasons or 'traits invalides'}.")
    return text


def identity_from(traits: dict[str, object], ins: dict[str, str]) -> InsDatamatrix:
    """An `InsDatamatrix` from the INS plugin's stored traits and INS (`identity.get` shapes)."""
    first = traits.get("first_names")
    if isinstance(first, str):
        names = tuple(first.split())
    elif isinstance(first, list | tuple):
        names = tuple(str(n) for n in first)
    else:
        names = ()
    place = traits.get("birth_place")
    return InsDatamatrix(matricule=str(ins.get("matricule", "")), oid=str(ins.get("oid", "")), first_names=names,
                         birth_name=str(traits.get("birth_name", "")), sex=str(traits.get("sex", "")),
                         birth_date=str(traits.get("birth_date", "")), birth_place=str(place) if place else None)
