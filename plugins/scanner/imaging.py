"""Find and decode the 2D codes of an image or a PDF (blocking: call it in a worker thread).

zxing-cpp first (hardware.md B6: faster and far more robust on noisy pages), reading raw bytes so GS
survives (its default HRI text turns GS into the four characters `<GS>`), except for a symbol with ECI
segments, whose character set only zxing-cpp's text applies (returned as UTF-8). pylibdmtx (libdmtx) is the
fallback for DataMatrix only, always with a time limit: on a noisy page it can otherwise run for
tens of seconds. PDFs are rasterised page by page at 300 dpi with pdfium (pypdfium2: a wheel on every
OS, no external program). On a scanned A4 letter the INS cartouche is a small symbol on a large page:
the whole page is tried first (zxing-cpp also searches downscaled copies), then overlapping tiles at
full resolution, then libdmtx. One deadline bounds the whole file: pages are rendered one at a time and
the deadline is checked between pages, tiles and the fallback.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

PDF_DPI = 300
MAX_PAGES = 20
MAX_PIXELS = 60_000_000  # ~ A3 at 600 dpi; Pillow's decompression-bomb guard with our own limit
MAX_FILE_BYTES = 50 * 1024 * 1024  # a local file (`vigie scan`, admin `scan.image` path): a long scanned PDF
DEADLINE_FACTOR = 4  # the whole file (every page, tile and fallback) gets this many times the per-page timeout
PDF_PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD
TOO_BIG = "Image trop grande pour être analysée (format A3 à 600 dpi au plus)."


class ImageError(ValueError):
    """The file cannot be read as an image or a PDF (French message)."""


@dataclass(frozen=True)
class Decoded:
    data: bytes
    format: str  # "DataMatrix", "QRCode"
    decoder: str  # "zxing-cpp" | "libdmtx"
    page: int  # 1-based page (1 for an image)


def load_pages(data: bytes, dpi: int = PDF_DPI) -> list[Image.Image]:
    return list(iter_pages(data, dpi))


def iter_pages(data: bytes, dpi: int = PDF_DPI) -> Iterator[Image.Image]:
    """The pages, each rendered only when asked for (a deadline can stop before the next one)."""
    if data[:5] == b"%PDF-":
        yield from _pdf_pages(data, dpi)
        return
    yield _image(data)


def _image(data: bytes) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = Image.open(io.BytesIO(data))
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse from the header, before decoding.
        if image.width * image.height > MAX_PIXELS:
            raise ImageError(TOO_BIG)
        image.load()
    except Image.DecompressionBombError as exc:  # above twice the limit Pillow refuses at open: the same case
        raise ImageError(TOO_BIG) from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError("Fichier illisible : une image PNG ou JPEG, ou un PDF, est attendu.") from exc
    return ImageOps.exif_transpose(image) or image


def _pdf_pages(data: bytes, dpi: int) -> Iterator[Image.Image]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == PDF_PASSWORD_ERROR:
            raise ImageError("PDF protégé par un mot de passe : enregistrez-le sans mot de passe.") from exc
        # pdfium also refuses a document whose page tree is empty (with its "success" code).
        raise ImageError("PDF illisible ou sans page.") from exc
    try:
        if len(pdf) == 0:
            raise ImageError("PDF illisible ou sans page.")
        if len(pdf) > MAX_PAGES:
            raise ImageError(f"PDF trop long : {MAX_PAGES} pages au plus.")
        # A few bytes of PDF can declare a page of several square metres: bound the bitmap before rendering
        # it, as Pillow's guard does for images.
        for i in range(len(pdf)):
            width, height = pdf[i].get_size()  # points (1/72 inch)
            if width * height * (dpi / 72) ** 2 > MAX_PIXELS:
                raise ImageError(f"Page {i + 1} du PDF trop grande pour être analysée (format A3 au plus).")
        for i in range(len(pdf)):
            yield pdf[i].render(scale=dpi / 72, grayscale=True).to_pil()
    finally:
        pdf.close()


def page_count(data: bytes) -> int:
    if data[:5] != b"%PDF-":
        return 1
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return len(pdf)
    finally:
        pdf.close()


def _zxing(image: Image.Image) -> list[tuple[bytes, str]]:
    import zxingcpp

    formats = zxingcpp.BarcodeFormats([zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.QRCode])
    # HexECI: the content with its symbology identifier and ECI designators, to see whether an ECI is there.
    found = [r for r in zxingcpp.read_barcodes(image, formats=formats, text_mode=zxingcpp.TextMode.HexECI)
             if r.valid]
    out = []
    for r in found:
        if _has_eci(r.text):
            # The raw bytes lose the character set an ECI segment names (ISO-8859-7 0xA4 is "€", ISO-8859-1
            # 0xA4 "¤"): zxing-cpp's text applies it. Read again for it (rare: INS codes are plain ASCII).
            text = next((t.text for t in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats([r.format]),
                                                                text_mode=zxingcpp.TextMode.Plain)
                         if t.valid and bytes(t.bytes) == bytes(r.bytes)), None)
            if text is not None:
                out.append((text.encode("utf-8"), r.format.name))
                continue
        out.append((bytes(r.bytes), r.format.name))
    return out


def _has_eci(hex_eci: str) -> bool:
    """True when the HexECI content carries an ECI designator: a backslash and six digits right after the
    three-character symbology identifier (a backslash in the data itself is doubled in that mode)."""
    try:
        raw = bytes.fromhex(hex_eci)
    except ValueError:
        return False
    body = raw[3:] if raw[:1] == b"]" else raw
    return len(body) >= 7 and body[:1] == b"\\" and body[1:7].isdigit()


def _libdmtx(image: Image.Image, timeout: float) -> list[bytes]:
    from pylibdmtx import pylibdmtx

    found = pylibdmtx.decode(image, timeout=max(1, int(timeout * 1000)), max_count=1)
    return [bytes(r.data) for r in found]


def _tiles(image: Image.Image, columns: int = 2, rows: int = 3) -> list[Image.Image]:
    """Overlapping tiles (each 1/columns wide + 30 %) so a symbol on a boundary is whole in one of them."""
    width, height = image.size
    tw, th = int(width / columns * 1.3), int(height / rows * 1.3)
    tiles = []
    for r in range(rows):
        for c in range(columns):
            left = min(int(c * width / columns), max(0, width - tw))
            top = min(int(r * height / rows), max(0, height - th))
            tiles.append(image.crop((left, top, min(width, left + tw), min(height, top + th))))
    return tiles


class _Deadline(Exception):
    pass


def decode_image(image: Image.Image, *, timeout: float = 1.5, page: int = 1,
                 deadline: float | None = None) -> list[Decoded]:
    """The codes of one page; `deadline` (time.monotonic()) is checked between steps (whole page, tiles,
    libdmtx) and raises _Deadline when it has passed."""

    def check() -> None:
        if deadline is not None and time.monotonic() >= deadline:
            raise _Deadline

    gray = image.convert("L")
    found = _zxing(gray)
    if not found and max(gray.size) > 1600:
        for tile in _tiles(gray):
            check()
            found = _zxing(tile)
            if found:
                break
    if found:
        unique = list(dict.fromkeys(found))
        return [Decoded(data, fmt, "zxing-cpp", page) for data, fmt in unique]
    check()
    if deadline is not None:
        timeout = min(timeout, deadline - time.monotonic())
    return [Decoded(data, "DataMatrix", "libdmtx", page) for data in _libdmtx(gray, max(0.05, timeout))]


def decode_bytes(data: bytes, *, timeout: float = 1.5) -> list[Decoded]:
    """Every code of every page; `timeout` bounds the libdmtx fallback per page, DEADLINE_FACTOR times it the
    whole file (rendering, every page and tile). Past it: what was found, else ImageError."""
    out: list[Decoded] = []
    deadline = time.monotonic() + timeout * DEADLINE_FACTOR
    completed = 0  # pages looked at in full
    try:
        for number, page in enumerate(iter_pages(data), start=1):
            out.extend(decode_image(page, timeout=timeout, page=number, deadline=deadline))
            completed = number
            if time.monotonic() >= deadline:
                raise _Deadline
    except _Deadline:
        total = page_count(data)
        if out or completed >= total:
            return out  # what was found, or every page looked at in full just in time
        if total == 1:
            raise ImageError("Analyse trop longue : aucun code trouvé dans le temps imparti ; recadrez l'image "
                             "sur le code.") from None
        raise ImageError(f"Analyse trop longue : aucun code trouvé dans les {completed} première(s) page(s) sur "
                         f"{total} ; envoyez seulement la page qui porte le code.") from None
    return out


def decode_path(path: Path | str, *, timeout: float = 1.5) -> list[Decoded]:
    try:
        if not Path(path).is_file():  # a FIFO or a device (/dev/zero) would block or never end
            raise FileNotFoundError(path)
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImageError(f"Fichier introuvable ou illisible : {Path(path).name}.") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"Fichier trop volumineux : {MAX_FILE_BYTES // (1024 * 1024)} Mo au plus.")
    return decode_bytes(data, timeout=timeout)


def describe(decoded: Decoded) -> dict[str, Any]:
    return {"format": decoded.format, "decoder": decoded.decoder, "page": decoded.page}
