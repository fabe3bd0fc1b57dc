"""The day's patients as the LGC exports them (CSV), read into `identity.batch` lines (pure).

Columns (a header row, `;` or `,` separated, UTF-8 with or without BOM): local_id (optional), birth_name,
first_names, sex, birth_date (AAAA-MM-JJ), birth_place (optional), used_name, used_first_name (optional).
French headers an agenda export may use are accepted too (nom_naissance, prenoms, sexe, date_naissance,
lieu_naissance, nom_utilise, prenom_utilise, id/dossier). Errors are French and name the file.
"""

from __future__ import annotations

import csv
import unicodedata
from typing import Any

from agent.errors import UserFacingError

TRAIT_COLUMNS = ("birth_name", "first_names", "sex", "birth_date", "birth_place", "used_name", "used_first_name")
REQUIRED = ("birth_name", "first_names", "sex", "birth_date")
MAX_LINES = 2000  # identity.batch's own limit
ALIASES = {
    "nom_naissance": "birth_name", "nom_de_naissance": "birth_name", "prenoms": "first_names",
    "prenom": "first_names", "sexe": "sex", "date_naissance": "birth_date", "date_de_naissance": "birth_date",
    "lieu_naissance": "birth_place", "lieu_de_naissance": "birth_place", "nom_utilise": "used_name",
    "prenom_utilise": "used_first_name", "id": "local_id", "dossier": "local_id", "identifiant": "local_id",
}


def _column(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name.strip().lower()).encode("ascii", "ignore").decode()
    plain = plain.replace(" ", "_").replace("-", "_")
    return ALIASES.get(plain, plain)


def parse_day_csv(text: str, name: str = "fichier") -> list[dict[str, Any]]:
    """`identity.batch` patients from the CSV text; UserFacingError (French) for an unusable file."""
    text = text.lstrip("\ufeff")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise UserFacingError(f"{name} : fichier vide, aucun patient.")
    try:
        dialect: Any = csv.Sniffer().sniff(lines[0], delimiters=";,")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(lines, dialect=dialect)
    header = [_column(h) for h in next(reader)]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise UserFacingError(f"{name} : colonnes manquantes : {', '.join(missing)} (attendues : "
                              f"{', '.join(REQUIRED)} ; local_id et birth_place facultatives).")
    patients = []
    for values in reader:
        row = dict(zip(header, values, strict=False))
        traits = {k: row[k].strip() for k in TRAIT_COLUMNS if row.get(k) and row[k].strip()}
        patients.append({"local_id": (row.get("local_id") or "").strip() or None, "traits": traits})
    if not patients:
        raise UserFacingError(f"{name} : aucun patient sous la ligne d'en-tête.")
    if len(patients) > MAX_LINES:
        raise UserFacingError(f"{name} : {len(patients)} patients, {MAX_LINES} au plus par lot ; coupez le fichier.")
    return patients
