"""Malformed ordonnances are refused with the field and a precise French message; nothing is guessed."""

from __future__ import annotations

import base64
import io
from datetime import date
from typing import Any

import pytest
from PIL import Image

from agent.rpc import INVALID_PARAMS
from plugins.eprescription.validation import PrescriptionInvalid, luhn_ok, parse_prescription

TODAY = date(2026, 11, 29)


def _png(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def _errors(raw: Any) -> dict[str, str]:
    with pytest.raises(PrescriptionInvalid) as info:
        parse_prescription(raw, today=TODAY)
    assert info.value.code == INVALID_PARAMS
    return {e["field"]: e["message"] for e in info.value.errors}


def test_validation_accepts_the_sample(ordonnance: dict[str, Any]) -> None:
    p = parse_prescription(ordonnance, today=TODAY)
    assert [i.type for i in p.items] == ["medicine", "medicine", "device", "medicine", "text"]
    assert p.items[3].name == "amoxicilline" and p.items[3].dci is None  # DCI alone is the name
    assert p.patient.age_on(p.date) == "42 ans" and not p.bizone and p.page_size == "A4"


def test_validation_luhn_rpps() -> None:
    assert luhn_ok("10000123454") and not luhn_ok("10000123455")


@pytest.mark.parametrize(("mutate", "field", "message"), [
    (lambda r: r["prescriber"].update(rpps="1000012345"), "prescriber.rpps",
     "Le numéro RPPS doit comporter 11 chiffres."),
    (lambda r: r["prescriber"].update(rpps="10000123455"), "prescriber.rpps",
     "Le numéro RPPS est erroné (clé de contrôle invalide)."),
    (lambda r: r["prescriber"].pop("rpps"), "prescriber.rpps", "Le numéro RPPS du prescripteur est obligatoire."),
    (lambda r: r["prescriber"].update(am_number="75-123"), "prescriber.am_number",
     "Le N° AM doit comporter 9 caractères (département puis chiffres)."),
    (lambda r: r["prescriber"].update(address=[]), "prescriber.address", "L'adresse du prescripteur est obligatoire."),
    (lambda r: r["patient"].pop("sex"), "patient.sex", "Le sexe du patient est obligatoire (F ou M)."),
    (lambda r: r["patient"].pop("birth_date"), "patient.birth_date",
     "L'âge ou la date de naissance du patient est obligatoire."),
    (lambda r: r["patient"].update(birth_date="15/06/1984"), "patient.birth_date",
     "La date de naissance doit être une date AAAA-MM-JJ valide."),
    (lambda r: r["patient"].update(weight_kg=-3), "patient.weight_kg",
     "Le poids (kg) doit être un nombre entre 0 et 400."),
    (lambda r: (r["patient"].pop("birth_name"), r["patient"].pop("used_name")), "patient.birth_name",
     "Le nom du patient (de naissance ou utilisé) est obligatoire."),
    (lambda r: r["items"][0].pop("posology"), "items[0].posology", "La posologie du médicament est obligatoire."),
    (lambda r: r["items"][0].pop("duration"), "items[0].duration",
     "La durée du traitement ou le nombre de conditionnements est obligatoire."),
    (lambda r: r["items"][1].update(non_substitutable=True), "items[1].non_substitutable",
     "La mention « non substituable » doit être justifiée : MTE, EFG ou CIF."),
    (lambda r: r["items"][1].update(renewals=13), "items[1].renewals",
     "Le nombre de renouvellements doit être un entier de 0 à 12."),
    (lambda r: r["items"][2].pop("name"), "items[2].name", "Le nom du dispositif médical est obligatoire."),
    (lambda r: r["items"][4].update(type="biologie"), "items[4].type",
     "Le type de ligne doit être « medicine », « device » ou « text »."),
    (lambda r: r.update(items=[]), "items", "L'ordonnance doit comporter au moins une ligne."),
    (lambda r: r.update(items=[{"type": "text", "text": "Repos"}]), "items",
     "L'ordonnance doit prescrire au moins un médicament ou un dispositif médical."),
    (lambda r: r.update(date="2027-01-01"), "date", "La date de l'ordonnance ne peut pas être dans le futur."),
    (lambda r: r.update(page_size="Letter"), "page_size", "Le format doit être « A4 » ou « A5 »."),
    (lambda r: r.update(signature_png="bm90IGEgcG5n"), "signature_png",
     "La signature doit être une image PNG encodée en base64."),
    (lambda r: r.update(patient_ins="1840675123456"), "patient_ins", "Champ inconnu."),
    (lambda r: r.update(signature_png=base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()),
     "signature_png", "La signature doit être une image PNG lisible (fichier endommagé)."),
    (lambda r: r.update(signature_png=_png(Image.new("1", (5000, 5000), 1))), "signature_png",
     "L'image de signature est trop grande (4 millions de pixels au plus)."),
])
def test_validation_refuses_with_precise_message(ordonnance: dict[str, Any], mutate: Any, field: str,
                                                 message: str) -> None:
    mutate(ordonnance)
    assert _errors(ordonnance) == {field: message}


def test_validation_reports_every_problem_at_once(ordonnance: dict[str, Any]) -> None:
    ordonnance["prescriber"]["rpps"] = "123"
    ordonnance["items"][0].pop("posology")
    ordonnance["items"][3].pop("quantity")
    errors = _errors(ordonnance)
    assert set(errors) == {"prescriber.rpps", "items[0].posology", "items[3].duration"}
    with pytest.raises(PrescriptionInvalid) as info:
        parse_prescription(ordonnance, today=TODAY)
    # Issue 19 item 6: French field names, each problem once, no stray "..".
    assert info.value.message == (
        "Ordonnance incomplète ou invalide — Prescripteur, N° RPPS : Le numéro RPPS doit comporter 11 chiffres ; "
        "Ligne 1, posologie : La posologie du médicament est obligatoire ; Ligne 4, durée : La durée du traitement "
        "ou le nombre de conditionnements est obligatoire.")
    assert [e["label"] for e in info.value.errors] == ["Prescripteur, N° RPPS", "Ligne 1, posologie",
                                                       "Ligne 4, durée"]


def test_validation_refuses_non_objects() -> None:
    assert _errors(["not", "an", "object"]) == {"": "L'ordonnance doit être un objet JSON."}
    assert set(_errors({})) == {"prescriber", "patient", "items"}
