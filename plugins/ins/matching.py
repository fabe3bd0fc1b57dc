"""Which stored identity a submission belongs to: one rule for every source (pure).

A record opened in the LGC, a Vitale card beneficiary, a scanned Datamatrix and a batch line must land
on the same identity when they are the same person (issue 19: a card used to create a second,
provisional identity next to the record already qualified). In order:

1. the LGC's own record id (`local_id`), when it sends one;
2. the INS, when the source knows it: the matricule of a scanned Datamatrix, or the beneficiary's own
   NIR on a Vitale card (an INS-NIR is that NIR); compared with the INS INSi gave each identity, and
   not contradicted by the traits (same birth date, compatible sex: a card's usual names may differ);
3. the strict traits (rniv.md): birth name, first birth first name and birth date equal (case and
   accents aside; hyphens and apostrophes count), sex and birth place equal when both sides know them.
   A candidate whose INS differs from the one the source knows is another person.

Among several candidates the most advanced status wins (QUAL, then VALI, RECUP, PROV), then the most
recently updated. Never a guess beyond that: anything else is a new identity, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from plugins.common.nir import OID_NIA
from plugins.ins.models import Traits
from plugins.ins.text import fold

STATUS_RANK = {"QUAL": 3, "VALI": 2, "RECUP": 1, "PROV": 0}


@dataclass(frozen=True)
class KnownIns:
    """The INS a source carries: the 13-character matricule, its key, and its OID when the source says it
    (a Datamatrix does; a card's NIR has none: it is an INS only if the identity's INS is a NIR)."""

    matricule: str
    key: str | None = None
    oid: str | None = None

    def same_as(self, ins: dict[str, Any] | None) -> bool | None:
        """True/False against a stored INS (`{"matricule", "key", "oid"}`); None when nothing can be said
        (no INS stored, or a NIA stored and a NIR from a card: different numbering, same person possible)."""
        if not ins or not ins.get("matricule"):
            return None
        if self.oid is None and ins.get("oid") == OID_NIA:
            return None
        if self.oid is not None and ins.get("oid") and ins["oid"] != self.oid:
            return False
        return ins["matricule"] == self.matricule and (not self.key or not ins.get("key") or ins["key"] == self.key)


def known_ins(matricule: str | None, key: str | None = None, oid: str | None = None) -> KnownIns | None:
    """From a 13-character matricule (+ key), or a 15-character one as a Datamatrix carries it."""
    value = (matricule or "").strip().upper()
    if len(value) == 15 and key is None:
        value, key = value[:13], value[13:]
    return KnownIns(value, (key or "").strip() or None, oid or None) if len(value) == 13 else None


def match_key(traits: Traits | dict[str, Any]) -> str | None:
    """The indexed part of the strict traits: birth name, first birth first name, birth date (folded)."""
    t = traits if isinstance(traits, Traits) else Traits.from_dict(traits)
    if not (t.birth_name and t.first_name and t.birth_date):
        return None
    return f"{fold(t.birth_name)}|{fold(t.first_name)}|{t.birth_date}"


def _both_or_none(a: str | None, b: str | None) -> bool:
    return not a or not b or a.strip().upper() == b.strip().upper()


def strict_traits_match(stored: Traits | dict[str, Any], traits: Traits) -> bool:
    s = stored if isinstance(stored, Traits) else Traits.from_dict(stored)
    key = match_key(traits)
    return key is not None and match_key(s) == key and _both_or_none(s.sex, traits.sex) \
        and _both_or_none(s.birth_place, traits.birth_place)


def not_contradicted(stored: Traits | dict[str, Any], traits: Traits) -> bool:
    """An INS match still needs the same birth date and a compatible sex."""
    s = stored if isinstance(stored, Traits) else Traits.from_dict(stored)
    return bool(traits.birth_date) and s.birth_date == traits.birth_date and _both_or_none(s.sex, traits.sex)


def pick(candidates: Iterable[Any], traits: Traits, ins: KnownIns | None) -> Any | None:
    """The identity row (`traits`, `ins`, `status`, `updated_at`) the submission belongs to, or None."""
    fitting = []
    for row in candidates:
        same = ins.same_as(row.ins) if ins is not None else None
        if same is False:
            continue  # another INS: another person, whatever the traits say
        if (same and not_contradicted(row.traits, traits)) or strict_traits_match(row.traits, traits):
            fitting.append(row)
    if not fitting:
        return None
    return max(fitting, key=lambda r: (STATUS_RANK.get(r.status, 0), r.updated_at))
