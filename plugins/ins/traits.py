"""Identity traits: cleaning for storage, validation, and comparison with INSi (pure).

Rules from rniv.md ("Traits normalisation", "Dates", "Sex") and mission.md ("One-click
qualification"). Decisions where the spec leaves room:

* **Accents in storage.** The LGC owns the patient record; Vigie keeps its traits as sent, only
  cleaned (uppercase, spaces collapsed, see `plugins.ins.text`). Accented letters and ligatures are
  accepted from the LGC because they have an unambiguous A-Z spelling, and the panel shows them
  next to the INSi value (never stripped silently); qualification then replaces them with the INS
  traits, which are in the RNIV set. `validate_traits(..., strict=True)` is the RNIV check of a
  stored INS trait and rejects them. Digits and other symbols are always rejected.
* **Partial dates.** `00` day/month (INSi "DateLunaire") are accepted and kept as is, never
  replaced by the RNIV estimate of [EXI ID 11/12] (`estimated_birth_date` gives it): what RNIPP
  returns for them is unverified, so a partial date on either side compares as "different"
  (rniv.md: "treat non-calendar values as manual review").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from plugins.ins.models import FIELD_LABELS, Traits
from plugins.ins.text import bad_chars, clean, fold, fold_chars, tokens

EQUAL = "equal"
CONSISTENT = "equal_except_case_accents"
DIFFERENT = "different"
STATES = (EQUAL, CONSISTENT, DIFFERENT)

MAX_NAME_LENGTH = 100  # datamatrix-ins.md S3/S4, and the local API schema
MIN_BIRTH_YEAR = 1850  # below this the year is a typing error, not a patient
SEXES = ("M", "F")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# COG: 5 characters, department 01-99 (97x overseas, 99 abroad) or 2A/2B, then 3 digits.
_COG = re.compile(r"^(?:0[1-9]|[1-9]\d|2[AB])\d{3}$")


# -- cleaning ------------------------------------------------------------------------------------


def normalise_traits(t: Traits) -> Traits:
    """The storable form: names cleaned (uppercase, trimmed, spaces collapsed), empty first names
    dropped, sex and COG uppercased, empty optional values as None. Accents are kept (module doc)."""
    return Traits(
        birth_name=clean(t.birth_name),
        first_names=tuple(c for c in (clean(n) for n in t.first_names) if c),
        sex=t.sex.strip().upper(),
        birth_date=t.birth_date.strip(),
        birth_place=(t.birth_place or "").strip().upper() or None,
        used_name=clean(t.used_name) or None,
        used_first_name=clean(t.used_first_name) or None,
    )


def rniv_form(t: Traits) -> Traits:
    """The traits spelled in the RNIV character set: accents dropped, `Œ`→`OE`, `Æ`→`AE`. For the
    INSi request (the service's input is "already normalised", insi/types.py); when `t` passes
    `validate_traits`, the result passes `validate_traits(strict=True)`. Not for storage."""
    return Traits(
        birth_name=fold(t.birth_name),
        first_names=tuple(fold(n) for n in t.first_names),
        sex=t.sex,
        birth_date=t.birth_date,
        birth_place=t.birth_place,
        used_name=fold(t.used_name) or None,
        used_first_name=fold(t.used_first_name) or None,
    )


# -- dates ---------------------------------------------------------------------------------------


def _date_parts(value: str) -> tuple[int, int, int] | None:
    m = _ISO_DATE.match(value)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def is_calendar_date(value: str) -> bool:
    """A real `YYYY-MM-DD` date."""
    parts = _date_parts(value)
    if parts is None:
        return False
    try:
        date(*parts)
    except ValueError:
        return False
    return True


def is_partial_date(value: str) -> bool:
    """`YYYY-MM-DD` with an unknown (`00`) day and/or month, the known parts plausible."""
    parts = _date_parts(value)
    if parts is None or (parts[1] and parts[2]):
        return False
    return parts[1] <= 12 and parts[2] <= 31


def estimated_birth_date(value: str) -> str | None:
    """The RNIV stand-in for a partial date [EXI ID 11/12]: unknown day → 01, unknown month → 01,
    both unknown → 31/12. None when `value` is not a partial date. For an LGC creating a record;
    Vigie itself keeps the `00` form (module doc)."""
    if not is_partial_date(value):
        return None
    year, month, day = value.split("-")
    if month == "00" and day == "00":
        return f"{year}-12-31"
    return f"{year}-{'01' if month == '00' else month}-{'01' if day == '00' else day}"


def _earliest(value: str) -> date | None:
    """The earliest day a valid (full or partial) date can mean: for the "not in the future" rule."""
    parts = _date_parts(value)
    if parts is None:
        return None
    year, month, day = parts
    try:
        return date(year, month or 1, day or 1)
    except ValueError:
        return None


# -- validation ----------------------------------------------------------------------------------


def _name_errors(value: str, label: str, *, first_name: bool, strict: bool) -> list[str]:
    """RNIV character and position rules (rniv.md "Traits normalisation") for one name."""
    checked = value if strict else fold_chars(value)
    errors: list[str] = []
    if strict and checked != fold_chars(checked):
        errors.append(f"{label} : minuscules, accents et ligatures non admis dans une identité INS "
                      "(Æ s'écrit AE, Œ s'écrit OE) ; saisissez-le en majuscules sans accent")
        checked = fold_chars(checked)
    bad = bad_chars(checked)
    if bad:
        # The refused characters are the rule's detail (which one to fix), not the value: the name never is.
        shown = ", ".join(f"« {c} »" for c in bad)
        errors.append(f"{label} : caractère(s) non autorisé(s) {shown} ; seuls les lettres, l'espace, "
                      "l'apostrophe et le trait d'union sont admis")
    if not any("A" <= c <= "Z" for c in checked):
        errors.append(f"{label} : doit contenir au moins une lettre")
    if checked[:1] in (" ", "-"):
        errors.append(f"{label} : ne doit pas commencer par une espace ou un trait d'union")
    if checked.endswith(" "):
        errors.append(f"{label} : ne doit pas se terminer par une espace")
    if first_name and checked[-1:] in ("-", "'"):
        errors.append(f"{label} : un prénom ne se termine pas par un trait d'union ou une apostrophe")
    if "  " in checked:
        errors.append(f"{label} : pas d'espaces doubles")
    if "''" in checked:
        errors.append(f"{label} : pas d'apostrophes doubles")
    if " '" in checked or "' " in checked:
        errors.append(f"{label} : pas d'espace à côté d'une apostrophe")
    if "---" in checked or (first_name and "--" in checked):
        allowed = "aucun double trait d'union dans un prénom" if first_name else "deux traits d'union au plus"
        errors.append(f"{label} : {allowed}")
    if len(value) > MAX_NAME_LENGTH:
        errors.append(f"{label} : {MAX_NAME_LENGTH} caractères au plus")
    return errors


def _date_errors(value: str, today: date) -> list[str]:
    label = FIELD_LABELS["birth_date"]
    if not value:
        return [f"{label} obligatoire (AAAA-MM-JJ)"]
    if not (is_calendar_date(value) or is_partial_date(value)):
        if _date_parts(value) is None:
            return [f"{label} : format AAAA-MM-JJ attendu (par exemple 1997-02-26)"]
        return [f"{label} : cette date n'existe pas (jour ou mois hors calendrier) ; vérifiez-la sur un "
                "document d'identité"]
    earliest = _earliest(value)
    if earliest is not None and earliest > today:
        return [f"{label} : date dans le futur ; vérifiez-la sur un document d'identité"]
    if int(value[:4]) < MIN_BIRTH_YEAR:
        return [f"{label} : année antérieure à {MIN_BIRTH_YEAR}, invraisemblable ; vérifiez-la sur un document "
                "d'identité"]
    return []


def _sex_errors(value: str) -> list[str]:
    label = FIELD_LABELS["sex"]
    if value in SEXES:
        return []
    if not value:
        return [f"{label} obligatoire : M ou F"]
    if value.upper() == "I":
        # rniv.md "Sex": INSi knows M/F only; a local "I" identity cannot be auto-qualified.
        return [f"{label} indéterminé (I) : INSi ne connaît que M ou F, cette identité ne peut pas être "
                "recherchée ni qualifiée par Vigie ; gérez-la dans le logiciel métier"]
    return [f"{label} : M ou F attendu"]


def _place_errors(value: str | None) -> list[str]:
    if value is None or _COG.match(value):
        return []
    return [f"{FIELD_LABELS['birth_place']} : code INSEE (COG) de 5 caractères attendu, par exemple 75056, "
            "2A004 ou 99134 pour un pays étranger"]


def _ordinal(n: int) -> str:
    return "1er" if n == 1 else f"{n}e"


def validate_traits(t: Traits, *, today: date | None = None, strict: bool = False) -> dict[str, list[str]]:
    """French messages per field; an empty dict when the traits can be stored and sent to INSi.

    Pass cleaned traits (`normalise_traits`): lowercase is then already uppercased. `strict=True`
    also rejects accents and ligatures (the RNIV form of a stored INS trait; module doc).
    """
    today = today or date.today()
    errors: dict[str, list[str]] = {}

    def add(field: str, messages: Iterable[str]) -> None:
        found = list(messages)
        if found:
            errors.setdefault(field, []).extend(found)

    name_label = FIELD_LABELS["birth_name"]
    if t.birth_name:
        add("birth_name", _name_errors(t.birth_name, name_label, first_name=False, strict=strict))
    else:
        add("birth_name", [f"{name_label} obligatoire"])
    if not t.first_names:
        add("first_names", [f"{FIELD_LABELS['first_names']} : au moins un prénom est obligatoire"])
    for position, name in enumerate(t.first_names, 1):
        # By position, not by value (an error message never carries what was sent).
        add("first_names", _name_errors(name, f"{_ordinal(position)} prénom", first_name=True, strict=strict))
    add("birth_date", _date_errors(t.birth_date, today))
    add("sex", _sex_errors(t.sex))
    add("birth_place", _place_errors(t.birth_place))
    if t.used_name is not None:
        add("used_name", _name_errors(t.used_name, FIELD_LABELS["used_name"], first_name=False, strict=strict))
    if t.used_first_name is not None:
        add("used_first_name", _name_errors(t.used_first_name, FIELD_LABELS["used_first_name"], first_name=True,
                                            strict=strict))
    return errors


# -- comparison ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldComparison:
    """One row of the side-by-side panel.

    `state` is one of three values (the issue allows no fourth):
    * `equal`: the two values are identical as stored;
    * `equal_except_case_accents`: not identical but consistent, nothing to correct: case, accents
      or ligatures (all fields); for first names also `-`/`'` versus space and a local list that is
      the start of INSi's (rniv.md [EXI ID 10]); for the birth place, one side not knowing it
      (rniv.md compares the COG "when both sides have it"); for the sex, a local source without it
      that INSi completes (checked against INSi's matricule). Highlighted, never blocking;
    * `different`: a real discordance (or a partial date): blocks qualification.
    """

    field: str
    local: str | None
    insi: str | None
    state: str


def _compare_required(field: str, local: str, insi: str) -> FieldComparison:
    """Birth name and sex: identical, equal once case/accents/ligatures are ignored, or different
    (a missing value on either side is different: the trait is required)."""
    if not (local and insi):
        state = DIFFERENT
    elif local == insi:
        state = EQUAL
    else:
        state = CONSISTENT if fold(local) == fold(insi) else DIFFERENT
    return FieldComparison(field, local or None, insi or None, state)


def _insi_prefix(insi_names: tuple[str, ...], wanted: list[str]) -> list[str] | None:
    """The leading INSi first names that read exactly as the words `wanted`, or None.

    Words are compared with `-`/`'` as spaces, but the match must end between two INSi names: a
    hyphen INSi sent is a real join, so JEAN is not the start of "JEAN-CHRISTOPHE PIERRE", while it
    is the start of "JEAN CHRISTOPHE PIERRE" (ListePrenom is space-separated: insi.md §4)."""
    if not wanted:
        return None
    taken: list[str] = []
    words: list[str] = []
    for name in insi_names:
        if len(words) >= len(wanted):
            break
        taken.append(name)
        words.extend(tokens(name))
    return taken if words == wanted else None


def _compare_first_name(local: Traits, insi: Traits) -> FieldComparison:
    """[EXI ID 10]: the first birth first name is consistent with the start of INSi's list, reading
    `-`/`'` as spaces: JEAN-CHRISTOPHE ≡ JEAN CHRISTOPHE, both consistent with "JEAN CHRISTOPHE
    PIERRE"; CHRISTOPHE alone is not. The INSi column shows the INSi names that were matched."""
    first = local.first_name
    matched = _insi_prefix(insi.first_names, tokens(first))
    if first is None or matched is None:
        return FieldComparison("first_name", first, insi.first_name, DIFFERENT)
    insi_value = " ".join(matched)
    return FieldComparison("first_name", first, insi_value, EQUAL if first == insi_value else CONSISTENT)


def _compare_first_names(local: Traits, insi: Traits) -> FieldComparison:
    """The whole list: consistent when the local list reads as the start of INSi's (the LGC often
    knows fewer first names than the civil status); a local first name INSi lacks is a discordance."""
    local_value = " ".join(local.first_names) or None
    insi_value = " ".join(insi.first_names) or None
    if local_value is None or insi_value is None:
        state = DIFFERENT
    elif local_value == insi_value:
        state = EQUAL
    else:
        state = CONSISTENT if _insi_prefix(insi.first_names, tokens(local_value)) is not None else DIFFERENT
    return FieldComparison("first_names", local_value, insi_value, state)


def _compare_date(local: str, insi: str) -> FieldComparison:
    if not (is_calendar_date(local) and is_calendar_date(insi)):
        state = DIFFERENT  # partial or invalid: manual review (module doc)
    else:
        state = EQUAL if local == insi else DIFFERENT
    return FieldComparison("birth_date", local or None, insi or None, state)


def _compare_place(local: str | None, insi: str | None) -> FieldComparison:
    if local is None and insi is None:
        state = EQUAL
    elif local is None or insi is None:
        state = CONSISTENT  # compared only when both sides have it (rniv.md); INSi's fills the record
    elif local == insi:
        state = EQUAL
    else:
        state = CONSISTENT if local.upper() == insi.upper() else DIFFERENT
    return FieldComparison("birth_place", local, insi, state)


# The first character of a NIR or NIA: 1 a man, 2 a woman. Provisional and temporary numbers (3, 4, 7,
# 8) are not read, as on the card (plugins/ins/card.py): they say nothing here.
_MATRICULE_SEX = {"1": "M", "2": "F"}


def matricule_sex(matricule: str | None) -> str | None:
    """"M"/"F" as the matricule's first character says, or None when it says nothing."""
    return _MATRICULE_SEX.get((matricule or " ")[0])


def _compare_sex(local: str, insi: str, ins_matricule: str | None) -> FieldComparison:
    """A sex the local source lacks (a Vitale card whose NIR is the insured's, not the beneficiary's)
    is completed by INSi's, like a missing birth place: not a discordance. INSi's value is then
    cross-checked with the sex its own matricule gives; a contradiction is a discordance."""
    if not local and insi:
        from_matricule = matricule_sex(ins_matricule)
        state = DIFFERENT if from_matricule is not None and from_matricule != insi else CONSISTENT
        return FieldComparison("sex", None, insi, state)
    return _compare_required("sex", local, insi)


def compare(local: Traits, insi: Traits, *, ins_matricule: str | None = None) -> list[FieldComparison]:
    """Row by row, in panel order: birth_name, first_name (first birth first name), first_names
    (whole list), birth_date, sex, birth_place. Hyphens and apostrophes count in names, so
    GUIVARC'H vs GUIVARCH is "different". `ins_matricule` (INSi's active matricule) cross-checks
    the sex INSi supplies when the local source has none."""
    return [
        _compare_required("birth_name", local.birth_name, insi.birth_name),
        _compare_first_name(local, insi),
        _compare_first_names(local, insi),
        _compare_date(local.birth_date, insi.birth_date),
        _compare_sex(local.sex, insi.sex, ins_matricule),
        _compare_place(local.birth_place, insi.birth_place),
    ]


STRICT_FIELDS = ("birth_name", "first_name", "birth_date", "sex", "birth_place")


def strict_match(comparison: list[FieldComparison]) -> bool:
    """mission.md: birth name, first birth first name, birth date and sex match (case and accents
    aside), and the birth place when both sides have it (rniv.md). Required for the attestation."""
    states = {c.field: c.state for c in comparison}
    return all(f in states and states[f] != DIFFERENT for f in STRICT_FIELDS)


def different_fields(comparison: list[FieldComparison]) -> list[str]:
    """The fields in discordance, in panel order."""
    return [c.field for c in comparison if c.state == DIFFERENT]
