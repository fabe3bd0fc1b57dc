"""INS value types and the fixed texts of the qualification panel (pure).

`Traits` holds the strict identity traits of rniv.md plus the local used name/first name, as the
LGC sends them (see `plugins.ins.traits` for cleaning, validation and comparison). The identity
document list, the attestation sentence and the button label are requirements of mission.md
("One-click qualification") and must be shown verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Separators of a first-name list given as one string: "Hervé, Ronan", "JEAN PHILIPPE" (INSi's
# ListePrenom is space-separated). A hyphen joins a compound prénom: "Jean-Philippe" is one name.
_FIRST_NAME_SEPARATORS = re.compile(r"[,;\s]+")
# Inside a list item, whitespace may belong to a compound prénom written with a space; only the
# characters that are never part of a name split it.
_LIST_ITEM_SEPARATORS = re.compile(r"[,;]+")


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _optional(value: Any) -> str | None:
    return _text(value) or None


def _first_names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = _FIRST_NAME_SEPARATORS.split(value)
    else:
        parts = [p for item in value for p in _LIST_ITEM_SEPARATORS.split(_text(item))]
    return tuple(p.strip() for p in parts if p.strip())


@dataclass(frozen=True)
class Traits:
    """Identity traits: the strict ones (rniv.md) and the local used name/first name.

    `first_names` is the birth first-name list in order (the first one is the "premier prénom de
    naissance"). `birth_date` is kept as a string (INSi "DateLunaire", rniv.md "Dates"): ISO
    `YYYY-MM-DD`, where `00` marks an unknown day or month. `birth_place` is the 5-character COG
    (`2A020`, `99255` abroad). `used_name`/`used_first_name` are never filled from the birth
    traits [EXI ID 08].
    """

    birth_name: str
    first_names: tuple[str, ...]
    sex: str
    birth_date: str
    birth_place: str | None = None
    used_name: str | None = None
    used_first_name: str | None = None

    @property
    def first_name(self) -> str | None:
        """The first birth first name, or None when the list is empty."""
        return self.first_names[0] if self.first_names else None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Traits:
        """Tolerant reader: missing keys become empty (validation reports them), first names as a
        list or as one string split on commas, semicolons and whitespace."""
        return cls(
            birth_name=_text(d.get("birth_name")),
            first_names=_first_names(d.get("first_names")),
            sex=_text(d.get("sex")),
            birth_date=_text(d.get("birth_date")),
            birth_place=_optional(d.get("birth_place")),
            used_name=_optional(d.get("used_name")),
            used_first_name=_optional(d.get("used_first_name")),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe; `from_dict(t.to_dict()) == t` for any traits with non-empty, stripped values."""
        return {
            "birth_name": self.birth_name,
            "first_names": list(self.first_names),
            "birth_date": self.birth_date,
            "sex": self.sex,
            "birth_place": self.birth_place,
            "used_name": self.used_name,
            "used_first_name": self.used_first_name,
        }


ACTOR_KINDS = ("ps", "cpe_nominative", "cpe_anonymous", "unknown")


@dataclass(frozen=True)
class Actor:
    """Who acts at the workstation: a practitioner's CPS (`ps`), a secretary's nominative or
    anonymous CPE, or nobody identified yet (`unknown`). Recorded in the audit of every change."""

    kind: str
    name: str
    national_id: str | None = None
    profession: str | None = None


# mission.md "One-click qualification": the list, in this order, labels verbatim, no default.
IDENTITY_DOCUMENTS: list[tuple[str, str]] = [
    ("passport", "Passeport (français ou étranger)"),
    ("national_id_card", "Carte Nationale d'Identité (française ou étrangère)"),
    ("birth_certificate_or_family_book", "Extrait d'acte de naissance ou livret de famille"),
    ("residence_permit", "Titre ou carte de séjour"),
    ("asylum_seeker_document", "Document de demandeur d'asile avec photo"),
    ("digital_identity", "Dispositif numérique d'identification/authentification forte"),
]

# Never accepted, even if configured by mistake (rniv.md "High-trust documents").
REFUSED_DOCUMENTS: dict[str, str] = {"driving_licence": "Permis de conduire"}

# mission.md, verbatim (rniv.md notes the official wording is unverified: keep it in one place).
ATTESTATION_TEXT = (
    "J'atteste déjà connaître l'identité de cette personne et sa correspondance aux traits d'identité INSi. "
    "Cela me permet de partager ses données en toute sécurité"
)
CONFIRM_LABEL = "Je confirme l'identitovigilance"

# French names of the traits and comparison rows, for messages and the panel.
FIELD_LABELS: dict[str, str] = {
    "birth_name": "nom de naissance",
    "first_name": "premier prénom de naissance",
    "first_names": "prénoms de naissance",
    "birth_date": "date de naissance",
    "sex": "sexe",
    "birth_place": "lieu de naissance",
    "used_name": "nom utilisé",
    "used_first_name": "prénom utilisé",
}
