"""Who may receive a document by MSSanté: pure rules, no I/O (mission.md, spec §2.2 and §2.4).

- Professionals (médecin traitant, prescriber, other correspondents): any MSSanté address.
- The patient, at `<INS matricule>@patient.mssante.fr`, only when
  1. the identity's INS is **qualified** (the INS plugin's QUAL status; the document carries it),
  2. the document is not **invisible au patient** (an `INVISIBLE_PATIENT` document is never mailed
     to the patient, regles-gestion-mssante.md),
  3. the patient has not **opposed** MSSanté sending (recorded in this plugin's store).
Each refusal is a French reason shown next to the document; professionals still get their copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PATIENT_DOMAIN = "patient.mssante.fr"
ROLES = ("treating", "prescriber", "professional", "patient")
ROLE_LABELS = {"treating": "médecin traitant", "prescriber": "prescripteur", "professional": "professionnel",
               "patient": "patient"}
_ADDRESS = re.compile(r"^[A-Za-z0-9._%+\-']{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,}$")
_MATRICULE = re.compile(r"^[0-9]{13}[0-9]{2}$|^[0-9][0-9]{4}2[AB][0-9]{6}[0-9]{2}$")

NOT_QUALIFIED = ("Pas d'envoi au patient : son INS n'est pas qualifiée. Qualifiez l'identité (pièce "
                 "d'identité ou attestation) puis renvoyez le document.")
INVISIBLE = "Pas d'envoi au patient : le document est marqué « invisible au patient »."
OPPOSED = "Pas d'envoi au patient : il s'est opposé à l'envoi par messagerie sécurisée."
# Why no address is built for a Corsican INS (no documented 15-digit form): docs/mss.md, "Patients born in Corsica".
NO_PATIENT_MAILBOX = ("Pas d'envoi au patient : son INS (naissance en Corse, 2A/2B) ne s'écrit pas en 15 chiffres, "
                      "seule forme connue des adresses de messagerie patient. Remettez-lui le document "
                      "autrement.")
NOT_PATIENT_ADDRESS = "Adresse refusée : une messagerie patient ne s'écrit qu'à partir de son INS qualifiée."


@dataclass(frozen=True)
class Recipient:
    address: str
    role: str  # one of ROLES
    name: str = ""  # display name (directory); personal data of professionals only

    @property
    def is_patient(self) -> bool:
        return self.role == "patient"


@dataclass(frozen=True)
class Refusal:
    role: str
    reason: str  # French


@dataclass(frozen=True)
class PatientFacts:
    qualified_matricule: str | None  # 15 characters when the INS is qualified, else None
    invisible_to_patient: bool
    opposed: bool


def valid_address(address: str) -> bool:
    return bool(_ADDRESS.match(address))


def patient_address(matricule: str) -> str:
    """`<15-digit INS>@patient.mssante.fr` (spec §2.4). A Corsican INS (2A/2B) has no documented 15-digit
    form (the 2A→19 / 2B→18 rewriting is the key computation's only, and names other departments), so
    it gets no address: see docs/mss.md."""
    if not re.fullmatch(r"[0-9]{15}", matricule):
        raise ValueError("INS matricule must be 15 digits")
    return f"{matricule}@{PATIENT_DOMAIN}"


def is_patient_address(address: str) -> bool:
    return address.lower().endswith("@" + PATIENT_DOMAIN)


def choose(professionals: Sequence[Recipient], facts: PatientFacts, *, to_patient: bool
           ) -> tuple[list[Recipient], list[Refusal]]:
    """The recipients of one document, deduplicated by address, and the refusals with their reasons.

    A professional list entry that is a patient address is refused (patient mail goes only through
    the qualified-INS rule, never typed by hand).
    """
    chosen: list[Recipient] = []
    refusals: list[Refusal] = []
    seen: set[str] = set()
    for r in professionals:
        key = r.address.lower()
        if is_patient_address(key):
            refusals.append(Refusal(r.role, NOT_PATIENT_ADDRESS))
            continue
        if key not in seen and valid_address(r.address):
            seen.add(key)
            chosen.append(r)
    if to_patient:
        reason = patient_refusal(facts)
        if reason:
            refusals.append(Refusal("patient", reason))
        else:
            assert facts.qualified_matricule is not None
            chosen.append(Recipient(patient_address(facts.qualified_matricule), "patient"))
    return chosen, refusals


def patient_refusal(facts: PatientFacts) -> str | None:
    if facts.qualified_matricule is None:
        return NOT_QUALIFIED
    if facts.invisible_to_patient:
        return INVISIBLE
    if facts.opposed:
        return OPPOSED
    if not re.fullmatch(r"[0-9]{15}", facts.qualified_matricule):
        return NO_PATIENT_MAILBOX  # a refusal with its reason, not a job that fails forever
    return None


def addresses(recipients: Iterable[Recipient]) -> list[str]:
    return [r.address for r in recipients]
