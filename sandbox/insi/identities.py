"""The sandbox's RNIPP: test identities and the search semantics of the INSi service.

Identities come from `sandbox/insi/data/test-identities.csv`, shipped with the package (a copy of the
project's reference `shared/data/insi/test-identities.csv`; a test checks they stay equal), with columns
`birth_name, first_names, sex, birth_date, birth_place, matricule, key, oid, history, expected_cr, notes`, plus an
optional `rank`, and from the sandbox settings. The rest of the public CNDA test book (insi.md §7) completes them:
`cnda-test-book.csv` adds the identities the reference list lacks (HERMANN GATIEN, whose key fails mod-97) and
`cnda-history.csv` gives the INSHISTO entries as the book has them (`matricule` of the active INS, then the
historical one, its OID, `type` written as TypeMatricule (`none`: not written; empty: from the OID), and
`start_date`/`end_date` written as DateDeb/DateFin), replacing the `history` column of that identity.
`expected_cr` says what a matching search gives: `00` the identity,
`01` nothing (the row is as if absent), `02` "several identities" (a homonym set the CSV stands for with one row).

Traits search (`rechercherInsAvecTraitsIdentite`), inputs normalised (uppercase, accents and ligatures
removed, spaces collapsed): a row is a candidate when birth name, sex and birth date are equal, the sent
first names fit its first-name list and the birth place, when sent and known, is equal. Sent first names
(all `Prenom` elements, each possibly holding several space-separated names) fit the list when

- they are the start of the list, whole names only, `-` and `'` read as spaces
  (PIERRE-ALAIN ≡ PIERRE ALAIN fits "PIERRE-ALAIN MURIEL FLORIANT"; CATARINA fits "CATARINA BELLA"), or
- each sent name equals one of the listed names, in the list's order (BELLA or MURIEL FLORIANT fit).

OLA fits nothing in "CATARINA BELLA". No first name sent: the criterion is not applied.

Carte Vitale search (`rechercherInsAvecCarteVitale`): by the beneficiary's NIR when the card gives one
(active or historical matricule of an identity, key compared when sent), otherwise birth name + birth
date (+ rank, 1 by default).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_CSV = DATA / "test-identities.csv"
TEST_BOOK_CSV = DATA / "cnda-test-book.csv"
TEST_BOOK_HISTORY_CSV = DATA / "cnda-history.csv"

OID_NIR = "1.2.250.1.213.1.4.8"
CR_LABELS: dict[str, str] = {
    "00": "OK",
    "01": "Aucune identite trouvee",
    "02": "Plusieurs identites trouvees",
}
_LIGATURES = str.maketrans({"Æ": "AE", "æ": "AE", "Œ": "OE", "œ": "OE", "ß": "SS", "’": "'", "‘": "'", "ʼ": "'"})
_WORD_SPLIT = re.compile(r"[ '\-]+")


def normalise(value: str | None) -> str:
    """Uppercase, no diacritics nor ligatures, single spaces; hyphens and apostrophes kept."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value.translate(_LIGATURES))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.upper().split())


def _words(name: str) -> list[str]:
    return [w for w in _WORD_SPLIT.split(name) if w]


def first_names_fit(sent: Iterable[str], listed: Sequence[str]) -> bool:
    """True when the sent first name(s) fit the identity's first-name list (see the module doc)."""
    sent_names = [n for s in sent for n in normalise(s).split(" ") if n]
    if not sent_names:
        return True
    listed_names = [normalise(n) for n in listed if normalise(n)]
    # (a) the start of the list, whole first names, '-' and "'" read as spaces
    sent_words = [w for n in sent_names for w in _words(n)]
    prefix: list[str] = []
    for name in listed_names:
        prefix += _words(name)
        if prefix == sent_words:
            return True
        if len(prefix) >= len(sent_words):
            break
    # (b) each sent name is one of the listed names, in order
    index = 0
    for name in sent_names:
        wanted = _words(name)
        while index < len(listed_names) and _words(listed_names[index]) != wanted:
            index += 1
        if index == len(listed_names):
            return False
        index += 1
    return True


@dataclass(frozen=True)
class InsNumber:
    matricule: str  # 13 characters
    key: str  # 2 digits
    oid: str = OID_NIR
    # INSHISTO only: TypeMatricule ("" = from the OID, None = not written) and DateDeb/DateFin as sent.
    type: str | None = ""
    start_date: str | None = None
    end_date: str | None = None


@dataclass(frozen=True)
class Identity:
    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None = None
    ins: InsNumber | None = None
    history: tuple[InsNumber, ...] = ()
    expected_cr: str = "00"
    rank: int = 1
    notes: str = ""

    @property
    def first_names_text(self) -> str:
        return " ".join(self.first_names)


@dataclass(frozen=True)
class SearchResult:
    cr: str
    identity: Identity | None = None

    @property
    def label(self) -> str:
        return CR_LABELS[self.cr]


def _history(text: str, default_oid: str) -> tuple[InsNumber, ...]:
    numbers = []
    for item in re.split(r"[;|\s]+", text.strip()):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError(f"history entry {item!r}: expected MATRICULE:KEY[:OID]")
        numbers.append(InsNumber(parts[0].upper(), parts[1], parts[2] if len(parts) == 3 else default_oid))
    return tuple(numbers)


def identity_from_row(row: Mapping[str, Any]) -> Identity:
    """An identity from a CSV row or a settings mapping (same keys; `first_names` may be a list)."""

    def text(key: str) -> str:
        value = row.get(key)
        return "" if value is None else str(value).strip()

    raw_first = row.get("first_names") or ""
    first = raw_first if isinstance(raw_first, str) else " ".join(str(n) for n in raw_first)
    oid = text("oid") or OID_NIR
    expected = text("expected_cr") or "00"
    if expected not in CR_LABELS:
        raise ValueError(f"expected_cr {expected!r}: one of 00, 01, 02")
    ins = InsNumber(text("matricule").upper(), text("key"), oid) if text("matricule") else None
    if expected == "00" and ins is None:
        raise ValueError(f"identity {text('birth_name')!r}: expected_cr 00 needs a matricule and key")
    if ins is not None and not re.fullmatch(r"\d{2}", ins.key):
        raise ValueError(f"identity {text('birth_name')!r}: key {ins.key!r} is not 2 digits")
    sex = normalise(text("sex"))
    if sex not in ("M", "F"):
        raise ValueError(f"identity {text('birth_name')!r}: sex {sex!r} is not M or F")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text("birth_date")):
        raise ValueError(f"identity {text('birth_name')!r}: birth_date {text('birth_date')!r} is not AAAA-MM-JJ")
    return Identity(
        birth_name=normalise(text("birth_name")),
        first_names=tuple(normalise(first).split(" ")) if normalise(first) else (),
        sex=sex,
        birth_date=text("birth_date"),
        birth_place=normalise(text("birth_place")) or None,
        ins=ins,
        history=_history(text("history"), oid),
        expected_cr=expected,
        rank=int(text("rank") or 1),
        notes=text("notes"),
    )


def parse_identities_csv(text: str) -> list[Identity]:
    return [identity_from_row(row) for row in csv.DictReader(io.StringIO(text))]


def parse_history_csv(text: str) -> dict[str, tuple[InsNumber, ...]]:
    """INSHISTO entries by active matricule (`cnda-history.csv`)."""
    entries: dict[str, list[InsNumber]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        kind = (row.get("type") or "").strip()
        if not re.fullmatch(r"\d{2}", (row.get("history_key") or "").strip()):
            raise ValueError(f"history of {row.get('matricule')!r}: history_key is not 2 digits")
        entries.setdefault(row["matricule"].strip().upper(), []).append(InsNumber(
            row["history_matricule"].strip().upper(), row["history_key"].strip(), (row.get("oid") or OID_NIR).strip(),
            type=None if kind == "none" else kind,
            start_date=(row.get("start_date") or "").strip() or None,
            end_date=(row.get("end_date") or "").strip() or None,
        ))
    return {matricule: tuple(numbers) for matricule, numbers in entries.items()}


def with_history(identities: Iterable[Identity], history: Mapping[str, tuple[InsNumber, ...]]) -> list[Identity]:
    return [replace(i, history=history[i.ins.matricule]) if i.ins is not None and i.ins.matricule in history else i
            for i in identities]


def load_identities(path: Path | None = None) -> list[Identity]:
    """The identities of a CSV file (default: the shipped reference test identities completed by the rest of
    the public CNDA test book)."""
    if path is not None:
        return parse_identities_csv(path.read_text(encoding="utf-8"))
    book = [*parse_identities_csv(DEFAULT_CSV.read_text(encoding="utf-8")),
            *parse_identities_csv(TEST_BOOK_CSV.read_text(encoding="utf-8"))]
    return with_history(book, parse_history_csv(TEST_BOOK_HISTORY_CSV.read_text(encoding="utf-8")))


class IdentityBook:
    """The searchable set of identities, with the INSi search semantics."""

    def __init__(self, identities: Iterable[Identity]) -> None:
        self.identities = list(identities)

    @staticmethod
    def _resolve(candidates: list[Identity]) -> SearchResult:
        if any(c.expected_cr == "02" for c in candidates):
            return SearchResult("02")
        found = [c for c in candidates if c.expected_cr == "00"]
        if not found:
            return SearchResult("01")
        if len(found) > 1:
            return SearchResult("02")
        return SearchResult("00", found[0])

    def search_traits(self, *, birth_name: str | None, first_names: Sequence[str], sex: str | None,
                      birth_date: str | None, birth_place: str | None = None) -> SearchResult:
        name, sx, place = normalise(birth_name), normalise(sex), normalise(birth_place)
        date = (birth_date or "").strip()
        candidates = [
            i for i in self.identities
            if i.birth_name == name and i.sex == sx and i.birth_date == date
            and first_names_fit(first_names, i.first_names)
            and (not place or i.birth_place is None or i.birth_place == place)
        ]
        return self._resolve(candidates)

    def search_vitale(self, *, nir: str | None, nir_key: str | None, birth_name: str | None,
                      birth_date: str | None, rank: int | None = None) -> SearchResult:
        if nir:
            number, key = nir.strip().upper(), (nir_key or "").strip()
            candidates = [
                i for i in self.identities
                if any(n.matricule == number and (not key or n.key == key)
                       for n in ((i.ins,) if i.ins else ()) + i.history)
            ]
        else:
            name, date = normalise(birth_name), (birth_date or "").strip()
            candidates = [i for i in self.identities if i.birth_name == name and i.birth_date == date
                          and (rank is None or i.rank == rank)]
        return self._resolve(candidates)


def _letters(n: int) -> str:
    """0 → A, 25 → Z, 26 → BA...: a digit-free name suffix (names may not contain digits)."""
    out = ""
    while True:
        n, r = divmod(n, 26)
        out = chr(ord("A") + r) + out
        if n == 0:
            return out


def synthetic_identities(count: int) -> list[dict[str, Any]]:
    """`count` distinct test identities (CSV-row mappings for `extra_identities`), for batches and benchmarks.

    Birth names `SYNTHETIQUE-<letters>`, women born in 1980 in Clermont-Ferrand (63113), INS-NIR with a valid key.
    """
    rows = []
    for i in range(count):
        month, day = 1 + (i // 28) % 12, 1 + i % 28
        matricule = f"280{month:02d}63113{i % 1000:03d}"
        key = 97 - (int(matricule) % 97)
        rows.append({
            "birth_name": f"SYNTHETIQUE-{_letters(i)}", "first_names": "CAMILLE", "sex": "F",
            "birth_date": f"1980-{month:02d}-{day:02d}", "birth_place": "63113",
            "matricule": matricule, "key": f"{key:02d}", "oid": OID_NIR,
        })
    return rows
