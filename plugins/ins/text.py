"""Character handling for identity traits (pure).

Two different things happen to a name, and rniv.md ("Traits normalisation") keeps them apart:

* **cleaning** (`clean`) is what may be stored: uppercase, trimmed, runs of whitespace collapsed to
  one space, typographic apostrophes and non-breaking hyphens mapped to the ASCII `'` and `-`.
  Nothing else changes: accents, ligatures, hyphens and apostrophes stay, so `GUIVARC'H` and
  `GUIVARCH` remain different values and nothing is "stripped silently".
* **folding** (`fold`, `tokens`) is only for comparing: accents dropped, `Œ`→`OE`, `Æ`→`AE`; and,
  for the first-prénom check only [EXI ID 10], `-` and `'` read as spaces (`tokens`).
"""

from __future__ import annotations

import re
import unicodedata

# The RNIV character set of a stored INS trait: uppercase A-Z, space, apostrophe (0x27), hyphen.
RNIV_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ '-")

# Same character, other code point: mapping them is not a change of the value.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2010": "-", "\u2011": "-"})
_LIGATURES = str.maketrans({"Œ": "OE", "Æ": "AE"})
_WHITESPACE = re.compile(r"\s+")


def clean(value: str | None) -> str:
    """The storable form: NFC, typographic apostrophes/hyphens as ASCII, uppercase, spaces collapsed."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", value).translate(_APOSTROPHES).upper()
    return _WHITESPACE.sub(" ", text).strip()


def fold_chars(value: str) -> str:
    """Uppercase without diacritics, ligatures spelled out; whitespace untouched (for validation)."""
    text = unicodedata.normalize("NFC", value).translate(_APOSTROPHES).upper().translate(_LIGATURES)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(value: str | None) -> str:
    """The comparison key of a name: `clean`, then accents and ligatures ignored (rniv.md)."""
    return _WHITESPACE.sub(" ", fold_chars(value or "")).strip()


def tokens(value: str | None) -> list[str]:
    """Folded words with `-` and `'` read as spaces: only for the first-prénom check [EXI ID 10]."""
    return fold(value).replace("-", " ").replace("'", " ").split()


def bad_chars(value: str) -> list[str]:
    """Characters of `value` outside the RNIV set, in order of first appearance, each once."""
    seen: list[str] = []
    for ch in value:
        if ch not in RNIV_CHARS and ch not in seen:
            seen.append(ch)
    return seen
