from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins.ins.models import (
    ATTESTATION_TEXT,
    CONFIRM_LABEL,
    IDENTITY_DOCUMENTS,
    REFUSED_DOCUMENTS,
    Actor,
    Traits,
)

BASE: dict[str, Any] = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F",
                        "birth_date": "1997-02-26", "birth_place": "2A020"}


@pytest.mark.parametrize(
    ("given_names", "expected"),
    [
        ("JEAN PHILIPPE", ("JEAN", "PHILIPPE")),  # INSi ListePrenom style: two names
        ("Hervé, Ronan", ("Hervé", "Ronan")),
        ("Jean-Philippe", ("Jean-Philippe",)),  # a hyphen joins one compound name
        ("  PIERRE-ALAIN   MURIEL\tFLORIANT ", ("PIERRE-ALAIN", "MURIEL", "FLORIANT")),
        ("A ,, B ; C", ("A", "B", "C")),
        ("D'ARTAGNAN", ("D'ARTAGNAN",)),
        ("", ()),
        ("  ", ()),
        (None, ()),
        (["CATARINA", "BELLA"], ("CATARINA", "BELLA")),
        (["Jean Philippe"], ("Jean Philippe",)),  # a list item keeps its inner space (compound name)
        (["Hervé, Ronan"], ("Hervé", "Ronan")),  # commas are never part of a name
        ([" MARIE ", "", "  "], ("MARIE",)),
        ([], ()),
    ],
)
def test_from_dict_first_names(given_names: Any, expected: tuple[str, ...]) -> None:
    assert Traits.from_dict({**BASE, "first_names": given_names}).first_names == expected


def test_from_dict_missing_and_empty_values() -> None:
    t = Traits.from_dict({"birth_name": " ADRTROIS ", "first_names": "DOMINIQUE", "sex": "F",
                          "birth_date": "1997-02-26", "used_name": "", "used_first_name": None})
    assert t == Traits("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26", None, None, None)
    empty = Traits.from_dict({})
    assert empty == Traits("", (), "", "", None, None, None)  # validation reports what is missing


def test_to_dict_is_json_safe_with_the_contract_keys() -> None:
    t = Traits.from_dict({**BASE, "used_name": "MARTIN", "used_first_name": "DOMI"})
    d = t.to_dict()
    assert list(d) == ["birth_name", "first_names", "birth_date", "sex", "birth_place", "used_name",
                       "used_first_name"]
    assert d["first_names"] == ["DOMINIQUE"]
    assert json.loads(json.dumps(d)) == d
    assert Traits.from_dict(d) == t


def test_first_name_property() -> None:
    assert Traits.from_dict({**BASE, "first_names": "JEAN PAUL"}).first_name == "JEAN"
    assert Traits.from_dict({**BASE, "first_names": []}).first_name is None


def test_traits_are_frozen_and_keep_dict() -> None:
    t = Traits.from_dict(BASE)
    with pytest.raises(AttributeError):
        t.birth_name = "X"  # type: ignore[misc]
    assert "birth_name" in t.__dict__  # view.py serialises rows through __dict__


_name = st.text(alphabet="ABCDEÉÈÇŒ '-", min_size=1, max_size=20).map(str.strip).filter(bool)


@given(
    birth_name=_name,
    first_names=st.lists(_name.filter(lambda s: "," not in s), max_size=4),
    sex=st.sampled_from(["M", "F"]),
    birth_date=st.dates().map(lambda d: d.isoformat()),
    birth_place=st.none() | st.sampled_from(["2A020", "99255", "63220"]),
    used_name=st.none() | _name,
)
def test_dict_round_trip(birth_name: str, first_names: list[str], sex: str, birth_date: str,
                         birth_place: str | None, used_name: str | None) -> None:
    t = Traits(birth_name, tuple(first_names), sex, birth_date, birth_place, used_name, None)
    assert Traits.from_dict(json.loads(json.dumps(t.to_dict()))) == t


def test_identity_documents_are_the_mission_list_in_order() -> None:
    assert [label for _, label in IDENTITY_DOCUMENTS] == [
        "Passeport (français ou étranger)",
        "Carte Nationale d'Identité (française ou étrangère)",
        "Extrait d'acte de naissance ou livret de famille",
        "Titre ou carte de séjour",
        "Document de demandeur d'asile avec photo",
        "Dispositif numérique d'identification/authentification forte",
    ]
    codes = [code for code, _ in IDENTITY_DOCUMENTS]
    assert len(set(codes)) == len(codes)
    assert all(code.isascii() and code == code.lower() and " " not in code for code in codes)
    assert not set(codes) & set(REFUSED_DOCUMENTS)  # the driving licence is not accepted (rniv.md)


def test_fixed_texts_are_verbatim() -> None:
    assert ATTESTATION_TEXT == (
        "J'atteste déjà connaître l'identité de cette personne et sa correspondance aux traits d'identité "
        "INSi. Cela me permet de partager ses données en toute sécurité"
    )
    assert CONFIRM_LABEL == "Je confirme l'identitovigilance"


def test_actor_defaults() -> None:
    a = Actor(kind="ps", name="Dr Martin")
    assert (a.national_id, a.profession) == (None, None)
    assert Actor("cpe_nominative", "Mme Durand", "00B123", "secrétaire").profession == "secrétaire"
