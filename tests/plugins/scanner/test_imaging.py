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
