"""Pure rules behind the batch and journal pages (issue 19 items 12, 13): the day's CSV, a batch's counts and
remaining time, the journal's French rows and CSV."""

from __future__ import annotations

import time
from datetime import date

import pytest

from agent.errors import UserFacingError
from plugins.ins import journal
from plugins.ins.batch_progress import line_state, summary
from plugins.ins.daylist import parse_day_csv
from sandbox.insi.server import SAMPLE_DAY


def test_the_sandbox_sample_day_parses() -> None:
    patients = parse_day_csv(SAMPLE_DAY.read_text(encoding="utf-8"), "journee-exemple.csv")
    assert len(patients) == 10
    assert patients[0] == {"local_id": "rdv-0830", "traits": {"birth_name": "ADRTROIS", "first_names": "DOMINIQUE",
                                                              "sex": "F", "birth_date": "1997-02-26"}}


def test_french_headers_commas_and_bom() -> None:
    text = "\ufeffDossier,Nom de naissance,Prénoms,Sexe,Date de naissance\nd1,TCHITCHI,CATARINA,F,1936-06-21\n"
    assert parse_day_csv(text) == [{"local_id": "d1", "traits": {"birth_name": "TCHITCHI", "first_names": "CATARINA",
                                                                 "sex": "F", "birth_date": "1936-06-21"}}]


@pytest.mark.parametrize(("text", "message"), [
    ("", "agenda.csv : fichier vide, aucun patient."),
    ("birth_name;first_names;sex;birth_date\n", "agenda.csv : aucun patient sous la ligne d'en-tête."),
    ("nom;prenom\nMARTIN;CLAIRE\n", "agenda.csv : colonnes manquantes : birth_name, sex, birth_date"),
])
def test_unusable_files_are_said_in_french(text: str, message: str) -> None:
    with pytest.raises(UserFacingError) as info:
        parse_day_csv(text, "agenda.csv")
    assert info.value.message.startswith(message)


def _line(item_state: str, status: str = "RECUP", outcome: str | None = "found", consistent: bool = True) -> dict:
    insi = None if outcome is None else {"outcome": outcome, "consistent": consistent, "message": f"m-{outcome}"}
    return {"position": 0, "item_state": item_state, "identity_id": "i", "status": status,
            "traits": {"birth_name": "X", "first_names": ["Y"], "birth_date": "2000-01-01"}, "insi": insi}


@pytest.mark.parametrize(("line", "state"), [
    (_line("pending"), "pending"),
    (_line("done"), "found"),
    (_line("skipped", status="QUAL", outcome=None), "found"),
    (_line("done", consistent=False), "to_complete"),
    (_line("done", outcome="not_found"), "to_complete"),
    (_line("done", outcome="several"), "to_complete"),
    (_line("done", outcome="fault"), "error"),
    (_line("done", outcome="timeout"), "error"),
])
def test_line_states(line: dict, state: str) -> None:
    assert line_state(line) == state


def test_summary_counts_and_remaining_time() -> None:
    batch = {"batch_id": "b", "name": "jour.csv", "created_at": 1000.0,
             "rejected": [{"position": 3, "message": "date invalide"}]}
    lines = [_line("done"), _line("done", outcome="not_found"), _line("pending"), _line("pending")]
    s = summary(batch, lines, now=1010.0)
    assert (s["total"], s["done"], s["pending"], s["found"], s["to_complete"], s["errors"]) == (4, 2, 2, 1, 1, 1)
    assert s["remaining_seconds"] == 10  # 2 answers in 10 s, 2 left
    assert not s["finished"]
    assert [line["state"] for line in s["lines"]] == ["error", "to_complete"]
    assert s["lines"][0]["patient"] == "ligne 5 du fichier" and s["lines"][1]["message"] == "m-not_found"
    assert summary(batch, [_line("pending")], now=1001.0)["remaining_seconds"] is None  # no pace yet
    done = summary(batch, [_line("done")], now=1001.0)
    assert done["finished"] and done["remaining_seconds"] == 0


def test_journal_rows_and_csv() -> None:
    start, end = journal.day_bounds(date(2026, 3, 29))  # a DST change in France: 23 hours
    assert end - start in (23 * 3600, 24 * 3600)
    at = start + 3600 * 9.5
    rows = [{"at": at, "identity_id": "i", "action": "qualified", "method": "document", "document_type": "passport",
             "status_before": "RECUP", "status_after": "QUAL", "actor": {"kind": "cpe_nominative", "name": "=Mme B"},
             "traits_after": {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "birth_date": "1997-02-26"},
             "current_traits": None, "current_status": "QUAL", "ins_matricule": "297022A020778", "ins_key": "78"},
            {"at": at + 1, "identity_id": "i", "action": "insi_result", "method": None, "document_type": None,
             "status_before": "PROV", "status_after": "RECUP", "actor": {"kind": "system", "source": "insi"},
             "traits_after": None, "current_traits": {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"]},
             "current_status": "QUAL", "ins_matricule": "297022A020778", "ins_key": "78"}]
    items = journal.entries(rows)
    assert items[0]["time"] == time.strftime("%H:%M:%S", time.localtime(at))
    assert items[0]["method"] == "document d'identité : Passeport (français ou étranger)"
    assert items[0]["by"] == "=Mme B (CPE nominative)" and items[0]["ins"] == "297022A02077878"
    assert items[1]["by"] == "Vigie (automatique : téléservice INSi)"
    assert journal.entries(rows, only_qualifications=True) == items[:1]
    csv_text = journal.to_csv(items)
    assert csv_text.startswith("\ufeffDate;Heure;Patient;")
    assert ";'=Mme B (CPE nominative)\r\n" in csv_text  # never a spreadsheet formula
