"""Draw an INS Datamatrix (ECC 200) with its header in C40 mode, as PNG and SVG (blocking: run in a thread).

The ANS checker refuses an INS Datamatrix whose 26-character header is not C40-encoded
(datamatrix-ins.md). zxing-cpp 3.x writes through zint with automatic mode selection (ASCII with digit
pairs for this header) and silently ignores a "force C40" option, so the symbol is encoded by libdmtx
with the C40 scheme for the whole message: the header is C40 by construction, and the rest too (C40
carries GS through its Shift 1 set, `.`/`-`/`'` through Shift 2). Tests read the codewords back with
`dmtxread -c` (libdmtx's own reader) to prove the mode, and decode the symbol with zxing-cpp.

The module matrix is taken from libdmtx's bitmap, then drawn at the size the caller wants: PNG for
screens and quick printing, SVG for documents (exact vector modules).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

LIBDMTX_MODULE_PX = 5  # libdmtx's default module size, in pixels, for `encode`
QUIET_ZONE = 2  # modules of white around the symbol (ISO/IEC 16022 asks for 1)


class SymbolError(RuntimeError):
    """libdmtx could not encode the text (too long for the largest symbol, library missing)."""


@dataclass(frozen=True)
class Symbol:
    modules: tuple[tuple[bool, ...], ...]  # rows top to bottom, True = dark; no quiet zone

    @property
    def size(self) -> tuple[int, int]:
        return len(self.modules[0]), len(self.modules)

    def image(self, module_px: int = 8, quiet: int = QUIET_ZONE) -> Image.Image:
        cols, rows = self.size
        img = Image.new("1", (cols + 2 * quiet, rows + 2 * quiet), 1)
        pixels = img.load()
        assert pixels is not None
        for y, row in enumerate(self.modules):
            for x, dark in enumerate(row):
                if dark:
                    pixels[x + quiet, y + quiet] = 0
        return img.resize((img.width * module_px, img.height * module_px), Image.Resampling.NEAREST)

    def png(self, module_px: int = 8, quiet: int = QUIET_ZONE) -> bytes:
        out = io.BytesIO()
        self.image(module_px, quiet).save(out, format="PNG", optimize=True)
        return out.getvalue()

    def svg(self, module_mm: float = 0.5, quiet: int = QUIET_ZONE) -> str:
        """One path of unit squares in a viewBox in modules; the physical size is set in millimetres."""
        cols, rows = self.size
        width, height = cols + 2 * quiet, rows + 2 * quiet
        runs = []
        for y, row in enumerate(self.modules):
            x = 0
            while x < cols:
                if row[x]:
                    start = x
                    while x < cols and row[x]:
                        x += 1
                    runs.append(f"M{start + quiet} {y + quiet}h{x - start}v1h-{x - start}z")
                else:
                    x += 1
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * module_mm:g}mm" '
                f'height="{height * module_mm:g}mm" viewBox="0 0 {width} {height}" shape-rendering="crispEdges">'
                f'<rect width="{width}" height="{height}" fill="#fff"/>'
                f'<path fill="#000" d="{"".join(runs)}"/></svg>')


def encode_c40(text: str) -> Symbol:
    """Encode `text` (ASCII, GS allowed) as a Data Matrix in C40 mode."""
    try:
        from pylibdmtx import pylibdmtx
    except ImportError as exc:  # libdmtx0b missing (Debian) or not bundled
        raise SymbolError("libdmtx introuvable : installez libdmtx (paquet libdmtx0b)") from exc
    try:
        encoded = pylibdmtx.encode(text.encode("ascii"), scheme="C40")
    except Exception as exc:  # PyLibDMTXError: text too long for the largest symbol
        raise SymbolError(f"encodage Datamatrix impossible ({type(exc).__name__})") from exc
    bitmap = Image.frombytes("RGB", (encoded.width, encoded.height), encoded.pixels).convert("L")
    return _modules(bitmap, LIBDMTX_MODULE_PX)


def _modules(bitmap: Image.Image, module_px: int) -> Symbol:
    """Sample module centres inside the dark bounding box (the L finder pattern spans it fully)."""
    dark = bitmap.point(lambda v: 255 if v < 128 else 0)
    box = dark.getbbox()
    if box is None:
        raise SymbolError("symbole vide")
    left, top, right, bottom = box
    cols, rows = (right - left) // module_px, (bottom - top) // module_px
    half = module_px // 2
    width = bitmap.width
    data = bitmap.tobytes()  # mode L: one byte per pixel, row-major
    modules = tuple(
        tuple(data[(top + y * module_px + half) * width + left + x * module_px + half] < 128 for x in range(cols))
        for y in range(rows)
    )
    return Symbol(modules)
