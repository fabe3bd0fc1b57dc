"""Identity statuses, attributes and their transitions (pure), from rniv.md "RNIV / INS rules".

A status is the pair of what has been established about the identity: retrieved from INSi (I)
and checked against a high-trust document (C): PROV = −/−, RECUP = I, VALI = C, QUAL = I + C
[EXI SI 07]. Every transition below adds or removes one of the two components; "downgrade on
doubt" removes them, and the *douteux*/*fictif* attributes force PROV [EXI ID 24/26].

Decisions where rniv.md is silent:
* An INSi answer that is **not consistent** with the local traits is not "INSi OK": it calls for a
  manual decision (rniv.md "any difference → show the differences"). It adds nothing, and it
  removes the INSi component an earlier answer gave (QUAL → VALI, RECUP → PROV): the doubt is on
  the INS, not on the document check.
* Qualification by the **attestation** of a practitioner who knows the patient counts as the
  document check (identito-na FAQ quoted in rniv.md: that practitioner has checked a high-trust
  document at least once), so it goes through `after_document_check` too.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Status(StrEnum):
    """The four exclusive statuses (a `str`, so stored and sent as "PROV"…)."""

    PROV = "PROV"
    RECUP = "RECUP"
    VALI = "VALI"
    QUAL = "QUAL"


DOUTEUX = "douteux"
FICTIF = "fictif"
HOMONYME = "homonyme"
ATTRIBUTES = (DOUTEUX, FICTIF, HOMONYME)
BLOCKING_ATTRIBUTES = frozenset({DOUTEUX, FICTIF})
# rniv.md: "only douteux + homonyme may be combined".
ALLOWED_COMBINATIONS = frozenset({frozenset({DOUTEUX, HOMONYME})})

# The INSi (I) and document (C) components of each status.
_COMPONENTS: dict[Status, tuple[bool, bool]] = {
    Status.PROV: (False, False),
    Status.RECUP: (True, False),
    Status.VALI: (False, True),
    Status.QUAL: (True, True),
}
_BY_COMPONENTS = {v: k for k, v in _COMPONENTS.items()}

# Every allowed change (staying put is always allowed), with the event that causes it.
TRANSITIONS: dict[tuple[Status, Status], str] = {
    (Status.PROV, Status.RECUP): "INSi OK, traits cohérents",
    (Status.PROV, Status.VALI): "document d'identité à haut niveau de confiance",
    (Status.RECUP, Status.QUAL): "document d'identité (ou attestation du praticien)",
    (Status.VALI, Status.QUAL): "INSi OK, traits cohérents",
    (Status.QUAL, Status.VALI): "réponse INSi discordante",
    (Status.RECUP, Status.PROV): "doute ou réponse INSi discordante",
    (Status.VALI, Status.PROV): "doute",
    (Status.QUAL, Status.PROV): "doute",
}


def blocking(attributes: Iterable[str]) -> bool:
    """True when *douteux* or *fictif* is set: the identity is held at PROV."""
    return not BLOCKING_ATTRIBUTES.isdisjoint(attributes)


def attribute_errors(attributes: Iterable[str]) -> list[str]:
    """French messages for unknown attributes or a forbidden combination (empty when valid)."""
    attrs = set(attributes)
    errors = [f"attribut inconnu « {a} » (admis : {', '.join(ATTRIBUTES)})" for a in sorted(attrs - set(ATTRIBUTES))]
    known = frozenset(attrs & set(ATTRIBUTES))
    if len(known) > 1 and known not in ALLOWED_COMBINATIONS:
        errors.append(f"attributs incompatibles : {' + '.join(sorted(known))} ; seuls « douteux » et "
                      "« homonyme » peuvent être combinés")
    return errors


def insi_allowed(status: Status, attributes: Iterable[str]) -> bool:
    """Whether this identity may be sent to INSi: not when *douteux* or *fictif* ("blocks INSi
    calls"). Any status may be sent otherwise (a QUAL identity is re-checked); whether a call is
    *due* is the service's decision."""
    return not blocking(attributes)


def _from(insi: bool, document: bool) -> Status:
    return _BY_COMPONENTS[(insi, document)]


def after_insi_success(status: Status, attributes: Iterable[str], *, consistent: bool) -> Status:
    """The status after INSi answered CR 00 with one identity. Consistent: add I (PROV → RECUP,
    VALI → QUAL). Not consistent: remove I (QUAL → VALI, RECUP → PROV; module doc)."""
    if blocking(attributes):
        return Status.PROV
    _, document = _COMPONENTS[status]
    return _from(consistent, document)


def after_document_check(status: Status, attributes: Iterable[str]) -> Status:
    """The status after a high-trust document check (or the practitioner's attestation): add C
    (PROV → VALI, RECUP → QUAL). *douteux*/*fictif* keep PROV: lifting the doubt is its own act."""
    if blocking(attributes):
        return Status.PROV
    insi, _ = _COMPONENTS[status]
    return _from(insi, True)


def can_transition(before: Status, after: Status, attributes: Iterable[str] = ()) -> bool:
    """Whether `before` → `after` is a move the RNIV allows (see TRANSITIONS); with *douteux* or
    *fictif* set, only PROV is reachable."""
    if blocking(attributes):
        return after is Status.PROV
    return before is after or (before, after) in TRANSITIONS
