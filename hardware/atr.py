"""ATR table: which kind of card an ATR hints at (hardware.md B3/B5, pcsc-tools smartcard_list.txt).

Patterns are uppercase hex where `.` matches any nibble; a pattern ending in `*` matches any longer
ATR with that prefix. An ATR is only a hint: the card layer confirms a Vitale card by selecting its
application.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

VITALE, CPS, UNKNOWN = "vitale", "cps", "unknown"

ATR_TABLE: dict[str, str] = {
    # Vitale 2 (x = 3..9 seen) and the one "…45 09 FA…" variant
    "3B751300004.09EA9000": VITALE,
    "3B751300004509FA9000": VITALE,
    # Vitale 1
    "3F6525002.09.99000": VITALE,
    "3F65250052096A9000": VITALE,
    "3F652500A.096A9000": VITALE,
    # CPS family (CPS2ter/CPS3/CPE, contact) and contactless CPS3
    "3BAC00402A00122500648*": CPS,
    "3B8F80010031B86404B0ECC1739401808290000E": CPS,
}

_HEX = re.compile(r"^[0-9A-F.]+\*?$")


def normalise_atr(atr: str) -> str:
    return "".join(atr.split()).replace(":", "").upper()


def compile_table(table: Mapping[str, str]) -> list[tuple[re.Pattern[str], str]]:
    compiled = []
    for pattern, kind in table.items():
        p = normalise_atr(pattern)
        if not _HEX.match(p):
            raise ValueError(f"motif d'ATR invalide : {pattern!r}")
        regex = p.rstrip("*").replace(".", "[0-9A-F]") + ("[0-9A-F]*" if p.endswith("*") else "")
        compiled.append((re.compile(f"^{regex}$"), kind))
    return compiled


def classify(atr: str, table: list[tuple[re.Pattern[str], str]]) -> str | None:
    value = normalise_atr(atr)
    for regex, kind in table:
        if regex.match(value):
            return kind
    return None
