"""Cheap, side-effect-free probes of the card stack for `vigie doctor` (no agent imports here).

They tell whether the PC/SC service answers and which PKCS#11 modules (CPS middleware, SoftHSM) are
installed. The full monitor and token code live in hardware/pcsc and hardware/pkcs11.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from hardware.pkcs11.modules import cryptolib_candidates
from hardware.process_env import PCSC_SOCKET, PROCESS_ENV


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


def pcsc_status() -> ProbeResult:
    """Establish a PC/SC context and list readers; never raises."""
    try:
        from smartcard import scard  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return ProbeResult(False, "pyscard non installé (lecture de cartes indisponible)")
    PROCESS_ENV.library_reads(PCSC_SOCKET)
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return ProbeResult(False, f"service PC/SC injoignable ({scard.SCardGetErrorMessage(hresult).strip()})")
    try:
        hresult, readers = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return ProbeResult(True, "service PC/SC actif, aucun lecteur branché")
        if hresult != scard.SCARD_S_SUCCESS:
            return ProbeResult(False, f"liste des lecteurs impossible ({scard.SCardGetErrorMessage(hresult).strip()})")
        return ProbeResult(True, f"service PC/SC actif, {len(readers)} lecteur(s)")
    finally:
        scard.SCardReleaseContext(context)


def pkcs11_candidates() -> list[Path]:
    """Where the CPS middleware (Cryptolib CPS) and SoftHSM2 install their PKCS#11 module: the agent's own
    list (hardware.pkcs11.modules), so `vigie doctor` looks where the card layer will."""
    softhsm = [] if sys.platform in ("win32", "darwin") else [
        Path("/usr/lib/softhsm/libsofthsm2.so"), Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")]
    return [*cryptolib_candidates(), *softhsm]


def pkcs11_modules(extra: list[Path] | None = None) -> ProbeResult:
    found = [p for p in [*(extra or []), *pkcs11_candidates()] if p.exists()]
    if not found:
        return ProbeResult(False, "aucun module PKCS#11 (Cryptolib CPS) trouvé")
    return ProbeResult(True, ", ".join(str(p) for p in found))
