"""INS Datamatrix contents of the INSi sandbox's test identities (sandbox/insi/data/test-identities.csv)."""

from __future__ import annotations

import csv
from pathlib import Path

from plugins.scanner.datamatrix import InsDatamatrix
from plugins.scanner.payload import build_payload

CSV = Path(__file__).resolve().parent.parent / "insi" / "data" / "test-identities.csv"


def sandbox_identities() -> list[InsDatamatrix]:
    """Every test identity that has an INS (rows without matricule are "not found" cases)."""
    out = []
    with CSV.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not row["matricule"]:
                continue
            out.append(InsDatamatrix(
                matricule=row["matricule"] + row["key"], oid=row["oid"], first_names=tuple(row["first_names"].split()),
                birth_name=row["birth_name"], sex=row["sex"], birth_date=row["birth_date"],
                birth_place=row["birth_place"] or None))
    return out


def find_identity(birth_name: str, first_name: str | None = None) -> InsDatamatrix:
    name = birth_name.strip().upper()
    matches = [i for i in sandbox_identities() if i.birth_name == name
               and (first_name is None or i.first_names[0] == first_name.strip().upper())]
    if not matches:
        known = ", ".join(sorted({f"{i.birth_name} {i.first_names[0]}" for i in sandbox_identities()}))
        raise LookupError(f"identité de test inconnue : {birth_name} (connues : {known})")
    return matches[0]


def sandbox_payload(birth_name: str, first_name: str | None = None) -> str:
    return build_payload(find_identity(birth_name, first_name))
