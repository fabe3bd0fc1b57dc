"""What keyboard-wedge scanners do to a code on the way in, and how to undo it (pure).

A wedge scanner "types" the code. Three things go wrong at French reception desks (hardware.md B6):

* the GS separator (0x1D) is dropped, or replaced by a printable token the scanner was configured
  to send (`<GS>`, `{GS}`);
* the scanner believes the host keyboard is QWERTY while Windows/Linux use AZERTY. Either only the
  digit row comes out wrong (`&é"'(-è_çà` for `1234567890`: scanners that send letters by character
  but digits by key position), or the whole layout does (`Q` for `A`, `:` for `.`, `?` for `M`...);
* an AIM symbology prefix (`]d1`), a CR/LF/TAB suffix or STX/ETX framing are added.

`Keymap` describes one of these typing modes; the Datamatrix parser reads a code under each plausible
keymap and keeps an answer only when it is unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GS = "\x1d"
_GS_TOKENS = re.compile(r"<GS>|\{GS\}|\[GS\]|<0x1D>|\^\]", re.IGNORECASE)
_AIM_PREFIX = re.compile(r"^\][A-Za-z][0-9A-Za-z]")

AZERTY_DIGIT_ROW = '&é"\'(-è_çà'
DIGITS = "1234567890"
NOT_TYPED = "\ufffd"  # a character a keymap cannot produce: fails every field check


@dataclass(frozen=True)
class Keymap:
    """How a typed character maps back to what the symbol holds.

    `digits`: typed character -> digit; `others`: typed character -> intended non-digit character
    (identity when absent).
    """

    name: str
    digits: dict[str, str]
    others: dict[str, str] = field(default_factory=dict)

    def digit(self, ch: str) -> str | None:
        return self.digits.get(ch)

    def char(self, ch: str) -> str:
        """The intended character in a non-numeric position (names, sex, the letter of 2A/2B, dots)."""
        return self.others.get(ch, ch)

    def numeric(self, text: str) -> str | None:
        """`text` read as digits only; None when a character is not a digit under this keymap."""
        out = [self.digits.get(ch) for ch in text]
        return None if any(d is None for d in out) else "".join(d for d in out if d is not None)


PLAIN = Keymap("plain", {d: d for d in DIGITS})
# Only the digit row is typed by key position: letters, dots and dashes are right.
AZERTY_DIGITS = Keymap("azerty_digits", dict(zip(AZERTY_DIGIT_ROW, DIGITS, strict=True)))
# The whole code is typed by US key position on an AZERTY host: undo the layout for the characters
# an INS code can hold (uppercase letters, digits, `.`, `-`, `'`, space).
AZERTY_LAYOUT = Keymap(
    "azerty_layout",
    dict(zip(AZERTY_DIGIT_ROW, DIGITS, strict=True)),
    {"Q": "A", "A": "Q", "W": "Z", "Z": "W", "?": "M", ":": ".", ")": "-", "ù": "'",
     # These cannot come out of a QWERTY-typed INS code on AZERTY: seeing one means another typing mode.
     ".": NOT_TYPED, "-": NOT_TYPED, "'": NOT_TYPED, "M": NOT_TYPED},
)


def clean(data: bytes | str) -> str:
    """Bytes as the scanner or decoder gave them -> text with real GS characters, no framing."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")  # a wedge or serial scanner in a Windows code page
    else:
        text = data
    text = _GS_TOKENS.sub(GS, text)
    text = text.strip("\r\n\t\x00\x02\x03 ")  # CR/LF/TAB suffixes, STX/ETX framing of serial scanners
    text = _AIM_PREFIX.sub("", text)
    return text.strip("\r\n\t ")


def keymaps_for(version_chars: str) -> list[Keymap]:
    """The keymaps under which two typed version characters are digits (the header's `01`)."""
    if PLAIN.numeric(version_chars) is not None:
        return [PLAIN]
    if AZERTY_DIGITS.numeric(version_chars) is not None:
        return [AZERTY_DIGITS, AZERTY_LAYOUT]
    return []
