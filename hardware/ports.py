"""What the hardware layer hands to the rest of Vigie: plain data, no agent imports.

A reading backend (APDU for development, the official SESAM-Vitale library in production) fills
these from the card; the agent passes them to plugins through the `vitale_card_read` hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VitaleBeneficiary:
    """One person on a Vitale card, as the card gives it (hardware.md B3).

    Names are the card's: `usual_name` is always there, `birth_name` may be empty. `birth_date` is kept
    as written on the card (`AAAAMMJJ` or `AAAA-MM-JJ`, possibly lunar, e.g. month 19). `nir` is the
    beneficiary's own certified NIR when the card carries one (often empty: children share the insured
    person's NIR, which is not their INS).
    """

    usual_name: str
    first_name: str
    birth_date: str
    birth_rank: int = 1
    quality: str | None = None  # "0" insured person, "6" child, ...
    birth_name: str | None = None
    nir: str | None = None  # 13 characters, without key
    nir_key: str | None = None


@dataclass(frozen=True)
class VitaleCard:
    """The public identity block of one card: the insured person's NIR and every beneficiary."""

    insured_nir: str | None  # 13 characters, without key
    insured_nir_key: str | None
    beneficiaries: list[VitaleBeneficiary] = field(default_factory=list)
    serial: str | None = None
