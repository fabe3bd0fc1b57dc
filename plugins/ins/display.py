"""Trait values as a practitioner reads them (pure, except the one-time read of the shipped COG table).

Stored values stay as INSi and the RNIV want them (`1975-03-00`, `F`, `2A004`); what a panel shows is
`00/03/1975 (date lunaire : jour inconnu)`, `Féminin`, `Ajaccio (2A004)`. The commune names come from
`data/communes_cog.csv.gz` (see data/README.md): loaded once, off the event loop, at the plugin's start
(`load_communes`); a code the table does not know is shown as the bare code, said so.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import io
import re
from pathlib import Path

from plugins.common.nir import OID_NIA, OID_NIR, OID_NIR_DEMO, OID_NIR_TEST

COMMUNES_FILE = Path(__file__).with_name("data") / "communes_cog.csv.gz"
SEX_LABELS = {"F": "Féminin", "M": "Masculin", "I": "Indéterminé"}
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# The INS type a practitioner reads next to the matricule (the OID says it, rniv.md "NIR / NIA").
INS_TYPES = {OID_NIR: "NIR", OID_NIA: "NIA", OID_NIR_TEST: "NIR (test)", OID_NIR_DEMO: "NIR (démonstration)"}


@functools.cache
def load_communes() -> dict[str, str]:
    """COG code -> commune name (current communes, delegated/associated ones, municipal districts and the
    former codes of merged communes). Call it once in an executor: it reads and inflates ~300 kB."""
    with gzip.open(COMMUNES_FILE, "rt", encoding="utf-8", newline="") as raw:
        return {row["code"]: row["nom"] for row in csv.DictReader(io.StringIO(raw.read()))}


def sex_label(value: str | None) -> str | None:
    if not value:
        return None
    return SEX_LABELS.get(value.upper(), value)


def date_label(value: str | None) -> str | None:
    """`AAAA-MM-JJ` as `JJ/MM/AAAA`; a lunar date (`00` day or month, or not a calendar day) says what is
    unknown. Anything else is shown as given (never guessed)."""
    if not value:
        return None
    m = _ISO_DATE.match(value)
    if not m:
        return value
    year, month, day = m.groups()
    shown = f"{day}/{month}/{year}"
    unknown = [part for part, v in (("jour", day), ("mois", month)) if v == "00"]
    if unknown:
        return f"{shown} (date lunaire : {' et '.join(unknown)} inconnu{'s' if len(unknown) > 1 else ''})"
    try:
        dt.date(int(year), int(month), int(day))
    except ValueError:
        return f"{shown} (date lunaire : ce jour n'existe pas au calendrier)"
    return shown


def place_label(code: str | None) -> str | None:
    """`Ajaccio (2A004)`; `né(e) à l'étranger (99255)` for a country code; the bare code, said so, when the
    shipped table does not have it (a commune that no longer exists under that code, a typo)."""
    if not code:
        return None
    if code.startswith("99"):
        return f"Né(e) à l'étranger (code pays {code})"
    name = load_communes().get(code.upper())
    return f"{name} ({code})" if name else f"Commune inconnue de la table COG ({code})"


def value_label(field: str, value: object) -> str | None:
    """One trait's value for display: lists joined, dates, sex and birth place made readable."""
    if value in (None, "", [], ()):
        return None
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    text = str(value)
    if field == "birth_date":
        return date_label(text)
    if field == "sex":
        return sex_label(text)
    if field == "birth_place":
        return place_label(text)
    return text


def ins_type(oid: str | None) -> str:
    return INS_TYPES.get(oid or "", "type inconnu")


def timestamp_label(epoch: float | None) -> str | None:
    """`04/12/2026 à 10:32` in the workstation's local time."""
    if epoch is None:
        return None
    when = dt.datetime.fromtimestamp(epoch)
    return when.strftime("%d/%m/%Y à %H:%M")


def scan_message(status: str) -> str:
    """What the person who scanned an INS Datamatrix reads (popup scan field, hardware scanner notice)."""
    if status == "QUAL":
        return "Datamatrix INS lu : ce patient a déjà une identité qualifiée, rien à faire."
    return "Datamatrix INS lu : recherche INSi en cours."
