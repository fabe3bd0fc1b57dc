"""Render an ordonnance to PDF (A4 or A5) with reportlab; CPU-bound, call it in a worker thread.

Page layout, top to bottom: prescriber identity (left) and the two Code 128 barcodes, RPPS then AM
number, caption above and digits in clear under each (right); date; patient identity; the items, in two
zones when some are for the ALD (ordonnance bizone); comments; bottom band with the e-prescription QR
code on the left, its identifier in clear under it (only when the téléservice answered OK), and the
signature on the right. Items that do not fit continue on further pages, each with the full header and,
in a bizone ordonnance, the title of the zone it continues. Without a 2D code the band says so in small
grey print (a fallback, or "Brouillon" for a local draft, which nobody registered). Never an INS
Datamatrix: a pharmacist reads a 2D code next to the e-prescription code as the INS.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from reportlab.lib.pagesizes import A4, A5
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfgen.canvas import Canvas

from plugins.eprescription.barcodes import Symbol, code128, qr_code
from plugins.eprescription.models import (
    ALD_SUBTITLE,
    ALD_TITLE,
    NON_ALD_SUBTITLE,
    NON_ALD_TITLE,
    TEXT,
    Item,
    Prescription,
    TwoDCode,
    item_lines,
)

__all__ = ["TwoDCode", "render_pdf"]

FONT, BOLD, ITALIC = "Helvetica", "Helvetica-Bold", "Helvetica-Oblique"
NO_CODE_TEXT = "Ordonnance sans code 2D (téléservice indisponible)"
DRAFT_TEXT = "Brouillon"
DRAFT_NOTE = "Brouillon : ordonnance non enregistrée, sans code 2D, sans valeur de prescription"
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


@dataclass(frozen=True)
class _Geometry:
    width: float
    height: float
    margin: float
    font_size: float
    bar_module: float  # Code 128 narrowest bar
    bar_height: float
    qr_size: float
    band: float  # bottom band: QR code and signature

    @classmethod
    def for_page(cls, name: str) -> _Geometry:
        if name == "A5":
            w, h = A5
            return cls(w, h, 9 * mm, 8.5, 0.25 * mm, 8 * mm, 22 * mm, 36 * mm)
        w, h = A4
        return cls(w, h, 14 * mm, 10.0, 0.3 * mm, 10 * mm, 28 * mm, 44 * mm)


Draw = Callable[[Canvas, float, float], None]  # (canvas, x, y_top)


@dataclass(frozen=True)
class _Block:
    height: float
    draw: Draw
    zone: str | None = None  # the bizone zone an item belongs to ("ald" / "other"), None outside
    heading: bool = False  # a zone title: a page starting inside its zone repeats it


def decimal_fr(value: float) -> str:
    """9.5 → "9,5" (French decimal comma), 62.0 → "62"."""
    return f"{value:g}".replace(".", ",")


def _date_fr(prescription: Prescription) -> str:
    d = prescription.date
    return f"Le {d.day}{'er' if d.day == 1 else ''} {MONTHS[d.month - 1]} {d.year}"


def _text_block(lines: list[tuple[str, str, float]], leading: float) -> _Block:
    """`lines`: (font, text, indent) already wrapped."""

    def draw(c: Canvas, x: float, y: float) -> None:
        for i, (font, text, indent) in enumerate(lines):
            c.setFont(font, leading / 1.25)
            c.drawString(x + indent, y - leading * (i + 1) + leading * 0.25, text)

    return _Block(leading * len(lines) + leading * 0.3, draw)


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    return simpleSplit(text, font, size, width) or [""]


def _item_block(number: int, item: Item, g: _Geometry, width: float) -> _Block:
    size, leading = g.font_size, g.font_size * 1.25
    head, details = item_lines(item)
    indent = 6 * mm
    lines: list[tuple[str, str, float]] = []
    if item.type == TEXT:
        # A free-text line stands on its own: flush left, not indented as if it detailed the item above.
        lines += [(ITALIC, line, 0.0) for line in _wrap(head, ITALIC, size, width)]
    else:
        first = _wrap(f"{number}. {head}", BOLD, size, width)
        lines += [(BOLD, line, 0.0 if i == 0 else indent) for i, line in enumerate(first)]
        for detail in details:
            lines += [(FONT, line, indent) for line in _wrap(detail, FONT, size, width - indent)]
    return _text_block(lines, leading)


def _zone_title(title: str, subtitle: str, g: _Geometry, width: float, zone: str) -> _Block:
    size = g.font_size
    lines = [(BOLD, line, 0.0) for line in _wrap(title, BOLD, size, width)] + [(FONT, subtitle, 0.0)]
    inner = _text_block(lines, size * 1.25)

    def draw(c: Canvas, x: float, y: float) -> None:
        c.setLineWidth(0.8)
        c.line(x, y - 1, x + width, y - 1)
        inner.draw(c, x, y - 2)

    return _Block(inner.height + 3 * mm, draw, zone=zone, heading=True)


def _continued(title: _Block, g: _Geometry, width: float) -> _Block:
    """The zone title again at the top of a page that continues the zone, marked "(suite)"."""
    mark = _text_block([(ITALIC, "(suite)", 0.0)], g.font_size * 1.1)

    def draw(c: Canvas, x: float, y: float) -> None:
        title.draw(c, x, y)
        mark.draw(c, x, y - title.height + 2 * mm)

    return _Block(title.height + mark.height - 2 * mm, draw, zone=title.zone, heading=True)


def _body(prescription: Prescription, g: _Geometry, width: float) -> list[_Block]:
    blocks: list[_Block] = []
    number = 0

    def items(group: tuple[Item, ...], zone: str | None) -> None:
        nonlocal number
        for item in group:
            number += item.type != TEXT
            block = _item_block(number, item, g, width)
            blocks.append(_Block(block.height, block.draw, zone=zone))

    if prescription.bizone:
        blocks.append(_zone_title(ALD_TITLE, ALD_SUBTITLE, g, width, "ald"))
        items(prescription.ald_items, "ald")
        blocks.append(_zone_title(NON_ALD_TITLE, NON_ALD_SUBTITLE, g, width, "other"))
        items(prescription.other_items, "other")
    else:
        items(prescription.items, None)
    if prescription.comments:
        size = g.font_size
        lines = [(ITALIC, line, 0.0) for line in _wrap(f"Commentaires : {prescription.comments}", ITALIC, size, width)]
        blocks.append(_text_block(lines, size * 1.25))
    return blocks


def _paginate(blocks: list[_Block], available: float, g: _Geometry, width: float) -> list[list[_Block]]:
    """Fill pages in order. A zone title is never left alone at the bottom of a page, and a page that
    starts inside a zone (ordonnance bizone) starts with that zone's title again, "(suite)": the
    pharmacist must know on every page which lines are for the ALD."""
    pages: list[list[_Block]] = [[]]
    used = 0.0
    title: _Block | None = None
    for index, block in enumerate(blocks):
        if block.heading:
            title = block
        follower = blocks[index + 1].height if block.heading and index + 1 < len(blocks) else 0.0
        if pages[-1] and used + block.height + follower > available:
            pages.append([])
            used = 0.0
            if title is not None and not block.heading and block.zone == title.zone:
                again = _continued(title, g, width)
                pages[-1].append(again)
                used += again.height
        pages[-1].append(block)
        used += block.height
    return pages


def _draw_code128(c: Canvas, symbol: Symbol, caption: str, digits: str, x: float, y_top: float, g: _Geometry) -> float:
    """Caption above, bars, digits in clear below; returns the height used."""
    caption_size, digits_size = g.font_size * 0.8, g.font_size * 0.9  # >= 1 mm and >= 2 mm high
    c.setFont(BOLD, caption_size)
    c.drawString(x, y_top - caption_size, caption)
    bars_top = y_top - caption_size * 1.35
    for start, length in symbol.runs(0):
        c.rect(x + start * g.bar_module, bars_top - g.bar_height, length * g.bar_module, g.bar_height,
               stroke=0, fill=1)
    c.setFont(FONT, digits_size)
    c.drawCentredString(x + symbol.width * g.bar_module / 2, bars_top - g.bar_height - digits_size * 1.1, digits)
    return caption_size * 1.35 + g.bar_height + digits_size * 1.5


def _draw_qr(c: Canvas, symbol: Symbol, identifier: str, x: float, y_bottom: float, g: _Geometry) -> None:
    module = g.qr_size / (symbol.width + 8)  # 4-module quiet zone on each side
    text_size = g.font_size * 0.9
    base = y_bottom + text_size * 1.6
    origin_x, origin_y = x + 4 * module, base + 4 * module
    for row in range(symbol.height):
        y = origin_y + (symbol.height - 1 - row) * module
        for start, length in symbol.runs(row):
            c.rect(origin_x + start * module, y, length * module, module, stroke=0, fill=1)
    c.setFont(BOLD, text_size)
    c.drawString(x + 4 * module, y_bottom + text_size * 0.4, identifier)


def _header(c: Canvas, p: Prescription, g: _Geometry, rpps: Symbol, am: Symbol, page: int, pages: int) -> float:
    """Draw the prescriber, the barcodes, the date and the patient; return the y where items start."""
    x, top, size = g.margin, g.height - g.margin, g.font_size
    pr = p.prescriber
    bar_width = max(rpps.width, am.width) * g.bar_module
    text_width = g.width - 2 * g.margin - bar_width - 6 * mm
    y = top
    c.setFont(BOLD, size * 1.3)
    c.drawString(x, y - size * 1.3, pr.display_name)
    y -= size * 1.3 * 1.4
    lines = [pr.profession + (f" — {pr.specialty}" if pr.specialty else ""), *pr.address]
    if pr.phone:
        lines.append(f"Tél. : {pr.phone}")
    c.setFont(FONT, size)
    for line in lines:
        for part in _wrap(line, FONT, size, text_width):
            c.drawString(x, y - size, part)
            y -= size * 1.25
    bx = g.width - g.margin - bar_width
    by = top - _draw_code128(c, rpps, "N° RPPS", pr.rpps, bx, top, g) - 2 * mm
    by -= _draw_code128(c, am, "N° AM", pr.am_number, bx, by, g)
    y = min(y, by) - 3 * mm
    c.setFont(FONT, size)
    c.drawRightString(g.width - g.margin, y - size, _date_fr(p))
    y -= size * 2
    pt = p.patient
    name = f"{pt.last_name} {pt.first_names}"
    if pt.birth_name and pt.used_name and pt.birth_name.upper() != pt.used_name.upper():
        name += f" (né{'e' if pt.sex == 'F' else ''} {pt.birth_name.upper()})"
    c.setFont(BOLD, size * 1.1)
    c.drawString(x, y - size * 1.1, name)
    y -= size * 1.1 * 1.35
    facts = [f"Sexe : {pt.sex}", f"Âge : {pt.age_on(p.date)}"]
    if pt.weight_kg is not None:
        facts.append(f"Poids : {decimal_fr(pt.weight_kg)} kg")
    if pt.height_cm is not None:
        facts.append(f"Taille : {decimal_fr(pt.height_cm)} cm")
    c.setFont(FONT, size)
    c.drawString(x, y - size, " — ".join(facts))
    if pages > 1:
        c.drawRightString(g.width - g.margin, y - size, f"Page {page}/{pages}")
    y -= size * 1.25 + 2 * mm
    c.setLineWidth(0.5)
    c.line(x, y, g.width - g.margin, y)
    return y - 3 * mm


def _no_code_note(c: Canvas, g: _Geometry, draft: bool) -> None:
    """Where the QR code would be, in small grey print: why there is none (discreet, not a warning to the
    patient), or that this is a draft."""
    c.saveState()
    c.setFillGray(0.45)
    c.setFont(ITALIC, g.font_size * 0.75)
    c.drawString(g.margin, g.margin + g.font_size * 0.4, DRAFT_NOTE if draft else NO_CODE_TEXT)
    c.restoreState()


def _draft_mark(c: Canvas, g: _Geometry) -> None:
    """"Brouillon" across the page in light grey: a draft is never mistaken for a prescription."""
    c.saveState()
    c.setFillGray(0.88)
    c.setFont(BOLD, g.font_size * 7)
    c.translate(g.width / 2, g.height / 2)
    c.rotate(35)
    c.drawCentredString(0, 0, DRAFT_TEXT)
    c.restoreState()


def _footer(c: Canvas, p: Prescription, g: _Geometry, code: TwoDCode | None, qr: Symbol | None, last: bool,
            draft: bool) -> None:
    if code is not None and qr is not None:
        _draw_qr(c, qr, code.identifier, g.margin, g.margin, g)
    else:
        _no_code_note(c, g, draft)
    if not last:
        c.setFont(ITALIC, g.font_size * 0.9)
        c.drawRightString(g.width - g.margin, g.margin, "Suite page suivante")
        return
    sig_w, sig_h = 50 * mm if p.page_size == "A4" else 40 * mm, g.band - 12 * mm
    sx = g.width - g.margin - sig_w
    c.setFont(FONT, g.font_size * 0.9)
    c.drawString(sx, g.margin + sig_h + 2 * mm, "Signature du prescripteur")
    if p.signature_png:
        image = ImageReader(io.BytesIO(p.signature_png))
        c.drawImage(image, sx, g.margin, width=sig_w, height=sig_h, preserveAspectRatio=True, anchor="sw",
                    mask="auto")


def render_pdf(prescription: Prescription, code: TwoDCode | None, *, draft: bool = False) -> bytes:
    """The ordonnance as PDF bytes; `code` is None when there must be no 2D code (fallback). `draft`: a
    local rendering nobody registered (`vigie prescription render --local`), marked "Brouillon"."""
    g = _Geometry.for_page(prescription.page_size)
    rpps, am = code128(prescription.prescriber.rpps), code128(prescription.prescriber.am_number)
    qr = qr_code(code.payload) if code is not None else None
    content_width = g.width - 2 * g.margin
    buffer = io.BytesIO()
    c = Canvas(buffer, pagesize=(g.width, g.height), invariant=True, pageCompression=1)
    c.setTitle(f"{'Brouillon d’ordonnance' if draft else 'Ordonnance'} du {prescription.date:%d/%m/%Y}")
    c.setAuthor(prescription.prescriber.display_name)
    c.setCreator("Vigie")
    blocks = _body(prescription, g, content_width)
    # The header height does not depend on the page: measure it on a scratch canvas.
    scratch = Canvas(io.BytesIO(), pagesize=(g.width, g.height))
    items_top = _header(scratch, prescription, g, rpps, am, 1, 2)
    pages = _paginate(blocks, items_top - (g.margin + g.band), g, content_width)
    for index, page in enumerate(pages, start=1):
        if draft:
            _draft_mark(c, g)
        y = _header(c, prescription, g, rpps, am, index, len(pages))
        for block in page:
            block.draw(c, g.margin, y)
            y -= block.height
        _footer(c, prescription, g, code, qr, index == len(pages), draft)
        c.showPage()
    c.save()
    return buffer.getvalue()
