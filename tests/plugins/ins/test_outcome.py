"""`summarise`: one INSi search → the JSON summary every UI shows (plugins/ins/outcome.py).

Responses come from the real wire samples (tests/fixtures/insi) through the real parser, or are built
with the dataclasses of plugins/ins/insi/types.py for the cases the samples do not show.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from plugins.ins.insi.parser import parse_response
from plugins.ins.insi.types import (
    OPERATION_TRAITS,
    InsiConfigError,
    InsId,
    InsiError,
    InsiExchange,
    InsiFault,
    InsiMalformedResponse,
    InsiResponse,
    InsiTimeout,
    InsiUnavailable,
    ReturnedTraits,
    SearchOutcome,
)
from plugins.ins.models import Traits
from plugins.ins.outcome import NEXT_STEPS, RETRYABLE, returned_traits, summarise

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "insi"
OID = "1.2.250.1.213.1.4.8"
KEY_WARNING = " Attention : la clé du matricule renvoyé ne se vérifie pas ; signalez-le au support."


def response(name: str) -> InsiResponse:
    return parse_response((FIXTURES / name).read_bytes())


def fault(name: str) -> InsiFault:
    with pytest.raises(InsiFault) as caught:
        parse_response((FIXTURES / name).read_bytes())
    return caught.value


DOMINIQUE = response("REP_CR00_ADRTROIS_DOMINIQUE.xml")
TOUSSAINT = response("REP_CR00_ADRTROIS_TOUSSAINT.xml")
CR01 = response("REP_CR01.xml")
CR02 = response("REP_CR02_DE_VINCI_LEONARDO.xml")
FAULT_IDAM = fault("FAULT_siram_100_desir_550_unknown_IDAM.xml")
FAULT_TECHNICAL = fault("FAULT_siram_40_insi_102_technical.xml")

LOCAL = Traits(birth_name="ADRTROIS", first_names=("DOMINIQUE",), sex="F", birth_date="1997-02-26")
RETURNED = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "birth_date": "1997-02-26", "sex": "F",
            "birth_place": "2A020"}
ACTIVE = {"matricule": "297022A02077878", "oid": OID, "key_valid": True}
# INSi knows the birth place, the record does not: consistent, highlighted, never blocking.
PLACE_ROW = {"field": "birth_place", "local": None, "insi": "2A020", "state": "equal_except_case_accents"}


def exchange(message_id: str, error: str | None = None) -> InsiExchange:
    return InsiExchange(operation=OPERATION_TRAITS, message_id=message_id, started_at=1_700_000_000.0,
                        duration_ms=12.5, http_status=200, error=error, request_xml="<req/>", response_xml="<rep/>")


def outcome(resp: InsiResponse | None = None, error: InsiError | None = None, *,
            message_ids: tuple[str, ...] = ("uuid:first", "uuid:last"),
            sent: tuple[str, ...] = ("DOMINIQUE",)) -> SearchOutcome:
    return SearchOutcome(response=resp, error=error, exchanges=[exchange(m) for m in message_ids],
                         first_names_sent=sent)


def run(o: SearchOutcome, local: Traits = LOCAL, **kw: Any) -> dict[str, Any]:
    """`summarise`, checked JSON-safe and stamped now; returned without its `at`."""
    before = time.time()
    summary = summarise(o, local, **kw)
    assert before <= summary["at"] <= time.time()
    assert json.loads(json.dumps(summary)) == summary
    return {k: v for k, v in summary.items() if k != "at"}


BASE = {"message_id": "uuid:last", "calls": 2, "first_names_sent": ["DOMINIQUE"]}


# -- found -------------------------------------------------------------------------------------


def test_summarise_found_consistent_is_the_whole_summary() -> None:
    assert run(outcome(DOMINIQUE)) == {
        **BASE, "code": "00", "label": "OK", "outcome": "found", "returned_traits": RETURNED,
        "consistent": True, "ins_mismatch": False, "differences": [PLACE_ROW], "ins": ACTIVE, "history": [],
        "message": NEXT_STEPS["found"],
    }


def test_summarise_found_with_the_same_birth_place_has_no_differences() -> None:
    summary = run(outcome(DOMINIQUE), replace(LOCAL, birth_place="2A020"))
    assert summary["differences"] == [] and summary["consistent"] is True


@pytest.mark.parametrize(
    ("local", "differences", "consistent"),
    [
        # case only: consistent, shown
        (replace(LOCAL, birth_name="Adrtrois", birth_place="2A020"),
         [{"field": "birth_name", "local": "Adrtrois", "insi": "ADRTROIS", "state": "equal_except_case_accents"}],
         True),
        # a first name INSi does not know
        (replace(LOCAL, first_names=("DOMINIQUE", "MARIE"), birth_place="2A020"),
         [{"field": "first_names", "local": "DOMINIQUE MARIE", "insi": "DOMINIQUE", "state": "different"}], False),
        # another birth name: the name row differs, the rest is equal
        (replace(LOCAL, birth_name="ADRDEUX", birth_place="2A020"),
         [{"field": "birth_name", "local": "ADRDEUX", "insi": "ADRTROIS", "state": "different"}], False),
        # date, sex and COG
        (replace(LOCAL, birth_date="1997-02-27", sex="M", birth_place="2B020"),
         [{"field": "birth_date", "local": "1997-02-27", "insi": "1997-02-26", "state": "different"},
          {"field": "sex", "local": "M", "insi": "F", "state": "different"},
          {"field": "birth_place", "local": "2B020", "insi": "2A020", "state": "different"}], False),
        # a partial local date is never consistent (manual review)
        (replace(LOCAL, birth_date="1997-00-00"),
         [{"field": "birth_date", "local": "1997-00-00", "insi": "1997-02-26", "state": "different"}, PLACE_ROW],
         False),
    ],
)
def test_summarise_found_with_differences(local: Traits, differences: list[dict[str, Any]],
                                          consistent: bool) -> None:
    summary = run(outcome(DOMINIQUE), local)
    assert summary["outcome"] == "found"
    assert summary["differences"] == differences
    assert summary["consistent"] is consistent
    assert summary["ins_mismatch"] is False
    assert summary["message"] == NEXT_STEPS["found" if consistent else "found_different"]
    assert summary["returned_traits"] == RETURNED and summary["ins"] == ACTIVE


HISTO = InsId(matricule="160012B020777", key="13", oid=OID, key_valid=True, start_date="2001-01-01",
              end_date="2010-12-31")
WITH_HISTORY = replace(DOMINIQUE, history=[HISTO])


@pytest.mark.parametrize(
    ("resp", "expected_ins", "mismatch"),
    [
        (DOMINIQUE, None, False),  # no Datamatrix: nothing to compare
        (DOMINIQUE, {"matricule": "297022A02077878", "oid": OID}, False),
        (DOMINIQUE, {"matricule": "160012B02077713", "oid": OID}, True),  # another person's INS
        (DOMINIQUE, {"matricule": "297022A020778", "oid": OID}, True),  # without its key: not the same value
        (DOMINIQUE, {"oid": OID}, True),  # nothing to compare with is not a match
        (WITH_HISTORY, {"matricule": "160012B02077713", "oid": OID}, False),  # an INSHISTO entry: same person
        (WITH_HISTORY, {"matricule": "297022A02077878", "oid": OID}, False),
        (WITH_HISTORY, {"matricule": "180012B02077799", "oid": OID}, True),
    ],
)
def test_summarise_ins_mismatch_against_the_scanned_ins(resp: InsiResponse, expected_ins: dict[str, str] | None,
                                                        mismatch: bool) -> None:
    summary = run(outcome(resp), replace(LOCAL, birth_place="2A020"), expected_ins=expected_ins)
    assert summary["outcome"] == "found"
    assert summary["ins_mismatch"] is mismatch
    assert summary["consistent"] is not mismatch  # the traits themselves agree
    assert summary["message"] == NEXT_STEPS["ins_mismatch" if mismatch else "found"]


def test_summarise_history_is_listed_with_keys() -> None:
    summary = run(outcome(WITH_HISTORY))
    # Issue 18 item 11: the dates and the identifier type used to be dropped here.
    assert summary["history"] == [{"matricule": "160012B02077713", "oid": OID, "key_valid": True, "type": None,
                                   "start_date": "2001-01-01", "end_date": "2010-12-31", "interval_valid": True,
                                   "trusted": True}]
    assert summary["ins"] == ACTIVE


ECETINSI_HISTO = [
    InsId(matricule="2090763220834", key="39", oid=OID, key_valid=True, matricule_type="NIR",
          start_date="2019-03-01", end_date="2019-02-28"),  # as in the public CNDA test book: DateDeb > DateFin
    InsId(matricule="2090663220123", key="55", oid=OID, key_valid=True, matricule_type="NIR"),
]


def test_summarise_history_interval_inverted_is_flagged_not_trusted() -> None:
    resp = replace(DOMINIQUE, history=ECETINSI_HISTO)
    summary = run(outcome(resp))
    first, second = summary["history"]
    assert (first["type"], first["start_date"], first["end_date"]) == ("NIR", "2019-03-01", "2019-02-28")
    assert first["interval_valid"] is False and first["trusted"] is False
    assert second["trusted"] is True and second["type"] == "NIR" and second["start_date"] is None
    assert summary["message"].endswith("période incohérente (début après fin, ou date illisible) ; il n'est pas "
                                       "pris en compte.")
    # A scanned INS equal to the untrusted entry is not vouched for by it; the trusted one still is.
    flagged = run(outcome(resp), replace(LOCAL, birth_place="2A020"),
                  expected_ins={"matricule": "209076322083439", "oid": OID})
    assert flagged["ins_mismatch"] is True
    vouched = run(outcome(resp), replace(LOCAL, birth_place="2A020"),
                  expected_ins={"matricule": "209066322012355", "oid": OID})
    assert vouched["ins_mismatch"] is False


@pytest.mark.parametrize(("start", "end", "valid"), [
    ("2019-03-01", "2019-02-28", False), ("2019-02-28", "2019-03-01", True), ("2019-03-01", "2019-03-01", True),
    (None, "2019-02-28", True), ("2019-03-01", None, True), ("2019-02-30", None, False), ("01/03/2019", None, False),
])
def test_summarise_history_interval_rules(start: str | None, end: str | None, valid: bool) -> None:
    histo = replace(HISTO, start_date=start, end_date=end)
    (entry,) = run(outcome(replace(DOMINIQUE, history=[histo])))["history"]
    assert entry["trusted"] is valid and entry["interval_valid"] is valid


def test_summarise_ins_mismatch_message_wins_over_differences() -> None:
    summary = run(outcome(DOMINIQUE), replace(LOCAL, birth_name="ADRDEUX"),
                  expected_ins={"matricule": "160012B02077713", "oid": OID})
    assert summary["ins_mismatch"] is True and summary["consistent"] is False
    assert summary["message"] == NEXT_STEPS["ins_mismatch"]


@pytest.mark.parametrize(
    ("active", "matricule"),
    [
        (InsId(matricule="297022A020778", key="77", oid=OID, key_valid=False), "297022A02077877"),
        (InsId(matricule="297022A020778", key=None, oid=OID, key_valid=False), "297022A020778"),
    ],
)
def test_summarise_invalid_key_is_never_consistent_and_warns(active: InsId, matricule: str) -> None:
    summary = run(outcome(replace(DOMINIQUE, active=active)), replace(LOCAL, birth_place="2A020"))
    assert summary["outcome"] == "found"
    assert summary["ins"] == {"matricule": matricule, "oid": OID, "key_valid": False}
    assert summary["differences"] == []  # the traits agree...
    assert summary["consistent"] is False  # ...but the INS cannot be trusted
    assert summary["ins_mismatch"] is False
    assert summary["message"] == NEXT_STEPS["found"] + KEY_WARNING


def test_summarise_invalid_key_warning_follows_the_other_message() -> None:
    bad = replace(DOMINIQUE, active=InsId(matricule="297022A020778", key="77", oid=OID, key_valid=False))
    summary = run(outcome(bad), replace(LOCAL, first_names=("DOMINIQUE", "MARIE")))
    assert summary["message"] == NEXT_STEPS["found_different"] + KEY_WARNING
    summary = run(outcome(bad), LOCAL, expected_ins={"matricule": "160012B02077713", "oid": OID})
    assert summary["message"] == NEXT_STEPS["ins_mismatch"] + KEY_WARNING


def test_summarise_another_real_sample_born_in_2b() -> None:
    local = Traits(birth_name="ADRTROIS", first_names=("TOUSSAINT",), sex="M", birth_date="1960-01-01",
                   birth_place="2B020")
    summary = run(outcome(TOUSSAINT), local)
    assert summary["consistent"] is True and summary["differences"] == []
    assert summary["ins"] == {"matricule": "160012B02077713", "oid": OID, "key_valid": True}


# -- no usable identity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resp", "expected"),
    [
        (CR01, {"outcome": "not_found", "code": "01", "label": "Aucune identite trouvee",
                "message": NEXT_STEPS["not_found"]}),
        (CR02, {"outcome": "several", "code": "02", "label": "Plusieurs identites trouvees",
                "message": NEXT_STEPS["several"]}),
        # CR 00 without INDIVIDU: not an answer one can use
        (InsiResponse(cr_code="00", cr_label="OK"),
         {"outcome": "malformed", "code": "00", "label": "OK", "message": NEXT_STEPS["malformed"]}),
        # CR 00 with traits but no INSACTIF
        (replace(DOMINIQUE, active=None),
         {"outcome": "malformed", "code": "00", "label": "OK", "message": NEXT_STEPS["malformed"]}),
        # a code the service does not document
        (replace(DOMINIQUE, cr_code="03", cr_label="?"),
         {"outcome": "malformed", "code": "03", "label": "?", "message": NEXT_STEPS["malformed"]}),
        # CR 00 with INSACTIF but no TIQ, or a TIQ missing a required trait
        (replace(DOMINIQUE, traits=None),
         {"outcome": "incomplete", "code": "00", "label": "OK", "message": NEXT_STEPS["incomplete"]}),
    ],
)
def test_summarise_without_a_usable_identity(resp: InsiResponse, expected: dict[str, Any]) -> None:
    assert run(outcome(resp)) == {**BASE, **expected}


@pytest.mark.parametrize("missing", ["birth_name", "first_names_list", "sex", "birth_date"])
def test_summarise_tiq_missing_a_required_trait_is_incomplete(missing: str) -> None:
    assert DOMINIQUE.traits is not None
    resp = replace(DOMINIQUE, traits=replace(DOMINIQUE.traits, **{missing: None}))
    summary = run(outcome(resp))
    assert summary == {**BASE, "outcome": "incomplete", "code": "00", "label": "OK",
                       "message": NEXT_STEPS["incomplete"]}


def test_summarise_tiq_without_birth_place_is_found() -> None:
    assert DOMINIQUE.traits is not None
    resp = replace(DOMINIQUE, traits=replace(DOMINIQUE.traits, birth_place=None))
    summary = run(outcome(resp))
    assert summary["outcome"] == "found" and summary["returned_traits"]["birth_place"] is None
    assert summary["differences"] == [] and summary["consistent"] is True


# -- errors ---------------------------------------------------------------------------------------


def _fault(*, retryable: bool, error_code: str | None, subcode: str | None = "siram_100") -> InsiFault:
    return InsiFault("Refusé.", retryable=retryable, soap_code="Sender", subcode=subcode, siram=subcode, desir=None,
                     insi_code=None, error_code=error_code)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (FAULT_IDAM, {"outcome": "fault", "code": "desir_550",
                      "message": "Ce logiciel n'est pas autorisé par le service INSi (numéro d'autorisation IDAM "
                                 "inconnu). Contactez l'éditeur du logiciel ou votre responsable informatique. "
                                 + NEXT_STEPS["fault"]}),
        (_fault(retryable=False, error_code=None), {"outcome": "fault", "code": "siram_100",
                                                    "message": "Refusé. " + NEXT_STEPS["fault"]}),
        (_fault(retryable=False, error_code=None, subcode=None), {"outcome": "fault", "code": None,
                                                                  "message": "Refusé. " + NEXT_STEPS["fault"]}),
        (FAULT_TECHNICAL, {"outcome": "unavailable", "code": "insi_102", "message": NEXT_STEPS["unavailable"]}),
        (_fault(retryable=True, error_code="desir_1020"),
         {"outcome": "unavailable", "code": "desir_1020", "message": NEXT_STEPS["unavailable"]}),
        (InsiTimeout(), {"outcome": "timeout", "code": None, "message": NEXT_STEPS["timeout"]}),
        (InsiMalformedResponse(detail="not XML"), {"outcome": "malformed", "code": None,
                                                   "message": NEXT_STEPS["malformed"]}),
        (InsiUnavailable(status=503), {"outcome": "unavailable", "code": None, "message": NEXT_STEPS["unavailable"]}),
        # Not retryable for the client (TLS refused, HTTP 4xx, configuration): final, retrying cannot help.
        (InsiUnavailable(status=404, retryable=False),
         {"outcome": "fault", "code": None, "message": InsiUnavailable(status=404, retryable=False).message_fr
          + " " + NEXT_STEPS["fault"]}),
        (InsiConfigError("Carte CPS absente."), {"outcome": "fault", "code": None,
                                                 "message": "Carte CPS absente. " + NEXT_STEPS["fault"]}),
    ],
)
def test_summarise_errors(error: InsiError, expected: dict[str, Any]) -> None:
    assert run(outcome(None, error)) == {**BASE, **expected}


def test_summarise_error_wins_over_an_earlier_response() -> None:
    # CR 02 on the first call, then the joined first names call timed out: the search did not end.
    summary = run(outcome(CR02, InsiTimeout(), sent=("DOMINIQUE", "DOMINIQUE MARIE")))
    assert summary == {**BASE, "first_names_sent": ["DOMINIQUE", "DOMINIQUE MARIE"], "outcome": "timeout",
                       "code": None, "message": NEXT_STEPS["timeout"]}


def test_summarise_no_response_nor_error_is_unavailable() -> None:
    assert run(outcome(None, None, message_ids=(), sent=())) == {
        "message_id": None, "calls": 0, "first_names_sent": [], "outcome": "unavailable", "code": None,
        "message": NEXT_STEPS["unavailable"]}


def test_retryable_outcomes_are_the_ones_that_say_so() -> None:
    assert RETRYABLE == ("timeout", "unavailable", "malformed")
    for name in RETRYABLE:
        assert "nouvel essai automatique" in NEXT_STEPS[name]


# -- message id, calls, first names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message_ids", "expected"),
    [((), None), (("uuid:a",), "uuid:a"), (("uuid:a", "uuid:b", "uuid:c"), "uuid:c")],
)
def test_summarise_message_id_is_the_last_exchange(message_ids: tuple[str, ...], expected: str | None) -> None:
    for o in (outcome(DOMINIQUE, message_ids=message_ids), outcome(None, InsiTimeout(), message_ids=message_ids),
              outcome(CR01, message_ids=message_ids)):
        summary = summarise(o, LOCAL)
        assert summary["message_id"] == expected
        assert summary["calls"] == len(message_ids)


def test_summarise_keeps_the_first_names_sent_in_order() -> None:
    summary = summarise(outcome(DOMINIQUE, sent=("JEAN", "", "JEAN PIERRE")), LOCAL)
    assert summary["first_names_sent"] == ["JEAN", "", "JEAN PIERRE"]


# -- returned_traits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tiq", "first_names"),
    [
        (ReturnedTraits(first_name="JEAN", first_names_list="DOMINIQUE MARIE"), ["DOMINIQUE", "MARIE"]),
        (ReturnedTraits(first_name="DOMINIQUE MARIE", first_names_list=None), ["DOMINIQUE", "MARIE"]),
        (ReturnedTraits(first_name=None, first_names_list="JEAN-PIERRE  PAUL"), ["JEAN-PIERRE", "PAUL"]),
        (ReturnedTraits(first_name="JEAN", first_names_list=""), ["JEAN"]),
    ],
)
def test_returned_traits_prefers_liste_prenom(tiq: ReturnedTraits, first_names: list[str]) -> None:
    tiq = replace(tiq, birth_name="ADRTROIS", sex="F", birth_date="1997-02-26", birth_place="")
    assert returned_traits(outcome(replace(DOMINIQUE, traits=tiq))) == {
        "birth_name": "ADRTROIS", "first_names": first_names, "birth_date": "1997-02-26", "sex": "F",
        "birth_place": None,
    }


@pytest.mark.parametrize(
    "o",
    [
        outcome(None, InsiTimeout()),
        outcome(CR01),
        outcome(replace(DOMINIQUE, cr_code="01")),
        outcome(replace(DOMINIQUE, traits=None)),
        outcome(replace(DOMINIQUE, traits=ReturnedTraits(birth_name="ADRTROIS", sex="F", birth_date="1997-02-26"))),
        outcome(replace(DOMINIQUE, traits=ReturnedTraits(birth_name="ADRTROIS", first_names_list="  ", sex="F",
                                                         birth_date="1997-02-26"))),
    ],
)
def test_returned_traits_none_when_not_usable(o: SearchOutcome) -> None:
    assert returned_traits(o) is None


def test_returned_traits_of_the_real_sample() -> None:
    assert returned_traits(outcome(DOMINIQUE)) == RETURNED


def test_summarise_card_missing_waits_for_the_card_and_is_not_a_fault() -> None:
    from plugins.ins.insi.types import InsiCardMissing
    from plugins.ins.outcome import CARD_MISSING

    summary = run(outcome(None, InsiCardMissing("Mode CPS : carte CPS retirée"), message_ids=(), sent=()))
    assert summary == {"message_id": None, "calls": 0, "first_names_sent": [], "outcome": CARD_MISSING,
                       "code": None, "message": NEXT_STEPS[CARD_MISSING]}
    assert "insérez-la" in summary["message"] and CARD_MISSING not in RETRYABLE  # no attempt used up

