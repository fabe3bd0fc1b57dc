"""From a Vitale card beneficiary to what the INS plugin needs (pure).

The card carries usual names and the insured person's NIR, not the reference identity (hardware.md
B3): its traits are shown as the "Carte Vitale" column and never invented. Sex is read from a NIR only
when that NIR is the beneficiary's own (their certified NIR, or the insured's when the beneficiary is
the insured person, quality 0); otherwise it stays empty and the comparison asks the user to check.
"""

from __future__ import annotations

import re
from typing import Any

from hardware.ports import VitaleBeneficiary, VitaleCard
from plugins.ins.insi.types import VitaleSearch
from plugins.ins.models import Traits

_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def card_date(value: str) -> str:
    """`AAAAMMJJ` → `AAAA-MM-JJ`, kept even when lunar (month 19): INSi's DateNaissance is "DateLunaire"."""
    value = value.strip()
    m = _COMPACT_DATE.match(value)
    return f"{m[1]}-{m[2]}-{m[3]}" if m else value


def own_nir(card: VitaleCard, b: VitaleBeneficiary) -> tuple[str | None, str | None]:
    if b.nir:
        return b.nir, b.nir_key
    if b.quality == "0":
        return card.insured_nir, card.insured_nir_key
    return None, None


def _names(b: VitaleBeneficiary) -> tuple[str, str]:
    """(birth name, usual name) as compared and stored: the usual name stands in for a missing birth name."""
    usual = b.usual_name.strip().upper()
    return (b.birth_name or "").strip().upper() or usual, usual


def card_traits(card: VitaleCard, b: VitaleBeneficiary) -> Traits:
    nir, _ = own_nir(card, b)
    sex = {"1": "M", "2": "F"}.get((nir or " ")[0], "")
    birth_name, usual = _names(b)
    return Traits(
        birth_name=birth_name,
        first_names=tuple(b.first_name.strip().upper().split()) if b.first_name.strip() else (),
        sex=sex,
        birth_date=card_date(b.birth_date),
        birth_place=None,
        used_name=usual if usual and usual != birth_name else None,
    )


def card_search(card: VitaleCard, b: VitaleBeneficiary) -> VitaleSearch:
    nir, key = (b.nir, b.nir_key) if b.nir else (None, None)
    return VitaleSearch(
        insured_nir=card.insured_nir, insured_nir_key=card.insured_nir_key,
        beneficiary_nir=nir, beneficiary_nir_key=key,
        birth_name=_names(b)[0], birth_date=card_date(b.birth_date), birth_rank=b.birth_rank,
    )


def card_to_dict(card: VitaleCard, b: VitaleBeneficiary) -> dict[str, Any]:
    """What the identity row keeps to run the Vitale search again (after a crash or a retry)."""
    return {"insured_nir": card.insured_nir, "insured_nir_key": card.insured_nir_key,
            "usual_name": b.usual_name, "birth_name": b.birth_name, "first_name": b.first_name,
            "birth_date": b.birth_date, "birth_rank": b.birth_rank, "quality": b.quality,
            "nir": b.nir, "nir_key": b.nir_key}


def _opt(d: dict[str, Any], key: str) -> str | None:
    value = d.get(key)
    return str(value) if value not in (None, "") else None


def card_from_dict(d: dict[str, Any]) -> tuple[VitaleCard, VitaleBeneficiary]:
    b = VitaleBeneficiary(
        usual_name=str(d["usual_name"]), first_name=str(d["first_name"]), birth_date=str(d["birth_date"]),
        birth_rank=int(d.get("birth_rank") or 1), quality=_opt(d, "quality"), birth_name=_opt(d, "birth_name"),
        nir=_opt(d, "nir"), nir_key=_opt(d, "nir_key"),
    )
    card = VitaleCard(insured_nir=_opt(d, "insured_nir"), insured_nir_key=_opt(d, "insured_nir_key"),
                      beneficiaries=[b])
    return card, b
