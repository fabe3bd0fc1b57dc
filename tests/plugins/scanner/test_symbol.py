"""INS Datamatrix printing: the header is C40 (read back with libdmtx's own `dmtxread -c`), and every symbol
decodes with zxing-cpp into the same identity (generate → decode → parse)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import zxingcpp

from plugins.scanner.datamatrix import HEADER, InsDatamatrix, parse
from plugins.scanner.payload import build_payload
from plugins.scanner.symbol import encode_c40
from sandbox.scanner.identities import sandbox_identities
from tests.plugins.scanner.test_datamatrix import DOMINIQUE

C40_LATCH, UNLATCH = 230, 254
C40_BASIC = "   " + " 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # values 0-2 are shifts
SHIFT2 = "!\"#$%&'()*+,-./:;<=>?@[\\]^_"

LONGEST = InsDatamatrix(**{**DOMINIQUE.__dict__, "birth_name": "A" * 100,
                           "first_names": tuple(["JEAN-" + "B" * 26] * 3)})


def codewords(png: Path) -> list[int]:
    out = subprocess.run(["dmtxread", "-c", "-N1", str(png)], capture_output=True, text=True, timeout=30, check=True)
    return [int(line[2:]) for line in out.stdout.splitlines() if line.startswith("d:")]


def c40_prefix(words: list[int]) -> str:
    """The text of the C40 segment the symbol starts with (ISO/IEC 16022 §5.2.5), '' if it does not."""
    if not words or words[0] != C40_LATCH:
        return ""
    values: list[int] = []
    i = 1
    while i + 1 < len(words) and words[i] != UNLATCH:
        v = words[i] * 256 + words[i + 1] - 1
        values += [v // 1600, (v // 40) % 40, v % 40]
        i += 2
    text, shift = [], 0
    for value in values:
        if shift == 1:
            text.append(chr(value))
        elif shift == 2:
            text.append(SHIFT2[value] if value < len(SHIFT2) else "?")
        elif value in (0, 1, 2):
            shift = value + 1
            continue
        else:
            text.append(C40_BASIC[value])
        shift = 0
    return "".join(text)


needs_dmtxread = pytest.mark.skipif(shutil.which("dmtxread") is None, reason="dmtx-utils not installed")


@needs_dmtxread
@pytest.mark.parametrize("identity", [*sandbox_identities(), LONGEST], ids=lambda i: i.birth_name[:12])
def test_symbol_header_is_encoded_in_c40(identity: InsDatamatrix, tmp_path: Path) -> None:
    payload = build_payload(identity)
    png = tmp_path / "ins.png"
    png.write_bytes(encode_c40(payload).png(module_px=5))
    words = codewords(png)
    assert words[0] == C40_LATCH  # not 74 ('I' + 1 in ASCII mode), what automatic encoders produce
    decoded = c40_prefix(words)
    assert decoded.startswith(HEADER)
    assert payload.startswith(decoded)  # the C40 segment is the payload's text, GS included


@pytest.mark.parametrize("identity", [*sandbox_identities(), LONGEST], ids=lambda i: i.birth_name[:12])
def test_symbol_round_trip_zxing_then_parse(identity: InsDatamatrix) -> None:
    symbol = encode_c40(build_payload(identity))
    found = zxingcpp.read_barcodes(symbol.image(module_px=4), formats=zxingcpp.BarcodeFormat.DataMatrix,
                                   text_mode=zxingcpp.TextMode.Plain)
    assert len(found) == 1
    parsed = parse(bytes(found[0].bytes))
    assert parsed is not None and parsed.value == identity


@needs_dmtxread
def test_symbol_c40_check_fails_for_an_ascii_encoded_header(tmp_path: Path) -> None:
    # The check above can fail: the same text encoded in ASCII mode (what automatic encoders choose for
    # this header) starts with 74 ('I' + 1), not with the C40 latch.
    from PIL import Image
    from pylibdmtx import pylibdmtx

    encoded = pylibdmtx.encode(build_payload(DOMINIQUE).encode(), scheme="Ascii")
    png = tmp_path / "ascii.png"
    Image.frombytes("RGB", (encoded.width, encoded.height), encoded.pixels).save(png)
    words = codewords(png)
    assert words[0] == ord("I") + 1 and c40_prefix(words) == ""


def test_symbol_svg_draws_the_same_symbol() -> None:
    # Rasterise the SVG's path (`M x y h w v1 h-w z` runs, in modules) and decode it with zxing-cpp.
    import re

    from PIL import Image, ImageDraw

    payload = build_payload(DOMINIQUE)
    svg = encode_c40(payload).svg(module_mm=0.4)
    assert 'width="' in svg and "mm" in svg
    width, height = (int(v) for v in re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())  # type: ignore[union-attr]
    scale = 6
    img = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(img)
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", svg):
        x0, y0 = int(x) * scale, int(y) * scale
        draw.rectangle((x0, y0, x0 + int(w) * scale - 1, y0 + scale - 1), fill=0)
    found = zxingcpp.read_barcodes(img, text_mode=zxingcpp.TextMode.Plain)
    assert [bytes(f.bytes).decode() for f in found] == [payload]
