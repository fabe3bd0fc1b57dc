"""Where the CPS middleware's PKCS#11 module lives, per OS (hardware.md B5). Probe, never bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cryptolib_candidates(platform: str | None = None) -> list[Path]:
    """ANS Cryptolib CPS module paths (v5.2 minimum for CPS4)."""
    platform = platform or sys.platform
    if platform == "win32":
        system32 = Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32"
        return [system32 / "cps3_pkcs11_w64.dll", system32 / "cps3_pkcs11_w32.dll",
                Path(r"C:\Program Files\santeestoolbox\cps3_pkcs11_w64.dll")]
    if platform == "darwin":
        return [Path("/usr/local/lib/libcps3_pkcs11_osx.dylib"),
                Path("/Library/Frameworks/cps3.framework/cps3_pkcs11")]
    return [Path("/usr/local/galss/libcps3_pkcs11_lux.so"), Path("/usr/lib/libcps3_pkcs11_lux.so"),
            Path("/usr/local/lib/libcps3_pkcs11_lux.so"), Path("/usr/lib/libcps3_pkcs11.so")]


def find_module(configured: str | None = None) -> Path | None:
    """The configured module (SoftHSM2 in tests) when given, else the first Cryptolib CPS found."""
    if configured:
        path = Path(configured)
        return path if path.exists() else None
    return next((p for p in cryptolib_candidates() if p.exists()), None)
