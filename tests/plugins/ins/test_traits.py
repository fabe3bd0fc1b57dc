from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins.common.nir import key_is_valid
from plugins.ins.models import Traits
from plugins.ins.text import clean, fold, tokens
from plugins.ins.traits import (
    CONSISTENT,
    DIFFERENT,
    EQUAL,
    STATES,
    FieldComparison,
    compare,
    different_fields,
    estimated_birth_date,
    is_calendar_date,
    is_partial_date,
    normalise_traits,
    rniv_form,
    strict_match,
    validate_traits,
)

TODAY = date(2025, 6, 1)
LOCAL = Traits("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", "2A020")


def t(**changes: Any) -> Traits:
    if isinstance(changes.get("first_names"), list):
        changes["first_names"] = tuple(changes["first_names"])
    return replace(LOCAL, **changes)


# -- text helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned", "folded"),
    [
        (" guivarc’h ", "GUIVARC'H", "GUIVARC'H"),  # typographic apostrophe is the same character
        ("de  la \t fontaine", "DE LA FONTAINE", "DE LA FONTAINE"),
        ("Hervé", "HERVÉ", "HERVE"),  # accents kept in storage, ignored in comparison
        ("Lætitia", "LÆTITIA", "LAETITIA"),
        ("cœur", "CŒUR", "COEUR"),
        ("Jean\u2011Philippe", "JEAN-PHILIPPE", "JEAN-PHILIPPE"),
        ("He\u0301le\u0300ne", "HÉLÈNE", "HELENE"),  # decomposed input is stored composed
        ("\u00a0MARIE\u00a0", "MARIE", "MARIE"),
        ("", "", ""),
    ],
)
def test_clean_and_fold(raw: str, cleaned: str, folded: str) -> None:
    assert clean(raw) == cleaned
    assert fold(raw) == folded
    assert fold(cleaned) == folded


def test_tokens_read_hyphen_and_apostrophe_as_spaces() -> None:
    assert tokens("Jean-Christophe") == ["JEAN", "CHRISTOPHE"]
    assert tokens("N'GOLO  kanté") == ["N", "GOLO", "KANTE"]
    assert tokens(None) == []


@given(st.text(max_size=30))
def test_fold_ignores_cleaning(raw: str) -> None:
    assert fold(clean(raw)) == fold(raw)
    assert clean(clean(raw)) == clean(raw)


# -- normalisation -----------------------------------------------------------------------------------


def test_normalise_traits() -> None:
    raw = Traits(" guivarc’h ", ("jean-philippe", " ", "hervé  ronan "), " f ", " 1997-02-26 ", " 2a020 ",
                 " martin ", "  ")
    assert normalise_traits(raw) == Traits("GUIVARC'H", ("JEAN-PHILIPPE", "HERVÉ RONAN"), "F", "1997-02-26",
                                           "2A020", "MARTIN", None)
    assert normalise_traits(t(birth_place="  ")).birth_place is None
    assert normalise_traits(t(birth_place=None)).birth_place is None


_text_traits = st.builds(
    Traits, st.text(max_size=15), st.lists(st.text(max_size=10), max_size=3).map(tuple), st.text(max_size=2),
    st.text(max_size=12), st.none() | st.text(max_size=6), st.none() | st.text(max_size=10),
    st.none() | st.text(max_size=10),
)


@given(_text_traits)
def test_normalise_is_idempotent(raw: Traits) -> None:
    once = normalise_traits(raw)
    assert normalise_traits(once) == once


# -- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "traits",
    [
        LOCAL,
        t(birth_name="D'ARTAGNAN"),
        t(birth_name="'T HOOFT"),  # an apostrophe may come first
        t(birth_name="DE LA FONTAINE"),
        t(birth_name="LE GUEN--DUPONT"),  # double hyphen: names only
        t(birth_name="HERVÉ", first_names=["LÆTITIA", "JEAN-PHILIPPE", "N'GOLO"]),  # accents from the LGC
        t(birth_name="A" * 100),
        t(birth_date="1997-00-00"), t(birth_date="1997-02-00"), t(birth_date="1997-00-15"),
        t(birth_place=None), t(birth_place="99255"), t(birth_place="97411"), t(birth_place="2B020"),
        t(sex="M"),
        t(used_name="MARTIN", used_first_name="DOMI"),
    ],
)
def test_validate_accepts(traits: Traits) -> None:
    assert validate_traits(traits, today=TODAY) == {}


@pytest.mark.parametrize(
    ("traits", "field", "expected"),
    [
        (t(birth_name=""), "birth_name", "nom de naissance obligatoire"),
        (t(birth_name="DUPONT2"), "birth_name", "« 2 »"),
        (t(birth_name="DUP@NT_"), "birth_name", "« @ », « _ »"),
        (t(birth_name="ØSTERGAARD"), "birth_name", "« Ø »"),  # no A-Z spelling: rejected, not stripped
        (t(birth_name="-DUPONT"), "birth_name", "ne doit pas commencer"),
        (t(birth_name=" DUPONT"), "birth_name", "ne doit pas commencer"),
        (t(birth_name="DUPONT "), "birth_name", "ne doit pas se terminer par une espace"),
        (t(birth_name="DUPONT  MARTIN"), "birth_name", "espaces doubles"),
        (t(birth_name="D''ARC"), "birth_name", "apostrophes doubles"),
        (t(birth_name="D 'ARC"), "birth_name", "espace à côté d'une apostrophe"),
        (t(birth_name="D' ARC"), "birth_name", "espace à côté d'une apostrophe"),
        (t(birth_name="A---B"), "birth_name", "deux traits d'union au plus"),
        (t(birth_name="'"), "birth_name", "au moins une lettre"),
        (t(birth_name="A" * 101), "birth_name", "100 caractères au plus"),
        (t(first_names=[]), "first_names", "au moins un prénom"),
        (t(first_names=["JEAN--PIERRE"]), "first_names", "aucun double trait d'union dans un prénom"),
        (t(first_names=["JEAN-"]), "first_names", "ne se termine pas par un trait d'union"),
        (t(first_names=["JEAN'"]), "first_names", "ne se termine pas par un trait d'union ou une apostrophe"),
        (t(first_names=["DOMINIQUE", "J3AN"]), "first_names", "2e prénom : caractère(s) non autorisé(s) « 3 »"),
        (t(sex=""), "sex", "sexe obligatoire"),
        (t(sex="I"), "sex", "indéterminé"),
        (t(sex="X"), "sex", "M ou F attendu"),
        (t(birth_date=""), "birth_date", "obligatoire"),
        (t(birth_date="26/02/1997"), "birth_date", "format AAAA-MM-JJ"),
        (t(birth_date="1997-2-26"), "birth_date", "format AAAA-MM-JJ"),
        (t(birth_date="1997-02-30"), "birth_date", "n'existe pas"),
        (t(birth_date="1997-13-00"), "birth_date", "n'existe pas"),
        (t(birth_date="1997-00-32"), "birth_date", "n'existe pas"),
        (t(birth_date="2025-06-02"), "birth_date", "dans le futur"),
        (t(birth_date="2026-00-00"), "birth_date", "dans le futur"),
        (t(birth_date="1700-01-01"), "birth_date", "invraisemblable"),
        (t(birth_date="0000-00-00"), "birth_date", "invraisemblable"),
        (t(birth_place="2C020"), "birth_place", "code INSEE (COG) de 5 caractères"),
        (t(birth_place="7505"), "birth_place", "COG"),
        (t(birth_place="00123"), "birth_place", "COG"),
        (t(birth_place="2a020"), "birth_place", "COG"),  # normalise_traits uppercases it first
        (t(used_name="X1"), "used_name", "nom utilisé : caractère(s) non autorisé(s) « 1 »"),
        (t(used_first_name="JEAN-"), "used_first_name", "prénom utilisé : un prénom ne se termine pas"),
    ],
)
def test_validate_rejects(traits: Traits, field: str, expected: str) -> None:
    errors = validate_traits(traits, today=TODAY)
    assert list(errors) == [field], errors
    assert any(expected in message for message in errors[field]), errors[field]


def test_validate_today_defaults_to_the_real_date() -> None:
    assert "birth_date" in validate_traits(t(birth_date="2999-01-01"))
    assert validate_traits(LOCAL) == {}


def test_validate_collects_every_field() -> None:
    errors = validate_traits(Traits.from_dict({}), today=TODAY)
    assert set(errors) == {"birth_name", "first_names", "birth_date", "sex"}


@pytest.mark.parametrize(
    ("traits", "field"),
    [
        (t(birth_name="HERVÉ"), "birth_name"),
        (t(birth_name="Dupont"), "birth_name"),
        (t(first_names=["LÆTITIA"]), "first_names"),
        (t(used_name="CŒUR"), "used_name"),
    ],
)
def test_validate_strict_is_the_rniv_form(traits: Traits, field: str) -> None:
    assert validate_traits(traits, today=TODAY) == {}
    errors = validate_traits(traits, today=TODAY, strict=True)
    assert list(errors) == [field]
    assert "accents" in errors[field][0]


_rniv_word = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)
_rniv_name = st.lists(_rniv_word, min_size=1, max_size=3).flatmap(
    lambda words: st.tuples(*[st.sampled_from([" ", "-", "'"]) for _ in words[1:]]).map(
        lambda seps: words[0] + "".join(s + w for s, w in zip(seps, words[1:], strict=True))))
_rniv_traits = st.builds(
    Traits, _rniv_name, st.lists(_rniv_name, min_size=1, max_size=3).map(tuple), st.sampled_from(["M", "F"]),
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY).map(date.isoformat),
    st.none() | st.sampled_from(["2A020", "2B020", "63220", "99255", "75056"]),
)


@given(_rniv_traits)
def test_rniv_traits_validate_strictly_and_compare_equal_to_themselves(traits: Traits) -> None:
    assert normalise_traits(traits) == traits
    assert validate_traits(traits, today=TODAY, strict=True) == {}
    rows = compare(traits, traits)
    assert {r.state for r in rows} == {EQUAL}
    assert strict_match(rows)


def test_rniv_form_spells_names_for_insi() -> None:
    lgc = normalise_traits(Traits.from_dict({"birth_name": "Lefèvre", "first_names": "Lætitia, Hélène-Œdipe",
                                             "sex": "F", "birth_date": "1997-02-26", "used_name": "Cœur"}))
    assert validate_traits(lgc, today=TODAY) == {}
    assert validate_traits(lgc, today=TODAY, strict=True) != {}
    spelled = rniv_form(lgc)
    assert spelled == Traits("LEFEVRE", ("LAETITIA", "HELENE-OEDIPE"), "F", "1997-02-26", None, "COEUR", None)
    assert validate_traits(spelled, today=TODAY, strict=True) == {}


_lgc_name = st.text(alphabet="ABCÉÈÊÀÇÔŒÆabcéœ' -", min_size=1, max_size=15)


@given(st.builds(Traits, _lgc_name, st.lists(_lgc_name, min_size=1, max_size=3).map(tuple),
                 st.sampled_from(["M", "F"]), st.just("1997-02-26")))
def test_rniv_form_of_valid_traits_is_strictly_valid(raw: Traits) -> None:
    traits = normalise_traits(raw)
    if validate_traits(traits, today=TODAY) == {}:
        assert validate_traits(rniv_form(traits), today=TODAY, strict=True) == {}


# -- dates -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "calendar", "partial", "estimate"),
    [
        ("1997-02-26", True, False, None),
        ("2000-02-29", True, False, None),
        ("1900-02-29", False, False, None),
        ("1997-02-00", False, True, "1997-02-01"),  # day unknown → 01 [EXI ID 11/12]
        ("1997-00-15", False, True, "1997-01-15"),  # month unknown → 01
        ("1997-00-00", False, True, "1997-12-31"),  # both unknown → 31/12
        ("1997-13-00", False, False, None),
        ("1997-00-32", False, False, None),
        ("1997-02-30", False, False, None),
        ("26-02-1997", False, False, None),
        ("", False, False, None),
    ],
)
def test_dates(value: str, calendar: bool, partial: bool, estimate: str | None) -> None:
    assert is_calendar_date(value) is calendar
    assert is_partial_date(value) is partial
    assert estimated_birth_date(value) == estimate
    if estimate is not None:
        assert is_calendar_date(estimate)


# -- comparison ------------------------------------------------------------------------------------------


def _row(rows: list[FieldComparison], field: str) -> FieldComparison:
    [row] = [r for r in rows if r.field == field]
    return row


def test_compare_rows_in_panel_order() -> None:
    rows = compare(LOCAL, LOCAL)
    assert [r.field for r in rows] == ["birth_name", "first_name", "first_names", "birth_date", "sex",
                                       "birth_place"]
    assert all(r.state in STATES for r in rows)
    assert rows[0] == FieldComparison("birth_name", "ADRTROIS", "ADRTROIS", EQUAL)


@pytest.mark.parametrize(
    ("local", "insi", "state"),
    [
        ("ADRTROIS", "ADRTROIS", EQUAL),
        ("GUIVARC'H", "GUIVARCH", DIFFERENT),  # field report: the apostrophe is part of the name
        ("GUIVARC'H", "GUIVARC'H", EQUAL),
        ("Guivarc'h", "GUIVARC'H", CONSISTENT),
        ("LEFÈVRE", "LEFEVRE", CONSISTENT),
        ("CŒUR", "COEUR", CONSISTENT),
        ("LÆTITIA", "LAETITIA", CONSISTENT),
        ("DE VINCI", "DE-VINCI", DIFFERENT),  # the hyphen counts in names
        ("LE GUEN--DUPONT", "LE GUEN-DUPONT", DIFFERENT),
        ("DUPONT", "DUPOND", DIFFERENT),
        ("", "DUPONT", DIFFERENT),
    ],
)
def test_compare_birth_name(local: str, insi: str, state: str) -> None:
    row = _row(compare(t(birth_name=local), t(birth_name=insi)), "birth_name")
    assert row == FieldComparison("birth_name", local or None, insi, state)


@pytest.mark.parametrize(
    ("local", "insi", "first_state", "first_insi", "list_state"),
    [
        (["DOMINIQUE"], ["DOMINIQUE"], EQUAL, "DOMINIQUE", EQUAL),
        # field reports
        (["Jean-Philippe"], ["JEAN", "PHILIPPE"], CONSISTENT, "JEAN PHILIPPE", CONSISTENT),
        (["JEAN-PHILIPPE"], ["JEAN", "PHILIPPE"], CONSISTENT, "JEAN PHILIPPE", CONSISTENT),
        (["Hervé", "Ronan"], ["HERVE", "RONAN"], CONSISTENT, "HERVE", CONSISTENT),
        # rniv.md [EXI ID 10]
        (["JEAN-CHRISTOPHE"], ["JEAN", "CHRISTOPHE", "PIERRE"], CONSISTENT, "JEAN CHRISTOPHE", CONSISTENT),
        (["JEAN CHRISTOPHE"], ["JEAN", "CHRISTOPHE", "PIERRE"], EQUAL, "JEAN CHRISTOPHE", CONSISTENT),
        (["CHRISTOPHE"], ["JEAN", "CHRISTOPHE", "PIERRE"], DIFFERENT, "JEAN", DIFFERENT),
        (["JEAN"], ["JEAN", "CHRISTOPHE", "PIERRE"], EQUAL, "JEAN", CONSISTENT),
        # a hyphen sent by INSi is a real join: JEAN is not JEAN-CHRISTOPHE
        (["JEAN"], ["JEAN-CHRISTOPHE", "PIERRE"], DIFFERENT, "JEAN-CHRISTOPHE", DIFFERENT),
        (["JEAN CHRISTOPHE"], ["JEAN-CHRISTOPHE", "PIERRE"], CONSISTENT, "JEAN-CHRISTOPHE", CONSISTENT),
        (["PIERRE-ALAIN"], ["PIERRE-ALAIN", "MURIEL", "FLORIANT"], EQUAL, "PIERRE-ALAIN", CONSISTENT),
        (["CATARINA"], ["CATARINA", "BELLA"], EQUAL, "CATARINA", CONSISTENT),  # the LGC knows fewer names
        (["N'GOLO"], ["N", "GOLO"], CONSISTENT, "N GOLO", CONSISTENT),
        # discordances
        (["JEAN", "MARC"], ["JEAN", "PIERRE"], EQUAL, "JEAN", DIFFERENT),
        (["JEAN", "PIERRE"], ["JEAN"], EQUAL, "JEAN", DIFFERENT),  # a local name INSi does not have
        (["RONAN", "HERVE"], ["HERVE", "RONAN"], DIFFERENT, "HERVE", DIFFERENT),
        (["JEANNE"], ["JEAN"], DIFFERENT, "JEAN", DIFFERENT),
        (["JEAN"], ["JEANNE"], DIFFERENT, "JEANNE", DIFFERENT),
        ([], ["JEAN"], DIFFERENT, "JEAN", DIFFERENT),
        (["JEAN"], [], DIFFERENT, None, DIFFERENT),
    ],
)
def test_compare_first_names(local: list[str], insi: list[str], first_state: str, first_insi: str | None,
                             list_state: str) -> None:
    rows = compare(t(first_names=local), t(first_names=insi))
    assert _row(rows, "first_name") == FieldComparison("first_name", local[0] if local else None, first_insi,
                                                       first_state)
    assert _row(rows, "first_names") == FieldComparison("first_names", " ".join(local) or None,
                                                        " ".join(insi) or None, list_state)


def test_field_reports_through_from_dict_and_normalisation() -> None:
    def local(first_names: str) -> Traits:
        return normalise_traits(Traits.from_dict({"birth_name": "Le Gall", "first_names": first_names,
                                                  "sex": "M", "birth_date": "1980-03-02"}))

    insi = Traits.from_dict({"birth_name": "LE GALL", "first_names": "JEAN PHILIPPE", "sex": "M",
                             "birth_date": "1980-03-02"})
    rows = compare(local("Jean-Philippe"), insi)
    assert different_fields(rows) == []
    assert _row(rows, "first_names").state == CONSISTENT and strict_match(rows)

    insi = replace(insi, first_names=("HERVE", "RONAN"))
    rows = compare(local("Hervé, Ronan"), insi)
    assert _row(rows, "first_names") == FieldComparison("first_names", "HERVÉ RONAN", "HERVE RONAN", CONSISTENT)
    assert different_fields(rows) == [] and strict_match(rows)


@pytest.mark.parametrize(
    ("local", "insi", "state"),
    [
        ("1997-02-26", "1997-02-26", EQUAL),
        ("1997-02-26", "1997-02-27", DIFFERENT),
        ("1997-00-00", "1997-00-00", DIFFERENT),  # partial: manual review (rniv.md "Dates")
        ("1997-02-00", "1997-02-01", DIFFERENT),
        ("1997-12-31", "1997-00-00", DIFFERENT),
        ("1997-02-30", "1997-02-30", DIFFERENT),
        ("", "1997-02-26", DIFFERENT),
    ],
)
def test_compare_birth_date(local: str, insi: str, state: str) -> None:
    row = _row(compare(t(birth_date=local), t(birth_date=insi)), "birth_date")
    assert row == FieldComparison("birth_date", local or None, insi, state)


@pytest.mark.parametrize(
    ("local", "insi", "state"),
    # ("", "F"): issue 19 item 3, a sex the local source lacks is completed by INSi (was DIFFERENT).
    [("F", "F", EQUAL), ("M", "F", DIFFERENT), ("f", "F", CONSISTENT), ("I", "F", DIFFERENT), ("", "F", CONSISTENT),
     ("F", "", DIFFERENT), ("", "", DIFFERENT)],
)
def test_compare_sex(local: str, insi: str, state: str) -> None:
    assert _row(compare(t(sex=local), t(sex=insi)), "sex").state == state


@pytest.mark.parametrize(
    ("local", "insi", "matricule", "state"),
    [
        ("", "F", "297022A020778", CONSISTENT),  # completed, and INSi's matricule agrees
        ("", "M", "160012B020777", CONSISTENT),
        ("", "M", "297022A020778", DIFFERENT),  # INSi's sex contradicts its own matricule
        ("", "F", "160012B020777", DIFFERENT),
        ("", "F", "760012B020777", CONSISTENT),  # a temporary number says nothing about the sex
        ("", "F", None, CONSISTENT),
        ("F", "F", "160012B020777", EQUAL),  # a sex both sides know is compared as such, never re-derived
        ("M", "F", "297022A020778", DIFFERENT),
    ],
)
def test_compare_sex_completed_by_insi_is_cross_checked_with_the_matricule(local: str, insi: str,
                                                                           matricule: str | None, state: str) -> None:
    row = _row(compare(t(sex=local), t(sex=insi), ins_matricule=matricule), "sex")
    assert row == FieldComparison("sex", local or None, insi, state)


def test_a_card_without_sex_still_matches_strictly() -> None:
    """Issue 19 item 3: the Vitale card of a beneficiary who is not the insured person has no sex; INSi's
    completes it (like a birth place) and the attestation's strict match still holds."""
    rows = compare(t(sex="", birth_place=None), t(birth_place="2A020"), ins_matricule="297022A020778")
    assert strict_match(rows)
    assert different_fields(rows) == []
    contradicted = compare(t(sex=""), t(sex="M"), ins_matricule="297022A020778")
    assert not strict_match(contradicted)
    assert different_fields(contradicted) == ["sex"]


@pytest.mark.parametrize(
    ("local", "insi", "state"),
    [
        ("2A020", "2A020", EQUAL),
        (None, None, EQUAL),
        (None, "2A020", CONSISTENT),  # compared only when both sides have it; INSi's fills the record
        ("2A020", None, CONSISTENT),
        ("2a020", "2A020", CONSISTENT),
        ("2A020", "2B020", DIFFERENT),
        ("99255", "99134", DIFFERENT),
    ],
)
def test_compare_birth_place(local: str | None, insi: str | None, state: str) -> None:
    row = _row(compare(t(birth_place=local), t(birth_place=insi)), "birth_place")
    assert row == FieldComparison("birth_place", local, insi, state)


_ACCENTED = {"A": "À", "E": "É", "C": "Ç", "I": "Ï", "U": "Ù", "O": "Ô"}


def _accented(value: str, pattern: list[bool]) -> str:
    """Accent, lowercase or ligature some letters of an RNIV name, following `pattern`."""
    if pattern[0]:
        value = value.replace("OE", "Œ").replace("AE", "Æ")
    out = []
    for i, ch in enumerate(value):
        if pattern[i % len(pattern)]:
            ch = _ACCENTED.get(ch, ch)
            ch = ch.lower() if i % 2 else ch
        out.append(ch)
    return "".join(out)


@given(_rniv_traits, st.lists(st.booleans(), min_size=1, max_size=5))
def test_case_and_accent_variants_are_never_different(traits: Traits, pattern: list[bool]) -> None:
    variant = replace(traits, birth_name=_accented(traits.birth_name, pattern),
                      first_names=tuple(_accented(n, pattern) for n in traits.first_names))
    rows = compare(variant, traits)
    assert different_fields(rows) == []
    assert strict_match(rows)
    assert _row(rows, "birth_name").state == (EQUAL if variant.birth_name == traits.birth_name else CONSISTENT)


# -- strict match -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("insi", "expected"),
    [
        (LOCAL, True),
        (t(birth_name="ADRTROÏS"), True),  # accents aside
        (t(birth_name="ADRDEUX"), False),
        (t(first_names=["DOMINIQUE", "MARIE"]), True),  # first birth first name matches the list start
        (t(first_names=["MARIE", "DOMINIQUE"]), False),
        (t(birth_date="1997-02-27"), False),
        (t(sex="M"), False),
        (t(birth_place="2B020"), False),
        (t(birth_place=None), True),  # only when both sides have it
    ],
)
def test_strict_match(insi: Traits, expected: bool) -> None:
    assert strict_match(compare(LOCAL, insi)) is expected


def test_strict_match_ignores_the_rest_of_the_list_but_not_missing_rows() -> None:
    rows = compare(t(first_names=["DOMINIQUE", "ANNE"]), t(first_names=["DOMINIQUE", "MARIE"]))
    assert different_fields(rows) == ["first_names"]
    assert strict_match(rows)  # the exception procedure looks at the first birth first name only
    assert not strict_match([])
    assert not strict_match([r for r in compare(LOCAL, LOCAL) if r.field != "sex"])


# -- the qualif test identities (insi.md §7), their NIR keys and the traits they carry ---------------------

QUALIF_IDENTITIES = [
    ("ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "2A020", "297022A020778", "78"),
    ("ADRTROIS", "TOUSSAINT", "M", "1960-01-01", "2B020", "160012B020777", "13"),
    ("TCHITCHI", "CATARINA BELLA", "F", "1936-06-21", "63220", "2360663220836", "56"),
    ("ECETINSI", "PIERRE-ALAIN MURIEL FLORIANT", "M", "2009-07-14", "63220", "1090763220834", "89"),
    ("ADRUN", "ZOE", "F", "1975-12-31", "63220", "2751263220749", "74"),
    ("CORSE", "ANTHONY", "M", "1980-03-02", "2B020", "180032B020401", "23"),
    ("NESSI", "MICHELANGELO ANTHONY", "M", "2010-08-07", "63220", "1100863220830", "60"),
    ("PROVISOIRE", "MATRICULE", "M", "2009-07-01", None, "1090763220888", "35"),  # NIA
]


@pytest.mark.parametrize(("name", "first_names", "sex", "birth_date", "place", "matricule", "key"),
                         QUALIF_IDENTITIES)
def test_qualif_identities(name: str, first_names: str, sex: str, birth_date: str, place: str | None,
                           matricule: str, key: str) -> None:
    insi = Traits.from_dict({"birth_name": name, "first_names": first_names, "sex": sex, "birth_date": birth_date,
                             "birth_place": place})
    assert validate_traits(insi, today=TODAY, strict=True) == {}
    assert key_is_valid(matricule, key)
    # The matricule agrees with the traits: sex, year, month and (for a NIR) the birth-place COG.
    assert matricule[0] == {"M": "1", "F": "2"}[sex]
    assert matricule[1:5] == birth_date[2:4] + birth_date[5:7]
    if place is not None:
        assert matricule[5:10] == place
    # The record of an LGC that knows only the first first name, in mixed case, qualifies in one click.
    local = normalise_traits(Traits.from_dict({"birth_name": name.title(), "first_names": first_names.split()[0],
                                               "sex": sex, "birth_date": birth_date}))
    rows = compare(local, insi)
    assert different_fields(rows) == [] and strict_match(rows)


@pytest.mark.parametrize(
    ("traits", "value"),
    [
        (t(birth_date="1997-02-30"), "1997-02-30"),
        (t(birth_date="26/02/1997"), "26/02/1997"),
        (t(birth_date="2025-06-02"), "2025-06-02"),
        (t(birth_date="1700-01-01"), "1700"),
        (t(first_names=["DOMINIQUE", "J3AN"]), "J3AN"),
        (t(birth_name="DUP0NT"), "DUP0NT"),
        (t(used_name="MAR§TIN"), "MAR§TIN"),
        (t(sex="X"), "« X »"),
        (t(birth_place="7512"), "7512"),
    ],
)
def test_validation_messages_name_the_rule_never_the_value(traits: Traits, value: str) -> None:
    """Issue 18 item 6: 'la date 1997-02-30 n'existe pas' echoed what was sent; docs/local-api.md says
    errors never carry values (they reach the LGC, its logs, the UI)."""
    errors = validate_traits(traits, today=TODAY)
    assert errors
    for messages in errors.values():
        for message in messages:
            assert value not in message, message
