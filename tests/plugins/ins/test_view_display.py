"""What the renderers show, from `identity.view` (issue 19 items 1, 2, 10, 11): French rows with readable
values, one message per state, the relaunch action, what qualification changes, the qualified identity and
the former INS. Pure: rows built like the INS service builds them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from plugins.ins.insi.types import InsId
from plugins.ins.outcome import NEXT_STEPS
from plugins.ins.view import identity_view
from tests.plugins.ins.test_view import (
    ANON,
    CPE,
    DELEGATED,
    DOMINIQUE,
    OID,
    PENDING,
    PS,
    ROWS,
    done,
    row,
    summary,
)
from tests.ui_support import english_words


@pytest.mark.parametrize("state", sorted(ROWS))
def test_view_rows_are_french_and_readable(state: str) -> None:
    view = identity_view(ROWS[state], PS, None)
    assert view["rows"], state
    for r in view["rows"]:
        shown = " ".join(str(r[k] or "") for k in ("label", "local", "insi", "state_label"))
        assert not english_words(shown), (state, r)
    labels = [r["label"] for r in view["rows"]]
    assert "nom de naissance" in labels and "sexe" in labels
    sex = next(r for r in view["rows"] if r["field"] == "sex")
    assert sex["local"] in ("Féminin", "Masculin")
    date = next(r for r in view["rows"] if r["field"] == "birth_date")
    assert date["local"] is not None and date["local"][2] == "/" and date["local"][5] == "/"


def test_view_local_rows_without_insi_answer() -> None:
    lunar = row(traits={"birth_name": "LUNAIRE", "first_names": ["AHMED"], "sex": "M", "birth_date": "1975-00-00",
                        "birth_place": "2A004", "used_name": None, "used_first_name": None})
    view = identity_view(lunar, PS, None)
    assert [(r["label"], r["local"], r["insi"]) for r in view["rows"]] == [
        ("nom de naissance", "LUNAIRE", None), ("prénoms de naissance", "AHMED", None),
        ("date de naissance", "00/00/1975 (date lunaire : jour et mois inconnus)", None),
        ("sexe", "Masculin", None), ("lieu de naissance", "Ajaccio (2A004)", None)]


@pytest.mark.parametrize(("state", "actor", "message", "doc_notice", "att_notice"), [
    # No INSi answer: the state says what to do; no "Pas de réponse INSi" twice under the buttons.
    ("not_found", PS, NEXT_STEPS["not_found"], None, None),
    ("idle", PS, NEXT_STEPS["idle"], None, None),
    ("pending", PS, NEXT_STEPS["pending"], None, None),
    # A reason particular to one button stays under it.
    ("idle", CPE, NEXT_STEPS["idle"], None, DELEGATED),
    ("found", CPE, NEXT_STEPS["found"], None, DELEGATED),
])
def test_view_one_message_per_state(state: str, actor: object, message: str, doc_notice: str | None,
                                    att_notice: str | None) -> None:
    view = identity_view(ROWS[state], actor, None)  # type: ignore[arg-type]
    assert view["panel_message"] == message
    assert view["notices"] == {"qualify_document": doc_notice, "qualify_attestation": att_notice}
    assert PENDING not in (view["notices"]["qualify_document"], view["notices"]["qualify_attestation"])


def test_view_both_refused_for_one_reason_is_said_once_at_the_top() -> None:
    view = identity_view(ROWS["found"], ANON, None)
    reason = view["actions"]["qualify_document"]["reason"]
    assert reason and reason == view["actions"]["qualify_attestation"]["reason"]
    assert view["panel_message"] == reason
    assert view["notices"] == {"qualify_document": None, "qualify_attestation": None}
    assert view["message"] == NEXT_STEPS["found"]  # the API's field is unchanged


@pytest.mark.parametrize(("state", "allowed"), [
    ("not_found", True), ("timeout", True), ("found", False), ("pending", False), ("retrying", False),
    ("qual", False), ("douteux", False), ("different", True), ("mismatch", False), ("idle", False),
])
def test_view_relaunch_where_it_makes_sense(state: str, allowed: bool) -> None:
    relaunch = identity_view(ROWS[state], PS, None)["actions"]["relaunch"]
    assert relaunch == {"allowed": allowed, "reason": None, "label": "Relancer la recherche INSi"}


def test_view_changes_say_what_qualification_writes() -> None:
    view = identity_view(ROWS["found"], PS, None)
    assert view["changes"] == [{"field": "birth_place", "label": "lieu de naissance", "before": None,
                                "after": "Commune inconnue de la table COG (2A020)"}]
    assert identity_view(ROWS["not_found"], PS, None)["changes"] == []
    assert identity_view(ROWS["qual"], PS, None)["changes"] == []


def test_view_qualified_block_who_when_how() -> None:
    entry = {"action": "qualified", "at": 1_764_000_000.0, "method": "document", "document_type": "passport",
             "actor": {"kind": "ps", "name": "Dr Martin"}}
    view = identity_view(ROWS["qual"], PS, None, entry)
    q = view["qualified"]
    assert q["title"] == "Identité qualifiée" and q["type"] == "NIR" and q["oid"] == OID
    assert q["matricule"] == "297022A02077878" and q["by"] == "Dr Martin"
    assert q["how"] == "document d'identité : Passeport (français ou étranger)"
    assert q["at"] is not None and " à " in q["at"]
    assert view["panel_message"] is None  # the pre-qualification instruction is gone
    attested = identity_view(ROWS["qual"], PS, None, {**entry, "method": "attestation", "document_type": None})
    assert attested["qualified"]["how"] == "attestation du praticien (patient connu)"
    assert identity_view(ROWS["found"], PS, None)["qualified"] is None


def test_view_former_ins_with_type_and_dates() -> None:
    histo = InsId(matricule="160012B020777", key="13", oid="1.2.250.1.213.1.4.9", key_valid=True)
    view = identity_view(done(summary(replace(DOMINIQUE, history=[histo])), "RECUP"), PS, None)
    assert view["former_ins"] == [{"matricule": "160012B02077713", "oid": "1.2.250.1.213.1.4.9", "type": "NIA",
                                   "start": None, "end": None}]
    dated = {"matricule": "160012B02077713", "oid": OID, "matricule_type": "NIR", "start_date": "2001-01-01",
             "end_date": "2010-06-30"}
    row_dated = done({**summary(DOMINIQUE), "history": [dated]}, "RECUP")
    assert identity_view(row_dated, PS, None)["former_ins"][0] == {
        "matricule": "160012B02077713", "oid": OID, "type": "NIR", "start": "01/01/2001", "end": "30/06/2010"}
