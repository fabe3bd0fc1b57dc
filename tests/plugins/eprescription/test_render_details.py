"""Issue 19 item 15: details of the printed ordonnance, read back with poppler (pdftotext -bbox, pdftoppm)."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from plugins.eprescription.models import ALD_TITLE, NON_ALD_TITLE
from plugins.eprescription.render import DRAFT_NOTE, NO_CODE_TEXT, TwoDCode, render_pdf
from plugins.eprescription.validation import parse_prescription
from tests.plugins.eprescription.conftest import AM, RPPS, decode, pdf_text, rasterise
from tests.ui_support import artifact

CODE = TwoDCode("EP-7K3M9Q2XWT4B8N6C", "EP-7K3M9Q2XWT4B8N6C")
MM = 72 / 25.4  # PDF points per millimetre


def _render(raw: dict[str, Any], code: TwoDCode | None = CODE, **kw: Any) -> bytes:
    return render_pdf(parse_prescription(raw), code, **kw)


def _words(pdf: bytes, tmp_path: Path) -> list[list[tuple[str, float, float]]]:
    """Per page, every word with its left x and top y in points (pdftotext -bbox)."""
    source = tmp_path / "bbox.pdf"
    source.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-bbox", str(source), "-"], check=True, capture_output=True,
                         text=True).stdout
    pages = []
    for page in out.split("<page ")[1:]:
        pages.append([(html.unescape(m[3]), float(m[1]), float(m[2])) for m in
                      re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>([^<]*)</word>', page)])
    return pages


def _x(words: list[tuple[str, float, float]], word: str) -> float:
    return next(x for w, x, _ in words if w == word)


def test_weight_and_height_use_a_decimal_comma(ordonnance: dict[str, Any], tmp_path: Path) -> None:
    ordonnance["patient"].update(weight_kg=9.5, height_cm=72.5)
    text = " ".join(pdf_text(_render(ordonnance), tmp_path).split())
    assert "Poids : 9,5 kg" in text and "Taille : 72,5 cm" in text
    assert "9.5" not in text and "72.5" not in text
    ordonnance["patient"].update(weight_kg=62, height_cm=None)
    del ordonnance["patient"]["height_cm"]
    assert "Poids : 62 kg" in " ".join(pdf_text(_render(ordonnance), tmp_path).split())


def test_free_text_line_is_flush_left_not_under_the_previous_item(ordonnance: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    words = _words(_render(ordonnance), tmp_path)[0]
    number = _x(words, "1.")  # "1. Paracétamol": the left edge of the items
    detail = _x(words, "Durée")  # a detail line, indented under its item
    free = _x(words, "Contrôle")  # "Contrôle TSH dans 6 semaines." follows the amoxicilline item
    assert detail - number == pytest.approx(6 * MM, abs=0.5)
    assert free == pytest.approx(number, abs=0.5)


def test_continuation_pages_repeat_their_ald_zone(ordonnance: dict[str, Any], tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    item = ordonnance["items"][0]
    ordonnance["items"] = ([dict(item, name=f"Traitement ALD {n}", ald=True) for n in range(1, 26)]
                           + [dict(item, name=f"Autre {n}") for n in range(1, 4)])
    pdf = _render(ordonnance)
    (artifact(request, "pages.pdf")).write_bytes(pdf)
    pages = pdf_text(pdf, tmp_path).split("\f")
    pages = [" ".join(p.split()) for p in pages if p.strip()]
    assert len(pages) >= 2
    with_ald = [p for p in pages if "Traitement ALD" in p]
    assert len(with_ald) >= 2
    for page in with_ald:  # every page carrying ALD lines says they are ALD lines, above them
        assert ALD_TITLE in page and page.index(ALD_TITLE) < page.index("Traitement ALD"), page[:300]
    assert "(suite)" not in pages[0] and all("(suite)" in p for p in with_ald[1:])
    # The intercurrent zone comes after the last ALD line, its items under its own title.
    other = next(p for p in pages if NON_ALD_TITLE in p)
    assert other.index(NON_ALD_TITLE) < other.index("Autre 1 ")
    for found in decode(pdf, tmp_path):  # the codes still read on every page
        assert found == sorted([("QRCode", CODE.identifier), ("Code128", RPPS), ("Code128", AM)])


def test_no_zone_title_is_repeated_for_a_plain_ordonnance(ordonnance: dict[str, Any], tmp_path: Path) -> None:
    item = ordonnance["items"][0]
    ordonnance["items"] = [dict(item, name=f"Médicament {n}") for n in range(1, 31)]
    text = " ".join(pdf_text(_render(ordonnance), tmp_path).split())
    assert "affection de longue durée" not in text and "(suite)" not in text


def test_fallback_says_no_2d_code_discreetly(ordonnance: dict[str, Any], tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    pdf = _render(ordonnance, None)
    text = " ".join(pdf_text(pdf, tmp_path).split())
    assert NO_CODE_TEXT == "Ordonnance sans code 2D (téléservice indisponible)"
    assert NO_CODE_TEXT in text and "Brouillon" not in text
    with_code = " ".join(pdf_text(_render(ordonnance), tmp_path).split())
    assert "sans code 2D" not in with_code
    # Discreet: small grey print where the QR code would be (bottom left), nothing black there.
    page = rasterise(pdf, tmp_path, dpi=100)[0]
    page.save(artifact(request, "fallback.png"))
    words = _words(pdf, tmp_path)[0]
    x, y = next((x, y) for w, x, y in words if w == "(téléservice")
    assert y > 0.9 * 842 and x < 595 / 2, (x, y)  # bottom band, left half (A4: 595 x 842 pt)
    scale = 100 / 72
    box = page.crop((int(10 * MM * scale), int((y - 1) * scale), int(x * scale + 80), int((y + 8) * scale)))
    darkest = box.getextrema()[0]
    assert 60 < darkest < 200, darkest  # grey ink, not black


def test_local_draft_says_brouillon(ordonnance: dict[str, Any], tmp_path: Path,
                                    request: pytest.FixtureRequest) -> None:
    pdf = _render(ordonnance, None, draft=True)
    rasterise(pdf, tmp_path, dpi=60)[0].save(artifact(request, "draft.png"))
    text = " ".join(pdf_text(pdf, tmp_path).split())
    assert "Brouillon" in text and DRAFT_NOTE in text
    assert NO_CODE_TEXT not in text  # a draft was never sent to the téléservice: not "indisponible"
    assert decode(pdf, tmp_path)[0] == sorted([("Code128", RPPS), ("Code128", AM)])  # the mark spoils no code
