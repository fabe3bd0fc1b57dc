"""Find and decode the 2D codes of an image or a PDF (blocking: call it in a worker thread).

zxing-cpp first (hardware.md B6: faster and far more robust on noisy pages), reading raw bytes so GS
survives (its default HRI text turns GS into the four characters `<GS>`). pylibdmtx (libdmtx) is the
fallback for DataMatrix only, always with a time limit: on a noisy page it can otherwise run for
tens of seconds. PDFs are rasterised page by page at 300 dpi with pdfium (pypdfium2: a wheel on every
OS, no external program). On a scanned A4 letter the INS cartouche is a small symbol on a large page:
the whole page is tried first (zxing-cpp also searches downscaled copies), then overlapping tiles at
full resolution, then libdmtx.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

PDF_DPI = 300
MAX_PAGES = 20
MAX_PIXELS = 60_000_000  # ~ A3 at 600 dpi; Pillow's decompression-bomb guard with our own limit
MAX_FILE_BYTES = 50 * 1024 * 1024  # a local file (`vigie scan`, admin `scan.image` path): a long scanned PDF


class ImageError(ValueError):
    """The file cannot be read as an image or a PDF (French message)."""


@dataclass(frozen=True)
class Decoded:
    data: bytes
    format: str  # "DataMatrix", "QRCode"
    decoder: str  # "zxing-cpp" | "libdmtx"
    page: int  # 1-based page (1 for an image)


def load_pages(data: bytes, dpi: int = PDF_DPI) -> list[Image.Image]:
    if data[:5] == b"%PDF-":
        return _pdf_pages(data, dpi)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = Image.open(io.BytesIO(data))
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse from the header, before decoding.
        if image.width * image.height > MAX_PIXELS:
            raise ImageError("Image trop grande pour être analysée (format A3 à 600 dpi au plus).")
        image.load()
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError("Fichier illisible : une image PNG ou JPEG, ou un PDF, est attendu.") from exc
    return [ImageOps.exif_transpose(image) or image]


def _pdf_pages(data: bytes, dpi: int) -> list[Image.Image]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ImageError("PDF illisible ou protégé par un mot de passe.") from exc
    try:
        if len(pdf) > MAX_PAGES:
            raise ImageError(f"PDF trop long : {MAX_PAGES} pages au plus.")
        # A few bytes of PDF can declare a page of several square metres: bound the bitmap before rendering
        # it, as Pillow's guard does for images.
        for i in range(len(pdf)):
            width, height = pdf[i].get_size()  # points (1/72 inch)
            if width * height * (dpi / 72) ** 2 > MAX_PIXELS:
                raise ImageError(f"Page {i + 1} du PDF trop grande pour être analysée (format A3 au plus).")
        return [pdf[i].render(scale=dpi / 72, grayscale=True).to_pil() for i in range(len(pdf))]
    finally:
        pdf.close()


def _zxing(image: Image.Image) -> list[tuple[bytes, str]]:
    import zxingcpp

    formats = zxingcpp.BarcodeFormats([zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.QRCode])
    found = zxingcpp.read_barcodes(image, formats=formats, text_mode=zxingcpp.TextMode.Plain)
    return [(bytes(r.bytes), r.format.name) for r in found if r.valid]


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


def decode_image(image: Image.Image, *, timeout: float = 1.5, page: int = 1) -> list[Decoded]:
    gray = image.convert("L")
    found = _zxing(gray)
    if not found and max(gray.size) > 1600:
        for tile in _tiles(gray):
            found = _zxing(tile)
            if found:
                break
    if found:
        unique = list(dict.fromkeys(found))
        return [Decoded(data, fmt, "zxing-cpp", page) for data, fmt in unique]
    return [Decoded(data, "DataMatrix", "libdmtx", page) for data in _libdmtx(gray, timeout)]


def decode_bytes(data: bytes, *, timeout: float = 1.5) -> list[Decoded]:
    """Every code of every page; `timeout` bounds the libdmtx fallback per page."""
    out: list[Decoded] = []
    deadline = time.monotonic() + timeout * 4
    for number, page in enumerate(load_pages(data), start=1):
        remaining = max(0.05, min(timeout, deadline - time.monotonic()))
        out.extend(decode_image(page, timeout=remaining, page=number))
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
