"""Barcode symbols from zxing-cpp, as module matrices the PDF renderer draws as vector rectangles.

zxing-cpp encodes (QR code, Code 128); drawing each module as a filled rectangle keeps the symbol
sharp at any print resolution, unlike an embedded bitmap that the printer driver would resample.
"""

from __future__ import annotations

from dataclasses import dataclass

import zxingcpp


@dataclass(frozen=True)
class Symbol:
    """`rows[y][x]` is True for a dark module; Code 128 has a single row (bars), QR a square."""

    rows: tuple[tuple[bool, ...], ...]

    @property
    def width(self) -> int:
        return len(self.rows[0])

    @property
    def height(self) -> int:
        return len(self.rows)

    def runs(self, y: int) -> list[tuple[int, int]]:
        """Dark runs of row `y` as (start, length): fewer, wider rectangles in the PDF."""
        out: list[tuple[int, int]] = []
        row = self.rows[y]
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                out.append((start, x - start))
            else:
                x += 1
        return out


def _matrix(barcode: zxingcpp.Barcode) -> tuple[tuple[bool, ...], ...]:
    image = zxingcpp.write_barcode_to_image(barcode, scale=1, add_hrt=False, add_quiet_zones=False)
    height, width = image.shape[0], image.shape[1]
    data = bytes(memoryview(image))  # type: ignore[arg-type]  # 8-bit luminance, one pixel per module: 0 is dark
    return tuple(tuple(data[y * width + x] < 128 for x in range(width)) for y in range(height))


def qr_code(payload: str) -> Symbol:
    """QR code, error correction M (a printed page gets folded and stamped)."""
    return Symbol(_matrix(zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="M")))


def code128(digits: str) -> Symbol:
    """Code 128 (NF EN 799) as the arrêté du 10 août 2010 asks for RPPS and AM numbers; one row of bars."""
    matrix = _matrix(zxingcpp.create_barcode(digits, zxingcpp.BarcodeFormat.Code128))
    return Symbol((matrix[0],))
