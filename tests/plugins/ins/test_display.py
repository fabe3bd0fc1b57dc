"""Trait values as a practitioner reads them (plugins/ins/display.py) and the shipped COG table."""

from __future__ import annotations

import pytest

from plugins.ins.display import (
    date_label,
    ins_type,
    load_communes,
    place_label,
    scan_message,
    sex_label,
    value_label,
)


@pytest.mark.parametrize(("value", "shown"), [
    ("1997-02-26", "26/02/1997"),
    ("1975-03-00", "00/03/1975 (date lunaire : jour inconnu)"),
    ("1975-00-12", "12/00/1975 (date lunaire : mois inconnu)"),
    ("1975-00-00", "00/00/1975 (date lunaire : jour et mois inconnus)"),
    ("1980-02-30", "30/02/1980 (date lunaire : ce jour n'existe pas au calendrier)"),
    ("31/12/1975", "31/12/1975"),  # not INSi's form: shown as given, never guessed
    (None, None),
])
def test_display_dates(value: str | None, shown: str | None) -> None:
    assert date_label(value) == shown


def test_display_sex_and_types() -> None:
    shown = (sex_label("F"), sex_label("M"), sex_label("m"), sex_label(None))
    assert shown == ("Féminin", "Masculin", "Masculin", None)
    assert ins_type("1.2.250.1.213.1.4.8") == "NIR" and ins_type("1.2.250.1.213.1.4.9") == "NIA"
    assert ins_type("1.2.3") == "type inconnu"


@pytest.mark.parametrize(("code", "shown"), [
    ("2A004", "Ajaccio (2A004)"),
    ("2B033", "Bastia (2B033)"),
    ("75056", "Paris (75056)"),
    ("75112", "Paris 12e Arrondissement (75112)"),
    ("97411", "Saint-Denis (97411)"),
    ("20004", "Ajaccio (20004)"),  # Corsica's code before 1976, a former code of Ajaccio
    ("99255", "Né(e) à l'étranger (code pays 99255)"),
    ("2A020", "Commune inconnue de la table COG (2A020)"),  # the INSi test book's code is no real commune
])
def test_display_birth_place_from_the_cog_table(code: str, shown: str) -> None:
    assert place_label(code) == shown


def test_display_cog_table_is_the_whole_country() -> None:
    communes = load_communes()
    assert len(communes) > 35_000
    assert all(len(code) == 5 for code in communes)


def test_display_value_label_per_field() -> None:
    assert value_label("first_names", ["PIERRE", "PAUL"]) == "PIERRE PAUL"
    assert value_label("birth_place", None) is None and value_label("used_name", "") is None
    assert value_label("birth_name", "DE VINCI") == "DE VINCI"


def test_display_scan_message() -> None:
    assert scan_message("QUAL") == "Datamatrix INS lu : ce patient a déjà une identité qualifiée, rien à faire."
    assert scan_message("PROV") == "Datamatrix INS lu : recherche INSi en cours."
