"""Synthetic test images of INS Datamatrix symbols: damaged the way scans and photos are, and a scanned A4 letter.

Shared by the image tests, the benchmarks (bench/scanner.py) and anyone trying `vigie scan` without a scanner."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from plugins.scanner.payload import build_payload
from plugins.scanner.symbol import encode_c40
from sandbox.scanner.identities import sandbox_identities

A4_300DPI = (2480, 3508)


def symbol_image(payload: str, module_px: int = 6) -> Image.Image:
    return encode_c40(payload).image(module_px=module_px, quiet=4).convert("L")


def rotated(img: Image.Image, degrees: float = 17) -> Image.Image:
    return img.rotate(degrees, expand=True, fillcolor=255, resample=Image.Resampling.BILINEAR)


def blurred(img: Image.Image, radius: float = 1.6) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def noisy(img: Image.Image, amount: float = 0.04, seed: int = 7) -> Image.Image:
    """Salt and pepper noise on `amount` of the pixels (a dusty scanner glass)."""
    rng = np.random.default_rng(seed)
    arr = np.array(img, dtype=np.uint8)
    mask = rng.random(arr.shape)
    arr[mask < amount / 2] = 0
    arr[mask > 1 - amount / 2] = 255
    return Image.fromarray(arr)


def scaled(img: Image.Image, factor: float = 0.55) -> Image.Image:
    size = (max(1, int(img.width * factor)), max(1, int(img.height * factor)))
    return img.resize(size, Image.Resampling.BILINEAR)


def inverted(img: Image.Image) -> Image.Image:
    return ImageOps.invert(img)


def jpeg(img: Image.Image, quality: int = 70) -> bytes:
    out = io.BytesIO()
    img.convert("L").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def a4_letter(payload: str, *, seed: int = 3, module_px: int = 6, noise: float = 0.0) -> Image.Image:
    """A grey 300-dpi A4 letter: letterhead, body text lines, and the INS cartouche (identity text and its
    Datamatrix, about 2 cm wide) at the top right, slightly rotated as a sheet on a flatbed scanner."""
    rng = random.Random(seed)
    page = Image.new("L", A4_300DPI, 245)
    draw = ImageDraw.Draw(page)
    draw.rectangle((150, 150, 900, 420), outline=60, width=4)
    draw.text((180, 180), "Cabinet médical - Dr Exemple", fill=30)
    for line in range(60):
        y = 1100 + line * 38
        width = rng.randint(1200, 2100)
        for x in range(200, 200 + width, rng.randint(60, 110)):
            draw.rectangle((x, y, x + rng.randint(20, 70), y + 16), fill=rng.randint(40, 90))
    cartouche = Image.new("L", (760, 330), 255)
    cd = ImageDraw.Draw(cartouche)
    cd.rectangle((0, 0, 759, 329), outline=80, width=3)
    for i in range(5):
        cd.rectangle((20, 30 + i * 50, 20 + rng.randint(180, 380), 50 + i * 50), fill=70)
    symbol = symbol_image(payload, module_px)
    cartouche.paste(symbol, (740 - symbol.width, (330 - symbol.height) // 2))
    cartouche = cartouche.rotate(1.5, expand=True, fillcolor=245, resample=Image.Resampling.BILINEAR)
    page.paste(cartouche, (1550, 420))
    return noisy(page, noise) if noise else page


def damaged_set() -> dict[str, Image.Image]:
    """One image per damage kind and test identity (the benchmark's and the test's common set)."""
    out: dict[str, Image.Image] = {}
    for identity in sandbox_identities():
        base = symbol_image(build_payload(identity))
        name = identity.birth_name.replace(" ", "_") + "_" + identity.first_names[0]
        out[f"{name}/clean"] = base
        out[f"{name}/rotated"] = rotated(base)
        out[f"{name}/blurred"] = blurred(base)
        out[f"{name}/noisy"] = noisy(base)
        out[f"{name}/scaled"] = scaled(symbol_image(build_payload(identity), module_px=12), 0.3)
        out[f"{name}/inverted"] = inverted(base)
        out[f"{name}/rotated_blurred"] = blurred(rotated(base, 33), 1.2)
    return out
