"""`identity.get` / `identity.view` view models, built from identity rows (plugins/ins/view.py).

Rows are built directly; their INSi summaries come from the real `summarise` on the real wire samples,
as the service stores them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from plugins.ins.insi.parser import parse_response
from plugins.ins.insi.types import (
    InsId,
    InsiExchange,
    InsiMalformedResponse,
    InsiResponse,
    InsiTimeout,
    InsiUnavailable,
    SearchOutcome,
)
from plugins.ins.models import ATTESTATION_TEXT, IDENTITY_DOCUMENTS, Actor, Traits
from plugins.ins.outcome import NEXT_STEPS, summarise
from plugins.ins.repository import IdentityRow
from plugins.ins.view import blocking_reason, decide, identity_get, identity_view, insi_traits, source_label

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "insi"
OID = "1.2.250.1.213.1.4.8"

PS = Actor("ps", "Dr Martin", "810001234567", "médecin")
CPE = Actor("cpe_nominative", "Mme Durand", "00B123", "secrétaire")
ANON = Actor("cpe_anonymous", "Accueil")
NOBODY = Actor("unknown", "")

LOCAL: dict[str, Any] = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "birth_date": "1997-02-26",
                         "sex": "F", "birth_place": None, "used_name": None, "used_first_name": None}
TWO_NAMES = {**LOCAL, "first_names": ["DOMINIQUE", "MARIE"]}
QUALIFIED = {**LOCAL, "birth_place": "2A020"}
RETURNED = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "birth_date": "1997-02-26", "sex": "F",
            "birth_place": "2A020"}
INS = {"matricule": "297022A020778", "key": "78", "oid": OID}
SCANNED_OTHER = {"matricule": "160012B02077713", "oid": OID}


def _response(name: str) -> InsiResponse:
    return parse_response((FIXTURES / name).read_bytes())


DOMINIQUE = _response("REP_CR00_ADRTROIS_DOMINIQUE.xml")
BAD_KEY = replace(DOMINIQUE, active=InsId(matricule="297022A020778", key="77", oid=OID, key_valid=False))


def summary(resp: InsiResponse | None, traits: dict[str, Any] = LOCAL, *, error: Any = None,
            expected_ins: dict[str, str] | None = None) -> dict[str, Any]:
    ex = InsiExchange(operation="rechercherInsAvecTraitsIdentite", message_id="uuid:m1", started_at=1.0,
                      duration_ms=1.0, http_status=200, error=None, request_xml="", response_xml="")
    return summarise(SearchOutcome(response=resp, error=error, exchanges=[ex]), Traits.from_dict(traits),
                     expected_ins=expected_ins)


FOUND = summary(DOMINIQUE)
DIFFERENT = summary(DOMINIQUE, TWO_NAMES)
MISMATCH = summary(DOMINIQUE, expected_ins=SCANNED_OTHER)
KEY_INVALID = summary(BAD_KEY)
NOT_FOUND = summary(_response("REP_CR01.xml"))
TIMEOUT = summary(None, error=InsiTimeout())
assert FOUND["consistent"] and not DIFFERENT["consistent"] and MISMATCH["ins_mismatch"]
assert not KEY_INVALID["consistent"] and NOT_FOUND["outcome"] == "not_found" and TIMEOUT["outcome"] == "timeout"


def row(**changes: Any) -> IdentityRow:
    base: dict[str, Any] = {
        "id": "id-1", "local_id": "dossier-42", "source": "lgc", "status": "PROV", "attributes": [],
        "traits": LOCAL, "traits_key": "k", "ins": None, "insi": None, "insi_state": "idle", "created_at": 1.0,
        "updated_at": 2.0, "insi_requested_at": None, "insi_at": None, "qualified_at": None,
    }
    base.update(changes)
    return IdentityRow(**base)


def done(insi: dict[str, Any], status: str, **changes: Any) -> IdentityRow:
    ins = INS if insi["outcome"] == "found" else None
    return row(status=status, insi=insi, insi_state="done", ins=ins, insi_requested_at=10.0, insi_at=11.0,
               **changes)


ROWS: dict[str, IdentityRow] = {
    "idle": row(),
    "pending": row(insi_state="pending", insi_requested_at=10.0),
    # INSi did not answer: the outbox tries again (the last summary stays while the state is pending)
    "retrying": row(insi_state="pending", insi=TIMEOUT, insi_requested_at=10.0, insi_at=11.0),
    # answered, then the record changed: asked again
    "pending_again": row(status="RECUP", insi_state="pending", insi=FOUND, ins=INS, traits=TWO_NAMES,
                         insi_requested_at=20.0, insi_at=11.0),
    "found": done(FOUND, "RECUP"),
    "different": done(DIFFERENT, "PROV", traits=TWO_NAMES),
    "mismatch": done(MISMATCH, "PROV", source="datamatrix:serial", expected_ins=SCANNED_OTHER),
    "mismatch_vali": done(MISMATCH, "VALI", source="datamatrix:serial", expected_ins=SCANNED_OTHER),
    "key_invalid": done(KEY_INVALID, "PROV"),
    "not_found": done(NOT_FOUND, "PROV"),
    "timeout": done(TIMEOUT, "PROV"),  # the last attempt: final
    "qual": done(FOUND, "QUAL", traits=QUALIFIED, qualified_at=12.0),
    "douteux": done(FOUND, "PROV", attributes=["douteux"]),
}

NO_INSI = ("Pas de réponse INSi pour ce patient : la qualification attend l'identité INS. La recherche INSi se fait "
           "automatiquement ; si elle échoue, vérifiez les traits sur un document d'identité, corrigez le dossier "
           "puis relancez-la.")
PENDING = "Interrogation d'INSi en cours : attendez sa réponse pour qualifier."
ANONYMOUS = ("Une carte CPE anonyme ne permet pas de qualifier une identité : utilisez une carte CPE nominative ou "
             "demandez au praticien.")
UNIDENTIFIED = "Utilisateur non identifié : insérez votre carte CPS ou CPE nominative, puis recommencez."
DELEGATED = ("L'attestation est réservée au praticien lui-même (carte CPS) et ne se délègue pas : qualifiez avec le "
             "document d'identité présenté par le patient.")
ALREADY = "Identité déjà qualifiée : rien à faire."
NAMES_DIFFER = ("Les traits INSi diffèrent du dossier (prénoms de naissance) : vérifiez-les avec le patient et son "
                "document d'identité, corrigez le dossier dans le logiciel métier, puis relancez la recherche INSi.")
MISMATCH_REASON = NEXT_STEPS["ins_mismatch"]
KEY_REASON = ("La clé du matricule INS renvoyé par INSi ne se vérifie pas : qualification impossible, prévenez le "
              "support.")
DOUBT = ("Identité douteuse : vérifiez-la avec le patient et un document d'identité, corrigez le dossier et levez le "
         "doute dans le logiciel métier, puis relancez la recherche INSi.")
PROVISIONAL = ("Identité provisoire : elle doit d'abord être retrouvée par INSi ; relancez la recherche INSi, puis "
               "qualifiez.")
OK = (True, None)


def no(reason: str) -> tuple[bool, str]:
    return False, reason


@pytest.mark.parametrize(
    ("state", "actor", "by_document", "by_attestation"),
    [
        ("idle", PS, no(NO_INSI), no(NO_INSI)),
        ("idle", CPE, no(NO_INSI), no(DELEGATED)),
        ("idle", ANON, no(ANONYMOUS), no(ANONYMOUS)),
        ("idle", NOBODY, no(UNIDENTIFIED), no(UNIDENTIFIED)),
        ("pending", PS, no(PENDING), no(PENDING)),
        ("pending", CPE, no(PENDING), no(DELEGATED)),
        ("pending", ANON, no(ANONYMOUS), no(ANONYMOUS)),
        ("retrying", PS, no(PENDING), no(PENDING)),
        ("pending_again", PS, no(PENDING), no(PENDING)),  # not "traits differ": the new answer is coming
        ("found", PS, OK, OK),
        ("found", CPE, OK, no(DELEGATED)),  # a nominative CPE qualifies by document only
        ("found", ANON, no(ANONYMOUS), no(ANONYMOUS)),
        ("found", NOBODY, no(UNIDENTIFIED), no(UNIDENTIFIED)),
        ("different", PS, no(NAMES_DIFFER), no(NAMES_DIFFER)),
        ("different", CPE, no(NAMES_DIFFER), no(DELEGATED)),
        ("different", ANON, no(ANONYMOUS), no(ANONYMOUS)),
        # the scanned INS is not INSi's: say so, never "run INSi again" (PROV) nor allow it (VALI)
        ("mismatch", PS, no(MISMATCH_REASON), no(MISMATCH_REASON)),
        ("mismatch", CPE, no(MISMATCH_REASON), no(DELEGATED)),
        ("mismatch", ANON, no(ANONYMOUS), no(ANONYMOUS)),
        ("mismatch_vali", PS, no(MISMATCH_REASON), no(MISMATCH_REASON)),
        ("key_invalid", PS, no(KEY_REASON), no(KEY_REASON)),
        ("key_invalid", NOBODY, no(UNIDENTIFIED), no(UNIDENTIFIED)),
        ("not_found", PS, no(NO_INSI), no(NO_INSI)),
        ("timeout", PS, no(NO_INSI), no(NO_INSI)),
        ("qual", PS, no(ALREADY), no(ALREADY)),
        ("qual", CPE, no(ALREADY), no(DELEGATED)),
        ("qual", ANON, no(ANONYMOUS), no(ANONYMOUS)),
        ("douteux", PS, no(DOUBT), no(DOUBT)),
    ],
)
def test_actions_per_state_and_actor(state: str, actor: Actor, by_document: tuple[bool, str | None],
                                     by_attestation: tuple[bool, str | None]) -> None:
    r = ROWS[state]
    view = identity_view(r, actor, None)
    actions = view["actions"]
    assert (actions["qualify_document"]["allowed"], actions["qualify_document"]["reason"]) == by_document
    assert (actions["qualify_attestation"]["allowed"], actions["qualify_attestation"]["reason"]) == by_attestation
    assert actions["postpone"] == {"allowed": True, "reason": None}
    assert identity_get(r, actor, None)["can_qualify"] == {"by_document": by_document[0],
                                                           "by_attestation": by_attestation[0]}
    # identity.qualify refuses with the reason the panel shows (service.py calls `decide` too)
    decision = decide(r, actor, "attestation", None, None)
    assert (decision.allowed, decision.reason_fr) == by_attestation
    decision = decide(r, actor, "document", "passport", None)
    assert (decision.allowed, decision.reason_fr) == by_document


def test_decide_refuses_a_document_outside_the_configured_list() -> None:
    decision = decide(ROWS["found"], PS, "document", "residence_permit", ["passport"])
    assert decision.allowed is False
    assert decision.reason_fr == ("Document « residence_permit » non accepté ici : choisissez un document de la "
                                  "liste.")
    decision = decide(ROWS["found"], PS, "document", None, None)
    assert decision.reason_fr == ("Choisissez le document d'identité présenté par le patient (aucun n'est "
                                  "présélectionné), puis confirmez.")


# -- identity.get ------------------------------------------------------------------------------------


def test_identity_get_found() -> None:
    assert identity_get(ROWS["found"], PS, None) == {
        "identity_id": "id-1", "local_id": "dossier-42", "status": "RECUP", "attributes": [], "traits": LOCAL,
        "can_qualify": {"by_document": True, "by_attestation": True},
        "ins": {"matricule": "297022A02077878", "oid": OID},
        "insi": {"outcome": "found", "code": "00", "returned_traits": RETURNED, "at": FOUND["at"],
                 "message": NEXT_STEPS["found"],
                 "differences": [{"field": "birth_place", "local": None, "insi": "2A020",
                                  "state": "equal_except_case_accents"}]},
    }


def test_identity_get_idle_has_no_ins_nor_insi() -> None:
    assert identity_get(ROWS["idle"], PS, None) == {
        "identity_id": "id-1", "local_id": "dossier-42", "status": "PROV", "attributes": [], "traits": LOCAL,
        "can_qualify": {"by_document": False, "by_attestation": False},
    }


def test_identity_get_not_found() -> None:
    got = identity_get(ROWS["not_found"], PS, None)
    assert "ins" not in got
    assert got["insi"] == {"outcome": "not_found", "code": "01", "returned_traits": None, "at": NOT_FOUND["at"],
                           "message": NEXT_STEPS["not_found"], "differences": []}


def test_identity_get_different() -> None:
    got = identity_get(ROWS["different"], PS, None)
    assert got["insi"]["message"] == NEXT_STEPS["found_different"]
    assert got["insi"]["differences"] == [
        {"field": "first_names", "local": "DOMINIQUE MARIE", "insi": "DOMINIQUE", "state": "different"},
        {"field": "birth_place", "local": None, "insi": "2A020", "state": "equal_except_case_accents"},
    ]


def test_differences_are_computed_from_the_current_local_traits() -> None:
    # INSi answered on DOMINIQUE MARIE; the record was corrected since (and has the COG): nothing differs now.
    r = done(DIFFERENT, "PROV", traits=QUALIFIED)
    assert DIFFERENT["differences"] != []
    got = identity_get(r, PS, None)
    assert got["insi"]["differences"] == []
    view = identity_view(r, PS, None)
    assert {f["state"] for f in view["fields"]} == {"equal"}
    assert view["columns"]["local"] == QUALIFIED
    # Still PROV (INSi's answer was discordant when it came): run INSi again, then qualify.
    assert view["actions"]["qualify_document"] == {"allowed": False, "reason": PROVISIONAL}

    # And the other way: consistent when INSi answered, different now.
    r = done(FOUND, "RECUP", traits={**LOCAL, "sex": "M"})
    assert [d["field"] for d in identity_get(r, PS, None)["insi"]["differences"]] == ["sex", "birth_place"]
    assert identity_get(r, PS, None)["can_qualify"] == {"by_document": False, "by_attestation": False}


# -- identity.view ------------------------------------------------------------------------------------


def test_identity_view_found_is_the_whole_panel() -> None:
    labels = [label for _, label in IDENTITY_DOCUMENTS]
    assert identity_view(ROWS["found"], PS, None) == {
        "identity_id": "id-1",
        "status": "RECUP",
        "status_label": "Identité récupérée (INSi)",
        "attributes": [],
        "source": "lgc",
        "ins": {"matricule": "297022A02077878", "oid": OID},
        "columns": {"local": LOCAL, "insi": {**RETURNED, "used_name": None, "used_first_name": None}},
        "column_labels": {"local": "Dossier du logiciel", "insi": "Téléservice INSi"},
        "expected_ins": None,
        "history": [],
        "fields": [
            {"field": "birth_name", "local": "ADRTROIS", "insi": "ADRTROIS", "state": "equal",
             "label": "nom de naissance", "state_label": "identique"},
            {"field": "first_name", "local": "DOMINIQUE", "insi": "DOMINIQUE", "state": "equal",
             "label": "premier prénom de naissance", "state_label": "identique"},
            {"field": "first_names", "local": "DOMINIQUE", "insi": "DOMINIQUE", "state": "equal",
             "label": "prénoms de naissance", "state_label": "identique"},
            {"field": "birth_date", "local": "1997-02-26", "insi": "1997-02-26", "state": "equal",
             "label": "date de naissance", "state_label": "identique"},
            {"field": "sex", "local": "F", "insi": "F", "state": "equal", "label": "sexe", "state_label": "identique"},
            {"field": "birth_place", "local": None, "insi": "2A020", "state": "equal_except_case_accents",
             "label": "lieu de naissance", "state_label": "non renseigné dans le dossier (l'INSi le complète)"},
        ],
        "rows": [
            {"field": "birth_name", "label": "nom de naissance", "state": "equal", "state_label": "identique",
             "local": "ADRTROIS", "insi": "ADRTROIS"},
            {"field": "first_name", "label": "premier prénom de naissance", "state": "equal",
             "state_label": "identique", "local": "DOMINIQUE", "insi": "DOMINIQUE"},
            {"field": "first_names", "label": "prénoms de naissance", "state": "equal", "state_label": "identique",
             "local": "DOMINIQUE", "insi": "DOMINIQUE"},
            {"field": "birth_date", "label": "date de naissance", "state": "equal", "state_label": "identique",
             "local": "26/02/1997", "insi": "26/02/1997"},  # JJ/MM/AAAA
            {"field": "sex", "label": "sexe", "state": "equal", "state_label": "identique", "local": "Féminin",
             "insi": "Féminin"},
            {"field": "birth_place", "label": "lieu de naissance", "state": "equal_except_case_accents",
             "state_label": "non renseigné dans le dossier (l'INSi le complète)", "local": None,
             "insi": "Commune inconnue de la table COG (2A020)"},  # the test book's COG is not a real commune
        ],
        "insi": {"state": "done", "outcome": "found", "code": "00", "at": FOUND["at"], "ins_mismatch": False},
        "message": NEXT_STEPS["found"],
        "panel_message": NEXT_STEPS["found"],
        "notices": {"qualify_document": None, "qualify_attestation": None},
        "actions": {"qualify_document": {"allowed": True, "reason": None},
                    "qualify_attestation": {"allowed": True, "reason": None},
                    "postpone": {"allowed": True, "reason": None},
                    "relaunch": {"allowed": False, "reason": None, "label": "Relancer la recherche INSi"}},
        # What qualifying writes into the record, shown before the click.
        "changes": [{"field": "birth_place", "label": "lieu de naissance", "before": None,
                     "after": "Commune inconnue de la table COG (2A020)"}],
        "qualified": None,
        "former_ins": [],
        "documents": [{"code": code, "label": label} for (code, _), label in zip(IDENTITY_DOCUMENTS, labels,
                                                                                 strict=True)],
        "document_default": None,
        "attestation_text": ATTESTATION_TEXT,
        "confirm_label": "Je confirme l'identitovigilance",
        "actor": {"kind": "ps", "name": "Dr Martin"},
    }
    assert ATTESTATION_TEXT == ("J'atteste déjà connaître l'identité de cette personne et sa correspondance aux "
                                "traits d'identité INSi. Cela me permet de partager ses données en toute sécurité")


@pytest.mark.parametrize(
    ("state", "insi", "message"),
    [
        ("idle", {"state": "idle", "outcome": None, "code": None, "at": None, "ins_mismatch": False},
         "INSi n'a pas encore été interrogé pour ce patient."),
        ("pending", {"state": "pending", "outcome": "pending", "code": None, "at": None, "ins_mismatch": False},
         "Interrogation d'INSi en cours…"),
        # Waiting for the outbox's next attempt: the panel says why (not "in progress").
        ("retrying", {"state": "pending", "outcome": "timeout", "code": None, "at": TIMEOUT["at"],
                      "ins_mismatch": False}, NEXT_STEPS["timeout"]),
        ("pending_again", {"state": "pending", "outcome": "pending", "code": "00", "at": FOUND["at"],
                           "ins_mismatch": False}, "Interrogation d'INSi en cours…"),
        ("different", {"state": "done", "outcome": "found", "code": "00", "at": DIFFERENT["at"],
                       "ins_mismatch": False}, NEXT_STEPS["found_different"]),
        ("mismatch", {"state": "done", "outcome": "found", "code": "00", "at": MISMATCH["at"],
                      "ins_mismatch": True}, NEXT_STEPS["ins_mismatch"]),
        ("key_invalid", {"state": "done", "outcome": "found", "code": "00", "at": KEY_INVALID["at"],
                         "ins_mismatch": False},
         NEXT_STEPS["found"] + " Attention : la clé du matricule renvoyé ne se vérifie pas ; signalez-le au support."),
        ("not_found", {"state": "done", "outcome": "not_found", "code": "01", "at": NOT_FOUND["at"],
                       "ins_mismatch": False}, NEXT_STEPS["not_found"]),
        ("timeout", {"state": "done", "outcome": "timeout", "code": None, "at": TIMEOUT["at"],
                     "ins_mismatch": False}, NEXT_STEPS["timeout"]),
        ("qual", {"state": "done", "outcome": "found", "code": "00", "at": FOUND["at"], "ins_mismatch": False},
         NEXT_STEPS["found"]),
    ],
)
def test_identity_view_insi_state_and_message(state: str, insi: dict[str, Any], message: str) -> None:
    view = identity_view(ROWS[state], PS, None)
    assert view["insi"] == insi
    assert view["message"] == message


@pytest.mark.parametrize(
    ("state", "insi_column", "fields"),
    [
        ("idle", None, []),
        ("pending", None, []),
        ("not_found", None, []),
        ("timeout", None, []),
        # the previous answer is still shown while the new one is awaited, compared with the current record
        ("pending_again", {**RETURNED, "used_name": None, "used_first_name": None},
         ["equal", "equal", "different", "equal", "equal", "equal_except_case_accents"]),
        ("different", {**RETURNED, "used_name": None, "used_first_name": None},
         ["equal", "equal", "different", "equal", "equal", "equal_except_case_accents"]),
        ("qual", {**RETURNED, "used_name": None, "used_first_name": None}, ["equal"] * 6),
    ],
)
def test_identity_view_columns_and_fields(state: str, insi_column: dict[str, Any] | None,
                                          fields: list[str]) -> None:
    view = identity_view(ROWS[state], PS, None)
    assert view["columns"] == {"local": ROWS[state].traits, "insi": insi_column}
    assert [f["state"] for f in view["fields"]] == fields


def test_identity_view_mismatch_shows_both_ins() -> None:
    view = identity_view(ROWS["mismatch"], PS, None)
    assert view["ins"] == {"matricule": "297022A02077878", "oid": OID}
    assert view["expected_ins"] == SCANNED_OTHER
    assert view["column_labels"]["local"] == "Datamatrix INS scanné"


def test_identity_view_history() -> None:
    histo = InsId(matricule="160012B020777", key="13", oid=OID, key_valid=True)
    r = done(summary(replace(DOMINIQUE, history=[histo])), "RECUP")
    assert identity_view(r, PS, None)["history"] == [{"matricule": "160012B02077713", "oid": OID,
                                                      "key_valid": True, "type": None, "start_date": None,
                                                      "end_date": None, "interval_valid": True, "trusted": True}]
    assert identity_view(ROWS["not_found"], PS, None)["history"] == []
    assert identity_view(ROWS["idle"], PS, None)["history"] == []


@pytest.mark.parametrize(
    ("source", "label"),
    [
        ("lgc", "Dossier du logiciel"),
        ("vitale", "Carte Vitale"),
        ("batch", "Dossier du logiciel (lot)"),
        ("datamatrix:serial", "Datamatrix INS scanné"),
        ("datamatrix:lgc", "Datamatrix INS scanné"),
        ("datamatrix:hid", "Datamatrix INS scanné"),
        ("elsewhere", "elsewhere"),  # shown as is rather than hidden
    ],
)
def test_column_labels_per_source(source: str, label: str) -> None:
    assert source_label(source) == label
    view = identity_view(row(source=source), PS, None)
    assert view["column_labels"] == {"local": label, "insi": "Téléservice INSi"}
    assert view["source"] == source


@pytest.mark.parametrize(
    ("documents", "codes", "by_document"),
    [
        (None, [code for code, _ in IDENTITY_DOCUMENTS], OK),
        (["passport"], ["passport"], OK),
        # the panel keeps the reference order whatever the configured order
        (["digital_identity", "national_id_card", "passport"], ["passport", "national_id_card", "digital_identity"],
         OK),
        (["driving_licence"], [],
         no("Permis de conduire : document non accepté pour l'identitovigilance ; choisissez un document de la "
            "liste.")),
        (["driving_licence", "residence_permit"], ["residence_permit"],
         no("Permis de conduire : document non accepté pour l'identitovigilance ; choisissez un document de la "
            "liste.")),
    ],
)
def test_documents_follow_the_configured_subset(documents: list[str] | None, codes: list[str],
                                                by_document: tuple[bool, str | None]) -> None:
    view = identity_view(ROWS["found"], PS, documents)
    labels = dict(IDENTITY_DOCUMENTS)
    assert view["documents"] == [{"code": c, "label": labels[c]} for c in codes]
    assert view["document_default"] is None
    action = view["actions"]["qualify_document"]
    assert (action["allowed"], action["reason"]) == by_document
    assert view["actions"]["qualify_attestation"] == {"allowed": True, "reason": None}  # no document involved


@pytest.mark.parametrize("actor", [PS, CPE, ANON, NOBODY])
def test_identity_view_actor_and_no_default_document(actor: Actor) -> None:
    for r in ROWS.values():
        view = identity_view(r, actor, None)
        assert view["actor"] == {"kind": actor.kind, "name": actor.name}
        assert view["document_default"] is None
        assert len(view["documents"]) == len(IDENTITY_DOCUMENTS)
        for action in ("qualify_document", "qualify_attestation"):
            decision = view["actions"][action]
            # allowed ⇔ no reason; every refusal is a French sentence
            assert (decision["reason"] is None) is decision["allowed"]


# -- helpers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("idle", None), ("found", None), ("different", None), ("not_found", None), ("timeout", None),
        ("qual", None), ("pending", PENDING), ("retrying", PENDING), ("pending_again", PENDING),
        ("mismatch", MISMATCH_REASON), ("mismatch_vali", MISMATCH_REASON), ("key_invalid", KEY_REASON),
    ],
)
def test_blocking_reason(state: str, reason: str | None) -> None:
    assert blocking_reason(ROWS[state]) == reason


def test_blocking_reason_pending_comes_first() -> None:
    assert blocking_reason(replace(ROWS["mismatch"], insi_state="pending")) == PENDING


def test_insi_traits_only_for_a_found_answer() -> None:
    assert insi_traits(ROWS["found"]) == Traits.from_dict(RETURNED)
    for state in ("idle", "pending", "retrying", "not_found", "timeout"):
        assert insi_traits(ROWS[state]) is None


def test_identity_view_state_and_status_labels_cover_every_value() -> None:
    from plugins.ins.status import Status
    from plugins.ins.traits import STATES
    from plugins.ins.view import STATE_LABELS, STATUS_LABELS

    assert set(STATE_LABELS) == set(STATES)
    assert set(STATUS_LABELS) == {s.value for s in Status}
    view = identity_view(ROWS["different"], PS, None)
    assert [(f["state"], f["state_label"]) for f in view["fields"]][2] == ("different", "différent")
    assert view["fields"][5]["state_label"] == "non renseigné dans le dossier (l'INSi le complète)"  # no local COG
    assert identity_view(ROWS["qual"], PS, None)["status_label"] == "Identité qualifiée"


def _fault(name: str) -> Any:
    try:
        parse_response((FIXTURES / name).read_bytes())
    except Exception as exc:  # the parser raises the typed fault of a SOAP fault message
        return exc
    raise AssertionError(f"{name} did not raise")


@pytest.mark.parametrize(
    ("name", "make", "status", "outcome"),
    [
        ("several", lambda: summary(_response("REP_CR02_DE_VINCI_LEONARDO.xml")), "PROV", "several"),
        ("not_found", lambda: summary(_response("REP_CR01.xml")), "PROV", "not_found"),
        ("unavailable", lambda: summary(None, error=InsiUnavailable(status=503)), "PROV", "unavailable"),
        ("malformed", lambda: summary(None, error=InsiMalformedResponse()), "PROV", "malformed"),
        ("timeout", lambda: summary(None, error=InsiTimeout()), "PROV", "timeout"),
        ("fault", lambda: summary(None, error=_fault("FAULT_siram_100_desir_550_unknown_IDAM.xml")), "PROV",
         "fault"),
    ],
)
def test_identity_view_every_service_outcome_blocks_and_says_what_next(name: str, make: Any, status: str,
                                                                       outcome: str) -> None:
    """What every renderer shows for each INSi outcome (popup and web component display it as is)."""
    insi = make()
    assert insi["outcome"] == outcome
    view = identity_view(done(insi, status), PS, None)
    assert view["insi"]["outcome"] == outcome and view["insi"]["state"] == "done"
    assert view["message"] and view["message"] == insi["message"]
    if outcome != "fault":
        assert view["message"] == NEXT_STEPS[outcome]
    assert view["columns"]["insi"] is None and view["fields"] == []
    for action in ("qualify_document", "qualify_attestation"):
        assert view["actions"][action]["allowed"] is False and view["actions"][action]["reason"]
    assert view["actions"]["postpone"]["allowed"] is True


@pytest.mark.parametrize(("local", "insi", "label"), [
    (None, "2A020", "non renseigné dans le dossier (l'INSi le complète)"),
    ("2A020", None, "non renseigné par l'INSi"),
    ("2a020", "2A020", "identique à la casse et aux accents près"),
    ("2A020", "2A020", "identique"),
    ("75056", "2A020", "différent"),
])
def test_view_state_label_says_when_one_side_does_not_know_the_value(local: str | None, insi: str | None,
                                                                     label: str) -> None:
    from plugins.ins.traits import _compare_place
    from plugins.ins.view import state_label
    assert state_label(_compare_place(local, insi)) == label


@pytest.mark.parametrize(("local", "insi", "label"), [
    ("CATARINA", "CATARINA BELLA", "compatible : l'INSi connaît d'autres prénoms"),
    ("Jean-Philippe", "JEAN PHILIPPE", "identique à la casse et aux accents près"),
    ("HERVE RONAN", "HERVE RONAN", "identique"),
])
def test_view_state_label_first_names_shorter_local_list(local: str, insi: str, label: str) -> None:
    from plugins.ins.traits import FieldComparison
    from plugins.ins.view import state_label
    state = "equal" if local == insi else "equal_except_case_accents"
    assert state_label(FieldComparison("first_names", local, insi, state)) == label

