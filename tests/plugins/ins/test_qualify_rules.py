from __future__ import annotations

from dataclasses import replace

import pytest

from plugins.ins.models import IDENTITY_DOCUMENTS, Actor, Traits
from plugins.ins.qualify_rules import QualifyDecision, apply_qualification, can_qualify
from plugins.ins.status import DOUTEUX, FICTIF, HOMONYME, Status
from plugins.ins.traits import FieldComparison, compare, normalise_traits, validate_traits

P, R, V, Q = Status.PROV, Status.RECUP, Status.VALI, Status.QUAL
PS = Actor("ps", "Dr Martin", "810001234567", "médecin")
CPE = Actor("cpe_nominative", "Mme Durand", "00B123", "secrétaire")
ANON = Actor("cpe_anonymous", "Accueil")
NOBODY = Actor("unknown", "")

LOCAL = normalise_traits(Traits.from_dict({"birth_name": "Adrtrois", "first_names": "Dominique", "sex": "F",
                                           "birth_date": "1997-02-26", "used_name": "MARTIN"}))
INSI = Traits.from_dict({"birth_name": "ADRTROIS", "first_names": "DOMINIQUE MARIE", "sex": "F",
                         "birth_date": "1997-02-26", "birth_place": "2A020"})
MATCH = compare(LOCAL, INSI)
NAME_DIFF = compare(replace(LOCAL, birth_name="ADRTROI"), INSI)
LIST_DIFF = compare(replace(LOCAL, first_names=("DOMINIQUE", "ANNE")), INSI)
DATE_DIFF = compare(replace(LOCAL, birth_date="1997-02-27", sex="M"), INSI)
PARTIAL = compare(replace(LOCAL, birth_date="1997-00-00"), replace(INSI, birth_date="1997-00-00"))
PARTIAL_AND_NAME = compare(replace(LOCAL, birth_date="1997-00-00", birth_name="ADRDEUX"), INSI)
PASSPORT = "passport"

# What to do next: every refusal names an action (or says there is none to take).
ACTIONS = ("choisissez", "utilisez", "insérez", "qualifiez", "vérifiez", "relancez", "corrigez", "demandez",
           "rien à faire")


@pytest.mark.parametrize(
    ("status", "attributes", "comparison", "actor", "method", "document", "documents", "expected"),
    [
        # allowed
        (R, [], MATCH, PS, "document", PASSPORT, None, None),
        (R, [], MATCH, CPE, "document", "national_id_card", None, None),  # a nominative CPE may, by document
        (V, [], MATCH, PS, "document", "digital_identity", None, None),
        (R, [HOMONYME], MATCH, PS, "document", PASSPORT, None, None),
        (R, [], MATCH, PS, "attestation", None, None, None),
        (V, [], MATCH, PS, "attestation", None, None, None),
        (R, [], MATCH, PS, "document", "ehpad", ["ehpad", PASSPORT], None),  # the configured list rules
        # who acts
        (R, [], MATCH, ANON, "document", PASSPORT, None, "CPE anonyme ne permet pas de qualifier"),
        (R, [], MATCH, ANON, "attestation", None, None, "CPE anonyme"),
        (R, [], MATCH, NOBODY, "document", PASSPORT, None, "Utilisateur non identifié"),
        (R, [], MATCH, Actor("robot", "x"), "document", PASSPORT, None, "Utilisateur non identifié"),
        (R, [], MATCH, CPE, "attestation", None, None, "réservée au praticien lui-même"),
        # method
        (R, [], MATCH, PS, "vitale", None, None, "Méthode de qualification inconnue"),
        # attributes
        (R, [DOUTEUX], MATCH, PS, "document", PASSPORT, None, "Identité douteuse"),
        (R, [DOUTEUX, HOMONYME], MATCH, PS, "attestation", None, None, "Identité douteuse"),
        (P, [FICTIF], MATCH, PS, "document", PASSPORT, None, "Identité fictive"),
        (R, ["bizarre"], MATCH, PS, "document", PASSPORT, None, "Attributs d'identité invalides"),
        # status and INSi
        (Q, [], MATCH, PS, "document", PASSPORT, None, "déjà qualifiée"),
        (R, [], None, PS, "document", PASSPORT, None, "Pas de réponse INSi"),
        (R, [], [], PS, "document", PASSPORT, None, "Pas de réponse INSi"),
        (P, [], None, PS, "document", PASSPORT, None, "Pas de réponse INSi"),
        (P, [], MATCH, PS, "document", PASSPORT, None, "Identité provisoire"),
        # discordances name the fields
        (R, [], NAME_DIFF, PS, "document", PASSPORT, None, "diffèrent du dossier (nom de naissance)"),
        (R, [], NAME_DIFF, PS, "attestation", None, None, "(nom de naissance)"),
        (R, [], LIST_DIFF, PS, "document", PASSPORT, None, "(prénoms de naissance)"),
        (R, [], DATE_DIFF, PS, "document", PASSPORT, None, "(date de naissance, sexe)"),
        (R, [], PARTIAL, PS, "document", PASSPORT, None, "La date de naissance est incomplète"),
        (R, [], PARTIAL_AND_NAME, PS, "document", PASSPORT, None,
         "(nom de naissance) : vérifiez-les avec le patient et son document d'identité, corrigez le dossier dans "
         "le logiciel métier, puis relancez la recherche INSi. La date de naissance est incomplète"),
        (P, [], NAME_DIFF, PS, "document", PASSPORT, None, "(nom de naissance)"),
        # the document
        (R, [], MATCH, PS, "document", None, None, "Choisissez le document d'identité présenté"),
        (R, [], MATCH, CPE, "document", "", None, "aucun n'est présélectionné"),
        (R, [], MATCH, PS, "document", "driving_licence", None, "Permis de conduire : document non accepté"),
        (R, [], MATCH, PS, "document", "driving_licence", ["driving_licence"], "Permis de conduire"),
        (R, [], MATCH, PS, "document", "library_card", None, "« library_card » non accepté"),
        (R, [], MATCH, PS, "document", "residence_permit", [PASSPORT], "« residence_permit » non accepté"),
        # the attestation needs the strict traits (rows missing here: no strict match)
        (R, [], [r for r in MATCH if r.field != "sex"], PS, "attestation", None, None,
         "L'attestation exige"),
    ],
)
def test_can_qualify(status: Status, attributes: list[str], comparison: list[FieldComparison] | None, actor: Actor,
                     method: str, document: str | None, documents: list[str] | None, expected: str | None) -> None:
    decision = can_qualify(status, attributes, comparison, actor, method, document, documents)
    if expected is None:
        assert decision == QualifyDecision(True, None)
        return
    assert not decision.allowed
    assert decision.reason_fr is not None and expected in decision.reason_fr, decision.reason_fr
    assert decision.reason_fr.endswith(".")
    assert any(a in decision.reason_fr.lower() for a in ACTIONS), decision.reason_fr


@pytest.mark.parametrize("code", [code for code, _ in IDENTITY_DOCUMENTS])
def test_every_listed_document_qualifies_by_default(code: str) -> None:
    assert can_qualify(R, [], MATCH, CPE, "document", code, None).allowed


def test_field_report_cases_qualify_in_one_click() -> None:
    local = normalise_traits(Traits.from_dict({"birth_name": "Le Gall", "first_names": "Hervé, Ronan", "sex": "M",
                                               "birth_date": "1980-03-02"}))
    insi = Traits.from_dict({"birth_name": "LE GALL", "first_names": "HERVE RONAN", "sex": "M",
                             "birth_date": "1980-03-02"})
    assert can_qualify(R, [], compare(local, insi), PS, "attestation", None, None).allowed
    guivarch = replace(insi, birth_name="GUIVARCH")
    refused = can_qualify(R, [], compare(replace(local, birth_name="GUIVARC'H"), guivarch), PS, "document",
                          PASSPORT, None)
    assert not refused.allowed and "nom de naissance" in (refused.reason_fr or "")


def test_apply_qualification_replaces_strict_traits_only() -> None:
    qualified = apply_qualification(LOCAL, INSI)
    assert qualified == Traits("ADRTROIS", ("DOMINIQUE", "MARIE"), "F", "1997-02-26", "2A020", "MARTIN", None)
    assert validate_traits(qualified, strict=True) == {}
    assert {r.state for r in compare(qualified, INSI)} == {"equal"}


def test_apply_qualification_never_fills_used_names_and_keeps_a_birth_place_insi_lacks() -> None:
    local = replace(LOCAL, used_name=None, used_first_name=None, birth_place="2A020")
    qualified = apply_qualification(local, replace(INSI, birth_place=None))
    assert (qualified.used_name, qualified.used_first_name) == (None, None)  # [EXI ID 08]
    assert qualified.birth_place == "2A020"
    kept = apply_qualification(replace(LOCAL, used_first_name="DOMI", birth_place="2B020"), INSI)
    assert (kept.used_name, kept.used_first_name, kept.birth_place) == ("MARTIN", "DOMI", "2A020")


def test_a_partial_date_is_explained_not_called_a_difference() -> None:
    # Both sides read 1997-00-00: the row is "different" (manual review), the message says why.
    reason = can_qualify(R, [], PARTIAL, PS, "document", PASSPORT, None).reason_fr or ""
    assert reason.startswith("La date de naissance est incomplète") and "diffèrent" not in reason
