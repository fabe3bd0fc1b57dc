"""Build a `Prescription` from the LGC's JSON; every problem is reported with its field and a French message.

All problems are collected (not only the first) so the LGC can highlight every wrong field at once.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from datetime import date
from typing import Any

from agent.errors import UserFacingError
from agent.rpc import INVALID_PARAMS
from plugins.eprescription.models import (
    DEVICE,
    ITEM_TYPES,
    MEDICINE,
    NON_SUBSTITUTABLE_REASONS,
    PAGE_SIZES,
    TEXT,
    Item,
    Patient,
    Prescriber,
    Prescription,
)

MAX_ITEMS = 40
MAX_TEXT = 500
MAX_SIGNATURE_BYTES = 512 * 1024
MAX_SIGNATURE_PIXELS = 4_000_000  # a scanned signature at 600 dpi is far below
_PNG = b"\x89PNG\r\n\x1a\n"
_AM = re.compile(r"^(?:\d{2}|2[AB])\d{7}$")


# The French name of each field, for the user: `field` (the JSON path) is for the LGC's developer only.
_GROUPS = {"prescriber": "Prescripteur", "patient": "Patient"}
_NAMES = {
    "prescriber": "prescripteur", "patient": "patient", "items": "lignes de l'ordonnance",
    "date": "date de l'ordonnance", "comments": "commentaires", "page_size": "format de page",
    "signature_png": "signature", "rpps": "N° RPPS", "am_number": "N° AM", "last_name": "nom",
    "first_name": "prénom", "profession": "profession", "specialty": "spécialité", "phone": "téléphone",
    "title": "titre", "address": "adresse", "birth_name": "nom de naissance", "used_name": "nom utilisé",
    "first_names": "prénom", "sex": "sexe", "birth_date": "date de naissance", "age": "âge",
    "weight_kg": "poids", "height_cm": "taille", "identity_id": "identité", "type": "type de ligne",
    "text": "texte", "name": "nom", "dci": "DCI", "dosage": "dosage", "form": "forme", "posology": "posologie",
    "duration": "durée", "quantity": "quantité", "renewals": "renouvellements",
    "non_substitutable": "mention non substituable", "ald": "ALD", "comment": "commentaire",
}
_ITEM = re.compile(r"^items\[(\d+)\](?:\.(\w+))?$")


def field_label(field: str) -> str:
    """`prescriber.rpps` → "Prescripteur, N° RPPS"; `items[0].posology` → "Ligne 1, posologie"."""
    if not field:
        return "Ordonnance"
    item = _ITEM.match(field)
    if item:
        line = f"Ligne {int(item[1]) + 1}"
        return f"{line}, {_NAMES.get(item[2], item[2])}" if item[2] else line
    group, _, key = field.partition(".")
    if key and group in _GROUPS:
        return f"{_GROUPS[group]}, {_NAMES.get(key, key)}"
    name = _NAMES.get(field)
    return name[0].upper() + name[1:] if name else f"Champ « {field} »"


class PrescriptionInvalid(UserFacingError):
    """One sentence for the user (the first problems, with French field names), every problem in
    `data.errors` as `{field, label, message}` for an LGC that highlights its form's fields."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        errors = [{**e, "label": field_label(e["field"])} for e in errors]
        shown = " ; ".join(f"{e['label']} : {e['message'].rstrip('.')}" for e in errors[:3])
        more = f" (et {len(errors) - 3} autre(s))" if len(errors) > 3 else ""
        super().__init__(f"Ordonnance incomplète ou invalide — {shown}{more}.", code=INVALID_PARAMS,
                         data={"errors": errors})
        self.errors = errors


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class _Reader:
    """Collects errors while reading fields of nested JSON objects."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def error(self, field: str, message: str) -> None:
        self.errors.append({"field": field, "message": message})

    def text(self, obj: dict[str, Any], key: str, path: str, label: str, *, required: bool = False,
             max_len: int = MAX_TEXT) -> str | None:
        value = obj.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.error(f"{path}{key}", f"{label} est obligatoire.")
            return None
        if not isinstance(value, str):
            self.error(f"{path}{key}", f"{label} doit être du texte.")
            return None
        value = " ".join(value.split())
        if len(value) > max_len:
            self.error(f"{path}{key}", f"{label} dépasse {max_len} caractères.")
            return None
        return value

    def obj(self, raw: dict[str, Any], key: str, label: str) -> dict[str, Any]:
        value = raw.get(key)
        if not isinstance(value, dict):
            self.error(key, f"{label} est obligatoire.")
            return {}
        return value

    def date(self, obj: dict[str, Any], key: str, path: str, label: str) -> date | None:
        value = obj.get(key)
        if value is None:
            return None
        try:
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.error(f"{path}{key}", f"{label} doit être une date AAAA-MM-JJ valide.")
            return None

    def number(self, obj: dict[str, Any], key: str, path: str, label: str, low: float, high: float) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
            self.error(f"{path}{key}", f"{label} doit être un nombre entre {low:g} et {high:g}.")
            return None
        return float(value)


def _prescriber(r: _Reader, raw: dict[str, Any]) -> Prescriber | None:
    p = r.obj(raw, "prescriber", "Le prescripteur")
    if not p:
        return None
    path = "prescriber."
    last = r.text(p, "last_name", path, "Le nom du prescripteur", required=True, max_len=100)
    first = r.text(p, "first_name", path, "Le prénom du prescripteur", required=True, max_len=100)
    profession = r.text(p, "profession", path, "La profession du prescripteur", required=True, max_len=100)
    specialty = r.text(p, "specialty", path, "La spécialité", max_len=100)
    phone = r.text(p, "phone", path, "Le téléphone", max_len=30)
    title = r.text(p, "title", path, "Le titre", max_len=20)
    rpps = p.get("rpps")
    if not isinstance(rpps, str) or not rpps.strip():
        r.error(path + "rpps", "Le numéro RPPS du prescripteur est obligatoire.")
        rpps = None
    elif not re.fullmatch(r"\d{11}", rpps := rpps.strip()):
        r.error(path + "rpps", "Le numéro RPPS doit comporter 11 chiffres.")
        rpps = None
    elif not luhn_ok(rpps):
        r.error(path + "rpps", "Le numéro RPPS est erroné (clé de contrôle invalide).")
        rpps = None
    am = p.get("am_number")
    if not isinstance(am, str) or not am.strip():
        r.error(path + "am_number", "Le numéro d'Assurance Maladie (N° AM) du cabinet est obligatoire.")
        am = None
    elif not _AM.fullmatch(am := am.strip().upper()):
        r.error(path + "am_number", "Le N° AM doit comporter 9 caractères (département puis chiffres).")
        am = None
    address_raw = p.get("address")
    address: tuple[str, ...] = ()
    if isinstance(address_raw, str) and address_raw.strip():
        address = tuple(line.strip() for line in address_raw.splitlines() if line.strip())
    elif isinstance(address_raw, list) and address_raw and all(isinstance(x, str) and x.strip() for x in address_raw):
        address = tuple(x.strip() for x in address_raw)
    else:
        r.error(path + "address", "L'adresse du prescripteur est obligatoire.")
    if len(address) > 4 or any(len(line) > 100 for line in address):
        r.error(path + "address", "L'adresse tient en 4 lignes de 100 caractères au plus.")
    if None in (last, first, profession, rpps, am) or not address:
        return None
    assert last and first and profession and rpps and am
    return Prescriber(last_name=last, first_name=first, profession=profession, rpps=rpps, am_number=am,
                      address=address, specialty=specialty, phone=phone, title=title if title is not None else "Dr")


def _patient(r: _Reader, raw: dict[str, Any], today: date) -> Patient | None:
    p = r.obj(raw, "patient", "Le patient")
    if not p:
        return None
    path = "patient."
    before = len(r.errors)
    birth_name = r.text(p, "birth_name", path, "Le nom de naissance", max_len=100)
    used_name = r.text(p, "used_name", path, "Le nom utilisé", max_len=100)
    if not birth_name and not used_name and len(r.errors) == before:
        r.error(path + "birth_name", "Le nom du patient (de naissance ou utilisé) est obligatoire.")
    first = p.get("first_names")
    if isinstance(first, list):
        first = " ".join(x for x in first if isinstance(x, str))
    first_names = r.text({"first_names": first}, "first_names", path, "Le prénom du patient", required=True,
                         max_len=200)
    sex = p.get("sex")
    if sex not in ("F", "M"):
        r.error(path + "sex", "Le sexe du patient est obligatoire (F ou M).")
    birth_date = r.date(p, "birth_date", path, "La date de naissance")
    if birth_date is not None and birth_date > today:
        r.error(path + "birth_date", "La date de naissance est dans le futur.")
    before = len(r.errors)
    age = r.text(p, "age", path, "L'âge", max_len=20)
    if birth_date is None and age is None and len(r.errors) == before and p.get("birth_date") is None:
        r.error(path + "birth_date", "L'âge ou la date de naissance du patient est obligatoire.")
    weight = r.number(p, "weight_kg", path, "Le poids (kg)", 0, 400)
    height = r.number(p, "height_cm", path, "La taille (cm)", 0, 260)
    identity_id = r.text(p, "identity_id", path, "L'identifiant d'identité", max_len=64)
    if not (birth_name or used_name) or not first_names or sex not in ("F", "M") or not (birth_date or age):
        return None
    assert first_names and isinstance(sex, str)
    return Patient(first_names=first_names, sex=sex, birth_name=birth_name, used_name=used_name,
                   birth_date=birth_date, age=age, weight_kg=weight, height_cm=height, identity_id=identity_id)


def _item(r: _Reader, raw: Any, index: int) -> Item | None:
    path = f"items[{index}]."
    if not isinstance(raw, dict):
        r.error(f"items[{index}]", "Chaque ligne doit être un objet.")
        return None
    kind = raw.get("type")
    if kind not in ITEM_TYPES:
        r.error(path + "type", "Le type de ligne doit être « medicine », « device » ou « text ».")
        return None
    before = len(r.errors)
    ald = raw.get("ald", False)
    if not isinstance(ald, bool):
        r.error(path + "ald", "« ald » doit valoir true ou false.")
    if kind == TEXT:
        text = r.text(raw, "text", path, "Le texte de la ligne", required=True)
        return None if len(r.errors) > before else Item(type=TEXT, name=text or "", ald=ald is True)
    name = r.text(raw, "name", path, "Le nom", max_len=200)
    dci = r.text(raw, "dci", path, "La DCI", max_len=200)
    if not name and not dci:
        what = "du médicament (nom ou DCI)" if kind == MEDICINE else "du dispositif médical"
        r.error(path + "name", f"Le nom {what} est obligatoire.")
    posology = r.text(raw, "posology", path, "La posologie")
    duration = r.text(raw, "duration", path, "La durée", max_len=100)
    quantity = r.text(raw, "quantity", path, "La quantité", max_len=100)
    if kind == MEDICINE and not posology:
        r.error(path + "posology", "La posologie du médicament est obligatoire.")
    if not duration and not quantity:
        r.error(path + "duration", "La durée du traitement ou le nombre de conditionnements est obligatoire.")
    renewals = raw.get("renewals", 0)
    if isinstance(renewals, bool) or not isinstance(renewals, int) or not 0 <= renewals <= 12:
        r.error(path + "renewals", "Le nombre de renouvellements doit être un entier de 0 à 12.")
        renewals = 0
    ns = raw.get("non_substitutable")
    if ns is not None and ns not in NON_SUBSTITUTABLE_REASONS:
        r.error(path + "non_substitutable", "La mention « non substituable » doit être justifiée : MTE, EFG ou CIF.")
    if kind == DEVICE and ns is not None:
        r.error(path + "non_substitutable", "La mention « non substituable » ne concerne que les médicaments.")
    item = Item(type=kind, name=name or dci or "", dci=dci if name else None,
                dosage=r.text(raw, "dosage", path, "Le dosage", max_len=100),
                form=r.text(raw, "form", path, "La forme", max_len=100), posology=posology, duration=duration,
                quantity=quantity, renewals=renewals, non_substitutable=ns, ald=ald is True,
                comment=r.text(raw, "comment", path, "Le commentaire"))
    return None if len(r.errors) > before else item


def _signature_problem(png: bytes) -> str | None:
    """Decode the signature now (a few ms, in the caller's worker thread): a PNG that only starts right, or
    whose few hundred KB inflate to gigabytes, must be refused here, before the téléservice registers the
    ordonnance, not fail the rendering afterwards."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.width * image.height > MAX_SIGNATURE_PIXELS:
                return "L'image de signature est trop grande (4 millions de pixels au plus)."
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        return "La signature doit être une image PNG lisible (fichier endommagé)."
    return None


def parse_prescription(raw: Any, *, today: date | None = None) -> Prescription:
    """Validate `raw` (the JSON of `prescription.create` / the CLI file); raise `PrescriptionInvalid`."""
    today = today or date.today()
    if not isinstance(raw, dict):
        raise PrescriptionInvalid([{"field": "", "message": "L'ordonnance doit être un objet JSON."}])
    r = _Reader()
    prescriber = _prescriber(r, raw)
    patient = _patient(r, raw, today)
    items_raw = raw.get("items")
    items: list[Item] = []
    if not isinstance(items_raw, list) or not items_raw:
        r.error("items", "L'ordonnance doit comporter au moins une ligne.")
    elif len(items_raw) > MAX_ITEMS:
        r.error("items", f"L'ordonnance comporte plus de {MAX_ITEMS} lignes.")
    else:
        items = [it for i, x in enumerate(items_raw) if (it := _item(r, x, i)) is not None]
        if items and all(it.type == TEXT for it in items) and len(items) == len(items_raw):
            r.error("items", "L'ordonnance doit prescrire au moins un médicament ou un dispositif médical.")
    day = r.date(raw, "date", "", "La date de l'ordonnance") if "date" in raw else today
    if day is not None and day > today:
        r.error("date", "La date de l'ordonnance ne peut pas être dans le futur.")
    comments = r.text(raw, "comments", "", "Le commentaire", max_len=2000)
    page_size = raw.get("page_size", "A4")
    if page_size not in PAGE_SIZES:
        r.error("page_size", "Le format doit être « A4 » ou « A5 ».")
    signature = None
    if raw.get("signature_png") is not None:
        try:
            signature = base64.b64decode(raw["signature_png"], validate=True)
            if not signature.startswith(_PNG):
                raise ValueError
            if len(signature) > MAX_SIGNATURE_BYTES:
                r.error("signature_png", "L'image de signature dépasse 512 Ko.")
            elif (problem := _signature_problem(signature)) is not None:
                r.error("signature_png", problem)
        except (binascii.Error, ValueError, TypeError):
            r.error("signature_png", "La signature doit être une image PNG encodée en base64.")
    unknown = set(raw) - {"prescriber", "patient", "items", "date", "comments", "signature_png", "page_size"}
    for key in sorted(unknown):
        r.error(key, "Champ inconnu.")
    if r.errors or prescriber is None or patient is None or day is None:
        raise PrescriptionInvalid(r.errors or [{"field": "", "message": "Ordonnance invalide."}])
    return Prescription(prescriber=prescriber, patient=patient, items=tuple(items), date=day, comments=comments,
                        signature_png=signature, page_size=str(page_size))
