"""The official SESAM-Vitale reading library backend (ctypes), found per OS when installed.

Only the GIE SESAM-Vitale API reads everything a Vitale card holds (rights, certified NIR, INS-C) with a
CPx (hardware.md B3). The library is probed, never bundled. Its calling conventions (SSV entry points,
GALSS configuration) are not public here, so this backend loads the library and reports it found, but
does not read yet: it says so plainly rather than inventing anything.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

from hardware.errors import NotAvailable
from hardware.ports import VitaleCard

UNAVAILABLE_FR = "Lecture Vitale non disponible : bibliothèque SESAM-Vitale non installée."


def sesam_candidates(platform: str | None = None) -> list[Path]:
    """Usual install locations; NOT verified against a real installation: set `sesam_library` to be sure."""
    platform = platform or sys.platform
    if platform == "win32":
        return [Path(r"C:\Program Files\santesocial\sesam-vitale\ssvw64.dll"),
                Path(r"C:\Program Files (x86)\santesocial\sesam-vitale\ssvw32.dll")]
    if platform == "darwin":
        return [Path("/Library/Frameworks/ssvmac.framework/ssvmac")]
    return [Path("/opt/santesocial/fsv/1.40.14/lib/libssvlux64.so"), Path("/usr/local/lib/libssvlux64.so"),
            Path("/usr/lib/libssvlux64.so")]


class SesamVitaleReader:
    name = "sesam"

    def __init__(self, library: str | None = None) -> None:
        # No file-system probe here: the agent builds this on its event loop; `available()` and `read()`
        # run in worker threads and look the library up then (an installation done meanwhile counts).
        self.library = Path(library) if library else None
        self.path: Path | None = self.library

    def available(self) -> tuple[bool, str]:
        if self.library is None:
            self.path = next((p for p in sesam_candidates() if p.exists()), None)
        if self.path is None or not self.path.exists():
            return False, UNAVAILABLE_FR
        return True, f"bibliothèque SESAM-Vitale : {self.path}"

    def read(self, reader: str) -> VitaleCard:
        ok, detail = self.available()
        if not ok:
            raise NotAvailable(UNAVAILABLE_FR)
        try:
            ctypes.CDLL(str(self.path))
        except OSError as exc:
            raise NotAvailable("Bibliothèque SESAM-Vitale présente mais inutilisable.", str(exc)) from None
        raise NotAvailable("Bibliothèque SESAM-Vitale trouvée, mais sa lecture n'est pas encore prise en charge "
                           "par Vigie.", detail)
