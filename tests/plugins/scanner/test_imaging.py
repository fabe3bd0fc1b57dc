"""Image and PDF decoding: damaged symbols, a synthetic scanned A4 letter, PDF pages, the libdmtx fallback."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from plugins.scanner import imaging
from plugins.scanner.datamatrix import parse
from plugins.scanner.payload import build_payload
from sandbox.scanner import images
from tests.plugins.scanner.conftest import AgentFactory
from tests.plugins.scanner.test_datamatrix import DOMINIQUE, ECETINSI

PAYLOAD = build_payload(DOMINIQUE)


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


DAMAGE = {
    "clean": lambda i: i,
    "rotated_17": lambda i: images.rotated(i, 17),
    "rotated_90": lambda i: images.rotated(i, 90),
    "blurred": images.blurred,
    "noisy": images.noisy,
    "inverted": images.inverted,
    "rotated_blurred": lambda i: images.blurred(images.rotated(i, 33), 1.2),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_imaging_damaged_symbol_decodes_to_the_identity(damage: str) -> None:
    img = DAMAGE[damage](images.symbol_image(PAYLOAD))
    found = imaging.decode_bytes(png(img))
    assert [f.data.decode() for f in found] == [PAYLOAD]
    assert parse(found[0].data).value == DOMINIQUE  # type: ignore[union-attr]


def test_imaging_scaled_down_photo_as_jpeg() -> None:
    img = images.scaled(images.symbol_image(build_payload(ECETINSI), module_px=12), 0.3)
    found = imaging.decode_bytes(images.jpeg(img))
    assert parse(found[0].data).value == ECETINSI  # type: ignore[union-attr]


def test_imaging_a4_letter_finds_the_cartouche() -> None:
    page = images.a4_letter(PAYLOAD)
    found = imaging.decode_bytes(images.jpeg(page, quality=80))
    assert [parse(f.data).value for f in found] == [DOMINIQUE]  # type: ignore[union-attr]


def test_imaging_pdf_pages_are_rasterised(tmp_path: Path) -> None:
    blank = Image.new("L", images.A4_300DPI, 255)
    letter = images.a4_letter(build_payload(ECETINSI))
    pdf = tmp_path / "courrier.pdf"
    blank.save(pdf, format="PDF", resolution=300, save_all=True, append_images=[letter])
    found = imaging.decode_path(pdf)
    assert [(f.page, parse(f.data).value) for f in found] == [(2, ECETINSI)]  # type: ignore[union-attr]


def test_imaging_falls_back_to_libdmtx_within_its_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imaging, "_zxing", lambda image: [])  # zxing-cpp finds nothing: libdmtx is asked
    found = imaging.decode_bytes(png(images.symbol_image(PAYLOAD)), timeout=2.0)
    assert [(f.decoder, f.data.decode()) for f in found] == [("libdmtx", PAYLOAD)]


def test_imaging_nothing_found_and_unreadable_files() -> None:
    assert imaging.decode_bytes(png(Image.new("L", (300, 300), 255)), timeout=0.2) == []
    with pytest.raises(imaging.ImageError, match="PNG ou JPEG"):
        imaging.decode_bytes(b"not an image at all")
    with pytest.raises(imaging.ImageError, match="PDF illisible"):
        imaging.decode_bytes(b"%PDF-1.4 broken")
    with pytest.raises(imaging.ImageError, match="introuvable"):
        imaging.decode_path("/nonexistent/scan.png")


def test_imaging_pdf_with_a_giant_page_is_refused_before_rendering() -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    pdf.new_page(14400, 14400)  # 5 m x 5 m: 1.9e10 pixels at 300 dpi, from a file of a few hundred bytes
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    with pytest.raises(imaging.ImageError, match="Page 1 du PDF trop grande"):
        imaging.decode_bytes(out.getvalue())


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns at open
def test_imaging_image_over_the_pixel_limit_is_refused_from_its_header() -> None:
    # 9000 x 9000 = 81 Mpixels: above our limit but below twice it, where Pillow would only warn and decode.
    big = png(Image.new("1", (9000, 9000), 1))
    assert len(big) < 1_000_000  # fits in one scan.image call
    with pytest.raises(imaging.ImageError, match="Image trop grande"):
        imaging.decode_bytes(big)


def test_imaging_path_that_is_not_a_regular_file_or_too_big_is_refused(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    fifo = tmp_path / "scan.png"
    os.mkfifo(fifo)  # opening it would block the worker thread forever
    with pytest.raises(imaging.ImageError, match="introuvable ou illisible"):
        imaging.decode_path(fifo)
    big = tmp_path / "big.png"
    big.write_bytes(png(images.symbol_image(PAYLOAD)))
    monkeypatch.setattr(imaging, "MAX_FILE_BYTES", big.stat().st_size - 1)
    with pytest.raises(imaging.ImageError, match="trop volumineux"):
        imaging.decode_path(big)


async def test_scan_image_rpc_routes_each_code(scanner_agent: AgentFactory, lgc_for: Any) -> None:
    import base64

    agent, recorder = await scanner_agent()
    lgc = await lgc_for(agent)
    answer = await lgc.result("scan.image", {"data_base64": base64.b64encode(png(images.symbol_image(PAYLOAD)))
                                             .decode()})
    assert [(c["kind"], c["decoder"], c["source"]) for c in answer["codes"]] == [("ins_datamatrix", "zxing-cpp",
                                                                                  "image")]
    assert recorder.scans == [("ins_datamatrix", DOMINIQUE.content(), "image")]
    empty = await lgc.call("scan.image", {"data_base64": base64.b64encode(png(Image.new("L", (64, 64), 255)))
                                          .decode()})
    assert empty["error"]["message"].startswith("Aucun code 2D")
    # A path is for admin clients (the test token has the admin scope); still decoded off the event loop.
    bad = await lgc.call("scan.image", {"path": "/nonexistent/scan.png"})
    assert bad["error"]["code"] == -32602 and "introuvable" in bad["error"]["message"]


async def test_scan_image_path_is_for_admin_clients_only(scanner_agent: AgentFactory, tmp_path: Path) -> None:
    from agent.errors import UserFacingError
    from agent.rpc import FORBIDDEN, RpcContext
    from plugins.scanner.plugin import ScannerPlugin
    from plugins.scanner.rpc import rpc_methods

    agent, recorder = await scanner_agent()
    plugin = agent.plugins.pm.get_plugin("scanner")
    assert isinstance(plugin, ScannerPlugin)
    handlers = {name: handler for name, handler, _ in rpc_methods(plugin._service)}
    image = tmp_path / "scan.png"
    image.write_bytes(png(images.symbol_image(PAYLOAD)))
    paired_lgc = RpcContext(client="LGC web", scopes=frozenset({"lgc"}), transport="ws", connection_id=1)
    with pytest.raises(UserFacingError) as refused:
        await handlers["scan.image"]({"path": str(image)}, paired_lgc)
    assert refused.value.code == FORBIDDEN and recorder.scans == []
    admin = RpcContext(client="admin", scopes=frozenset({"lgc", "admin"}), transport="http", connection_id=2)
    answer = await handlers["scan.image"]({"path": str(image)}, admin)
    assert answer["codes"][0]["kind"] == "ins_datamatrix" and len(recorder.scans) == 1


# -- issue 18 item 13 ----------------------------------------------------------------------------------------


def blank_pdf(pages: int, size: tuple[int, int] = (200, 200)) -> bytes:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(*size)
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


def test_imaging_overall_deadline_holds_for_a_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 20-page blank PDF took 9.2 s with a 6 s deadline: every page was rendered and searched."""
    import time

    searched: list[int] = []

    def slow_zxing(image: Image.Image) -> list[tuple[bytes, str]]:
        searched.append(1)
        time.sleep(0.1)  # a page that is slow to search
        return []

    monkeypatch.setattr(imaging, "_zxing", slow_zxing)
    monkeypatch.setattr(imaging, "_libdmtx", lambda image, timeout: [])
    with pytest.raises(imaging.ImageError, match="Analyse trop longue : aucun code trouvé dans les . première"):
        imaging.decode_bytes(blank_pdf(20), timeout=0.1)  # the whole file gets 0.4 s
    assert len(searched) < 20  # it stopped; it did not go through the 20 pages


def test_imaging_deadline_keeps_what_was_found(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    calls: list[int] = []

    def first_page_has_a_code(image: Image.Image) -> list[tuple[bytes, str]]:
        calls.append(1)
        time.sleep(0.15)
        return [(b"CODE", "DataMatrix")] if len(calls) == 1 else []

    monkeypatch.setattr(imaging, "_zxing", first_page_has_a_code)
    monkeypatch.setattr(imaging, "_libdmtx", lambda image, timeout: [])
    found = imaging.decode_bytes(blank_pdf(10), timeout=0.1)
    assert [(f.page, f.data) for f in found] == [(1, b"CODE")] and len(calls) < 10


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_imaging_image_above_pillows_own_bomb_limit_is_too_big_not_unreadable() -> None:
    # 11000 x 11000 = 121 Mpixels: above twice our limit, where Pillow itself refuses at open.
    huge = png(Image.new("1", (11000, 11000), 1))
    with pytest.raises(imaging.ImageError, match="Image trop grande"):
        imaging.decode_bytes(huge)


def test_imaging_pdf_with_no_page_is_not_said_password_protected() -> None:
    with pytest.raises(imaging.ImageError) as caught:
        imaging.decode_bytes(blank_pdf(0))
    assert "mot de passe" not in str(caught.value)
    assert "sans page" in str(caught.value)


def eci_symbol(text: str) -> bytes:
    import numpy
    import zxingcpp
    from PIL import ImageOps

    symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.DataMatrix).to_image(scale=8)
    img = Image.fromarray(numpy.asarray(symbol))
    return png(ImageOps.expand(img.resize((img.width * 2, img.height * 2)), 40, fill=255))


def test_imaging_eci_segments_come_out_as_zxing_text() -> None:
    """'€' in an ECI segment (ISO-8859-7 0xA4) and '¤' without ECI (ISO-8859-1 0xA4) were the same byte."""
    (euro,) = imaging.decode_bytes(eci_symbol("A€B"))
    assert euro.data == "A€B".encode()
    (plain,) = imaging.decode_bytes(eci_symbol("A¤B"))
    assert plain.data == b"A\xa4B"  # no ECI: the raw bytes, as before (ISO-8859-1 by default)
    assert euro.data != plain.data
    (gs,) = imaging.decode_bytes(eci_symbol("DM\x1dS1"))
    assert gs.data == b"DM\x1dS1"  # GS survives
