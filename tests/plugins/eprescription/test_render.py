"""The printed ordonnance, read back as a pharmacist's scanner and eyes would: pdftoppm + zxing-cpp, pdftotext."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from plugins.eprescription.models import ALD_TITLE, NON_ALD_TITLE
from plugins.eprescription.render import TwoDCode, render_pdf
from plugins.eprescription.validation import parse_prescription
from tests.plugins.eprescription.conftest import AM, RPPS, decode, pdf_text

CODE = TwoDCode("EP-7K3M9Q2XWT4B8N6C", "EP-7K3M9Q2XWT4B8N6C")


def _render(raw: dict[str, Any], code: TwoDCode | None = CODE) -> bytes:
    return render_pdf(parse_prescription(raw), code)


@pytest.mark.parametrize("page_size", ["A4", "A5"])
def test_render_qr_gives_back_identifier_and_code128_give_rpps_and_am(ordonnance: dict[str, Any], tmp_path: Path,
                                                                       page_size: str) -> None:
    ordonnance["page_size"] = page_size
    pages = decode(_render(ordonnance), tmp_path)
    assert pages == [sorted([("QRCode", CODE.identifier), ("Code128", RPPS), ("Code128", AM)])]


def test_render_qr_payload_may_differ_from_printed_identifier(ordonnance: dict[str, Any], tmp_path: Path) -> None:
    # Both are opaque strings from the téléservice: the QR carries the payload, the text the identifier.
    code = TwoDCode("ORD 1234 5678", "https://ordo.example/v1?id=12345678&k=AB")
    pdf = _render(ordonnance, code)
    assert ("QRCode", code.payload) in decode(pdf, tmp_path)[0]
    assert "ORD 1234 5678" in pdf_text(pdf, tmp_path)


def test_render_without_code_has_no_2d_code_at_all(ordonnance: dict[str, Any], tmp_path: Path) -> None:
    pdf = _render(ordonnance, None)
    found = decode(pdf, tmp_path)[0]
    assert found == sorted([("Code128", RPPS), ("Code128", AM)])  # the legal barcodes stay
    assert "EP-" not in pdf_text(pdf, tmp_path)


def test_render_pdf_text_has_the_mandatory_mentions(ordonnance: dict[str, Any], tmp_path: Path) -> None:
    text = pdf_text(_render(ordonnance), tmp_path)
    flat = " ".join(text.split())
    for mention in ("Dr Marie DURAND", "Médecin — Médecine générale", "12 rue des Lilas", "75011 Paris",
                    "Tél. : 01 23 45 67 89", "N° RPPS", RPPS, "N° AM", AM, "Le 2 novembre 2026",
                    "LEROY Claire Anne (née MARTIN)", "Sexe : F", "Âge : 42 ans", "Poids : 62 kg",
                    "1. Paracétamol 1 g comprimé", "1 comprimé jusqu'à 3 fois par jour si douleur", "Durée : 5 jours",
                    "À renouveler 2 fois", "Non substituable (MTE)", "Lecteur de glycémie — dispositif médical",
                    "4. amoxicilline 1 g comprimé", "Quantité : 1 boîte de 12", "Contrôle TSH dans 6 semaines.",
                    "Revoir en consultation si fièvre persistante.", "Signature du prescripteur", CODE.identifier):
        assert mention in flat, mention
    # Captions above their barcode's digits (arrêté du 10 août 2010).
    lines = text.splitlines()
    caption = next(i for i, line in enumerate(lines) if "N° RPPS" in line)
    digits = next(i for i, line in enumerate(lines) if RPPS in line)
    assert caption < digits


def test_render_bizone_only_with_ald_items(ordonnance: dict[str, Any], tmp_path: Path) -> None:
    plain = " ".join(pdf_text(_render(ordonnance), tmp_path).split())
    assert "affection de longue durée" not in plain and "AFFECTION EXONÉRANTE" not in plain

    ordonnance["items"][1]["ald"] = True
    ordonnance["items"][2]["ald"] = True
    text = " ".join(pdf_text(_render(ordonnance), tmp_path).split())
    assert ALD_TITLE in text and "(AFFECTION EXONÉRANTE)" in text
    assert NON_ALD_TITLE in text and "(MALADIES INTERCURRENTES)" in text
    upper, lower = text.index(ALD_TITLE), text.index(NON_ALD_TITLE)
    # ALD items in the upper zone, the others under "SANS RAPPORT", numbering running through both.
    assert upper < text.index("1. Lévothyroxine") < text.index("2. Lecteur de glycémie") < lower
    assert lower < text.index("3. Paracétamol") < text.index("4. amoxicilline")


def test_render_long_ordonnance_continues_on_pages_with_codes_on_each(ordonnance: dict[str, Any],
                                                                      tmp_path: Path) -> None:
    item = ordonnance["items"][0]
    ordonnance["items"] = [dict(item, name=f"Médicament {n}") for n in range(1, 31)]
    pdf = _render(ordonnance)
    pages = decode(pdf, tmp_path)
    assert len(pages) >= 2
    for found in pages:  # header barcodes and the QR code on every page
        assert found == sorted([("QRCode", CODE.identifier), ("Code128", RPPS), ("Code128", AM)])
    text = pdf_text(pdf, tmp_path)
    assert "Page 1/" in text and "Suite page suivante" in text
    assert all(f"{n}. Médicament {n} " in " ".join(text.split()) + " " for n in range(1, 31))


def test_render_signature_image_is_drawn(ordonnance: dict[str, Any], tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("L", (300, 120), 0).save(buf, format="PNG")  # a black block: easy to find on the page
    ordonnance["signature_png"] = base64.b64encode(buf.getvalue()).decode()
    with_sig = _render(ordonnance)
    del ordonnance["signature_png"]
    without = _render(ordonnance)
    assert re.search(rb"/Subtype\s*/Image", with_sig) and not re.search(rb"/Subtype\s*/Image", without)
