"""INS Datamatrix (v2, "INS à scanner") reader (pure). Spec: datamatrix-ins.md.

Header `IS` + version `01` + 22 reserved `0`, then fields `S1`..`S7` in any order; GS (0x1D) ends a
variable-length field shorter than its maximum. The reader accepts a lost GS and the literal `<GS>`
(names hold no digits and the OID no letters, so a marker `S<digit>` cannot be confused with data),
and codes typed through an AZERTY keyboard-wedge (`keyboard.py`). Every field is validated; a code
that is one of ours but damaged is refused with per-field French errors, never guessed: a wrong key,
an unknown OID, two readings that disagree are all refusals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from plugins.common.nir import KNOWN_OIDS, is_matricule, key_is_valid
from plugins.scanner.keyboard import GS, Keymap, clean, keymaps_for

KIND = "ins_datamatrix"
MARKER = "IS"
VERSION = "01"
HEADER_LENGTH = 26
HEADER = MARKER + VERSION + "0" * (HEADER_LENGTH - 4)

FIXED = {"S1": 15, "S5": 1, "S6": 10, "S7": 5}
VARIABLE = {"S2": 20, "S3": 100, "S4": 100}
REQUIRED = ("S1", "S2", "S3", "S4", "S5", "S6")
FIELD_NAMES = {"S1": "matricule", "S2": "oid", "S3": "first_names", "S4": "birth_name", "S5": "sex",
               "S6": "birth_date", "S7": "birth_place"}
LABELS = {"S1": "matricule INS", "S2": "OID", "S3": "prénoms de naissance", "S4": "nom de naissance",
          "S5": "sexe", "S6": "date de naissance", "S7": "lieu de naissance"}

_NAME = re.compile(r"^[A-Z]+(?:(?:[-']|  ?)[A-Z]+)*$")  # one space between first names, two tolerated
_OID = re.compile(r"^\d+(?:\.\d+)+$")
_COG = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class InsDatamatrix:
    """A valid INS Datamatrix, traits in the local API's form."""

    matricule: str  # 13 characters + 2-digit key
    oid: str
    first_names: tuple[str, ...]
    birth_name: str
    sex: str
    birth_date: str  # AAAA-MM-JJ (00 for an unknown day or month)
    birth_place: str | None

    def content(self) -> dict[str, Any]:
        """The `scan_received` content for kind `ins_datamatrix` (agent/hookspecs.py)."""
        return {"birth_name": self.birth_name, "first_names": list(self.first_names), "sex": self.sex,
                "birth_date": self.birth_date, "birth_place": self.birth_place, "matricule": self.matricule,
                "oid": self.oid}


@dataclass(frozen=True)
class Parsed:
    """`value` when the code is valid, else `errors`; `keymap` says how it was typed."""

    value: InsDatamatrix | None
    errors: tuple[FieldError, ...] = ()
    keymap: str = "plain"


def looks_like_ins(text: str) -> bool:
    """Whether a cleaned code claims to be an INS Datamatrix (marker `IS` and a version typed as digits)."""
    return text.startswith(MARKER) and len(text) >= 4 and bool(keymaps_for(text[2:4]))


def parse(data: bytes | str) -> Parsed | None:
    """Read an INS Datamatrix; None when the code is not one (another plugin's code)."""
    text = clean(data)
    if not looks_like_ins(text):
        return None
    results = [_parse_with(text, km) for km in keymaps_for(text[2:4])]
    valid = [r for r in results if r.value is not None]
    if len({r.value for r in valid}) > 1:
        return Parsed(None, (FieldError("structure", "Lecture ambiguë du code (clavier AZERTY) : le code est "
                                        "refusé ; configurez la douchette en clavier français ou en mode USB-COM."),))
    if valid:
        return valid[0]
    # Report the errors of the reading that got furthest (fewest errors).
    return min(results, key=lambda r: len(r.errors))


# -- one reading under one keymap -----------------------------------------------------------------------------


def _parse_with(text: str, km: Keymap) -> Parsed:
    errors: list[FieldError] = []
    header = text[:HEADER_LENGTH]
    digits = km.numeric(header[2:]) if len(header) == HEADER_LENGTH else None
    if digits is None:
        return Parsed(None, (FieldError("header", "En-tête du Datamatrix INS tronqué ou illisible."),), km.name)
    if digits[:2] != VERSION:
        return Parsed(None, (FieldError("header", f"Version {digits[:2]} du Datamatrix INS non prise en charge "
                                        "(seule la version 01 est connue)."),), km.name)
    if digits[2:] != "0" * (HEADER_LENGTH - 4):
        return Parsed(None, (FieldError("header", "En-tête du Datamatrix INS invalide (zone réservée non nulle)."),),
                      km.name)
    raw, structure = _split(text[HEADER_LENGTH:], km)
    errors.extend(structure)
    for marker in REQUIRED:
        if marker not in raw and not any(e.field == FIELD_NAMES[marker] for e in errors):
            errors.append(FieldError(FIELD_NAMES[marker], f"Champ {marker} ({LABELS[marker]}) absent : code tronqué "
                                     "ou incomplet."))
    values: dict[str, Any] = {}
    for marker, value in raw.items():
        result = _FIELD_CHECKS[marker](value, km)
        if isinstance(result, FieldError):
            errors.append(result)
        else:
            values[marker] = result
    if errors:
        return Parsed(None, tuple(errors), km.name)
    matricule, oid = values["S1"], values["S2"]
    return Parsed(InsDatamatrix(matricule=matricule, oid=oid, first_names=values["S3"], birth_name=values["S4"],
                                sex=values["S5"], birth_date=values["S6"], birth_place=values.get("S7")),
                  (), km.name)


def _marker_at(body: str, pos: int, km: Keymap) -> str | None:
    """The field marker starting at `pos`, if the text after it can start that field (lookahead keeps
    an AZERTY-typed `S-` inside `LOUIS-PIERRE` from being read as marker S6)."""
    if pos + 2 > len(body) or body[pos] != "S":
        return None
    digit = km.digit(body[pos + 1])
    if digit is None or not "1" <= digit <= "7":
        return None
    marker = "S" + digit
    rest = body[pos + 2:]
    return marker if _plausible(marker, rest[:FIXED.get(marker, 1)], km) else None


def _plausible(marker: str, start: str, km: Keymap) -> bool:
    if not start:
        return False
    first = start[0]
    if marker == "S2":
        return km.digit(first) is not None
    if marker in ("S3", "S4"):
        return km.char(first).isalpha() and km.char(first).isupper()
    if marker == "S5":
        return km.char(first) in ("M", "F")
    if marker == "S6":
        return len(start) == 10 and km.numeric(start[:2] + start[3:5] + start[6:]) is not None
    # S1, S7: digits, or the A/B of 2A/2B
    return len(start) == FIXED[marker] and all(km.digit(c) is not None or km.char(c) in ("A", "B") for c in start)


def _split(body: str, km: Keymap) -> tuple[dict[str, str], list[FieldError]]:
    """Cut the message into `{marker: raw value}` following the GS and fixed-length rules."""
    fields: dict[str, str] = {}
    errors: list[FieldError] = []
    pos = 0
    while pos < len(body):
        if body[pos] == GS:  # a GS where none was needed (after a fixed field): harmless
            pos += 1
            continue
        marker = _marker_at(body, pos, km)
        if marker is None:
            if body[pos] == "S" and pos + 2 <= len(body) and km.digit(body[pos + 1]) in set("1234567"):
                marker = "S" + (km.digit(body[pos + 1]) or "")
                errors.append(FieldError(FIELD_NAMES[marker], f"Champ {marker} ({LABELS[marker]}) tronqué ou "
                                         "illisible."))
            else:
                errors.append(FieldError("structure", "Données inattendues dans le Datamatrix INS : code "
                                         "endommagé ou d'un autre format."))
            return fields, errors
        if marker in fields:
            errors.append(FieldError(FIELD_NAMES[marker], f"Champ {marker} ({LABELS[marker]}) présent deux fois."))
            return fields, errors
        start = pos + 2
        if marker in FIXED:
            end = start + FIXED[marker]
        else:  # up to the GS, or the next marker when the GS was lost (only an "S" can start one)
            gs = body.find(GS, start)
            end = gs if gs >= 0 else len(body)
            candidate = body.find("S", start, end)
            while candidate >= 0:
                if _marker_at(body, candidate, km) is not None:
                    end = candidate
                    break
                candidate = body.find("S", candidate + 1, end)
        fields[marker] = body[start:end]
        pos = end
    return fields, errors


# -- field checks: the value in canonical form, or a FieldError --------------------------------------------------


def _error(marker: str, message: str) -> FieldError:
    label = LABELS[marker]
    return FieldError(FIELD_NAMES[marker], f"{label[0].upper()}{label[1:]} : {message}")


def _check_matricule(value: str, km: Keymap) -> str | FieldError:
    if len(value) != 15:
        return _error("S1", "15 caractères attendus (13 + clé), code tronqué.")
    canonical = "".join(km.digit(ch) or km.char(ch) for ch in value)
    body, key = canonical[:13], canonical[13:]
    if not is_matricule(body) or not key.isdigit():
        return _error("S1", "caractères invalides (chiffres, 2A ou 2B attendus).")
    if not key_is_valid(body, key):
        return _error("S1", "la clé ne correspond pas au numéro : code mal lu ou altéré, refusé.")
    return canonical


def _check_oid(value: str, km: Keymap) -> str | FieldError:
    if len(value) > VARIABLE["S2"]:
        return _error("S2", "20 caractères au plus.")
    canonical = "".join(km.digit(ch) or km.char(ch) for ch in value)
    if not _OID.match(canonical):
        return _error("S2", "OID illisible.")
    if canonical not in KNOWN_OIDS:
        return _error("S2", "OID inconnu (ni INS-NIR ni INS-NIA).")
    return canonical


def _check_names(marker: str) -> Any:
    def check(value: str, km: Keymap) -> tuple[str, ...] | str | FieldError:
        canonical = "".join(km.char(ch) for ch in value)
        if not canonical:
            return _error(marker, "vide.")
        if len(canonical) > VARIABLE[marker]:
            return _error(marker, f"{VARIABLE[marker]} caractères au plus.")
        if not _NAME.match(canonical):
            return _error(marker, "caractères non autorisés (majuscules sans accent, tiret, apostrophe, espace).")
        return tuple(canonical.split()) if marker == "S3" else canonical

    return check


def _check_sex(value: str, km: Keymap) -> str | FieldError:
    canonical = km.char(value) if len(value) == 1 else value
    return canonical if canonical in ("M", "F") else _error("S5", "M ou F attendu.")


def _check_date(value: str, km: Keymap) -> str | FieldError:
    if len(value) != 10:
        return _error("S6", "JJ-MM-AAAA attendu, code tronqué.")
    digits = km.numeric(value[:2] + value[3:5] + value[6:])
    if digits is None or km.char(value[2]) != "-" or km.char(value[5]) != "-":
        return _error("S6", "JJ-MM-AAAA attendu.")
    day, month, year = int(digits[:2]), int(digits[2:4]), int(digits[4:])
    if not _date_exists(year, month, day):
        return _error("S6", "cette date n'existe pas.")
    return f"{year:04d}-{month:02d}-{day:02d}"


def _date_exists(year: int, month: int, day: int) -> bool:
    """A real date, or a partial one (`00` day or month, INSi "date lunaire"); not in the future."""
    if year < 1800 or month > 12:
        return False
    try:
        earliest = date(year, month or 1, day or 1)
    except ValueError:
        return False
    return earliest <= date.today() and (month != 0 or day == 0)


def _check_place(value: str, km: Keymap) -> str | FieldError:
    canonical = "".join(km.digit(ch) or km.char(ch) for ch in value)
    if len(canonical) != 5 or not _COG.match(canonical):
        return _error("S7", "code officiel géographique à 5 caractères attendu.")
    return canonical


_FIELD_CHECKS: dict[str, Any] = {"S1": _check_matricule, "S2": _check_oid, "S3": _check_names("S3"),
                                 "S4": _check_names("S4"), "S5": _check_sex, "S6": _check_date,
                                 "S7": _check_place}
