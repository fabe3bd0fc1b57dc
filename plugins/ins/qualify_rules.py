"""Who may qualify an identity, how, and what qualification writes (pure).

mission.md "One-click qualification" and rniv.md: qualification needs an identity found by INSi
whose traits agree with the record, and either a high-trust identity document picked from the
configured list (no default) or, for the practitioner alone, the "known patient" attestation when
birth name, first birth first name, birth date and sex match. A nominative CPE may qualify with a
document; an anonymous CPE may not qualify at all. Every refusal says what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugins.ins.models import FIELD_LABELS, IDENTITY_DOCUMENTS, REFUSED_DOCUMENTS, Actor, Traits
from plugins.ins.status import DOUTEUX, FICTIF, Status, attribute_errors
from plugins.ins.traits import (
    DIFFERENT,
    FieldComparison,
    is_partial_date,
    normalise_traits,
    strict_match,
)

METHODS = ("document", "attestation")
QUALIFYING_ACTORS = ("ps", "cpe_nominative")


@dataclass(frozen=True)
class QualifyDecision:
    allowed: bool
    reason_fr: str | None = None


ALLOWED = QualifyDecision(True, None)


def _refuse(reason: str) -> QualifyDecision:
    return QualifyDecision(False, reason)


def _actor_refusal(actor: Actor, method: str) -> QualifyDecision | None:
    if actor.kind == "cpe_anonymous":
        return _refuse("Une carte CPE anonyme ne permet pas de qualifier une identité : utilisez une carte CPE "
                       "nominative ou demandez au praticien.")
    if actor.kind not in QUALIFYING_ACTORS:
        return _refuse("Utilisateur non identifié : insérez votre carte CPS ou CPE nominative, puis recommencez.")
    if method == "attestation" and actor.kind != "ps":
        return _refuse("L'attestation est réservée au praticien lui-même (carte CPS) et ne se délègue pas : "
                       "qualifiez avec le document d'identité présenté par le patient.")
    return None


def _attribute_refusal(attributes: list[str]) -> QualifyDecision | None:
    if FICTIF in attributes:
        return _refuse("Identité fictive : elle ne peut pas être qualifiée ; utilisez le dossier portant la "
                       "véritable identité du patient.")
    if DOUTEUX in attributes:
        return _refuse("Identité douteuse : vérifiez-la avec le patient et un document d'identité, corrigez le "
                       "dossier et levez le doute dans le logiciel métier, puis relancez la recherche INSi.")
    errors = attribute_errors(attributes)
    if errors:
        return _refuse(f"Attributs d'identité invalides ({' ; '.join(errors)}) : corrigez-les dans le logiciel "
                       "métier, puis recommencez.")
    return None


def _partial_date(c: FieldComparison) -> bool:
    return c.field == "birth_date" and (is_partial_date(c.local or "") or is_partial_date(c.insi or ""))


PARTIAL_DATE_FR = ("La date de naissance est incomplète (jour ou mois inconnu) : la qualification en un clic n'est "
                   "pas possible ; vérifiez la date sur le document d'identité et qualifiez l'identité dans le "
                   "logiciel métier.")


def _difference_refusal(comparison: list[FieldComparison]) -> QualifyDecision | None:
    """Any "different" row refuses. A partial date compares as "different" even when both sides
    read the same (rniv.md: manual review), so it gets its own explanation."""
    rows = [c for c in comparison if c.state == DIFFERENT]
    partial = any(_partial_date(c) for c in rows)
    fields = [c.field for c in rows if not _partial_date(c)]
    if not fields:
        return _refuse(PARTIAL_DATE_FR) if partial else None
    labels = ", ".join(FIELD_LABELS.get(f, f) for f in fields)
    reason = (f"Les traits INSi diffèrent du dossier ({labels}) : vérifiez-les avec le patient et son document "
              "d'identité, corrigez le dossier dans le logiciel métier, puis relancez la recherche INSi.")
    return _refuse(f"{reason} {PARTIAL_DATE_FR}" if partial else reason)


def _document_refusal(document_type: str | None, documents: list[str] | None) -> QualifyDecision | None:
    if not document_type:
        return _refuse("Choisissez le document d'identité présenté par le patient (aucun n'est présélectionné), "
                       "puis confirmez.")
    if document_type in REFUSED_DOCUMENTS:
        return _refuse(f"{REFUSED_DOCUMENTS[document_type]} : document non accepté pour l'identitovigilance ; "
                       "choisissez un document de la liste.")
    allowed = documents if documents is not None else [code for code, _ in IDENTITY_DOCUMENTS]
    if document_type not in allowed:
        return _refuse(f"Document « {document_type} » non accepté ici : choisissez un document de la liste.")
    return None


def precondition_refusal(status: Status, attributes: list[str], actor: Actor, method: str) -> QualifyDecision | None:
    """The refusals that come before anything INSi said: the method, who acts, the identity's
    attributes, an identity already qualified. None when none applies."""
    if method not in METHODS:
        return _refuse("Méthode de qualification inconnue : choisissez le document d'identité vérifié ou "
                       "l'attestation du praticien.")
    refusal = _actor_refusal(actor, method) or _attribute_refusal(attributes)
    if refusal:
        return refusal
    if status is Status.QUAL:
        return _refuse("Identité déjà qualifiée : rien à faire.")
    return None


def can_qualify(status: Status, attributes: list[str], comparison: list[FieldComparison] | None, actor: Actor,
                method: str, document_type: str | None, documents: list[str] | None) -> QualifyDecision:
    """Whether `actor` may qualify now with `method`; the first refusal found, in the order that
    gives the most useful advice (who acts, the identity's attributes and status, INSi, the traits,
    then the method's own conditions). `documents` is the configured list (None: all of
    IDENTITY_DOCUMENTS); a driving licence is refused even if configured (rniv.md)."""
    refusal = precondition_refusal(status, attributes, actor, method)
    if refusal:
        return refusal
    if not comparison:
        return _refuse("Pas de réponse INSi pour ce patient : la qualification attend l'identité INS. La recherche "
                       "INSi se fait automatiquement ; si elle échoue, vérifiez les traits sur un document "
                       "d'identité, corrigez le dossier puis relancez-la.")
    refusal = _difference_refusal(comparison)
    if refusal:
        return refusal
    if status not in (Status.RECUP, Status.VALI):
        return _refuse("Identité provisoire : elle doit d'abord être retrouvée par INSi ; relancez la recherche "
                       "INSi, puis qualifiez.")
    if method == "document":
        return _document_refusal(document_type, documents) or ALLOWED
    if not strict_match(comparison):
        return _refuse("L'attestation exige que le nom de naissance, le premier prénom de naissance, la date de "
                       "naissance et le sexe correspondent à INSi : qualifiez avec un document d'identité.")
    return ALLOWED


def apply_qualification(local: Traits, insi: Traits) -> Traits:
    """The record after qualification: the INS traits replace the local strict traits (rniv.md);
    the used name and first name stay as they were [EXI ID 08]. When INSi gave no birth place the
    local one is kept: there is nothing to replace it with, and it was compared as consistent."""
    ins = normalise_traits(insi)
    return Traits(
        birth_name=ins.birth_name,
        first_names=ins.first_names,
        sex=ins.sex,
        birth_date=ins.birth_date,
        birth_place=ins.birth_place or local.birth_place,
        used_name=local.used_name,
        used_first_name=local.used_first_name,
    )

