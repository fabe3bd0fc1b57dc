"""Render the INS Datamatrix of a stored identity (blocking: call it in a worker thread).

The format (payload, C40 header, drawing) belongs to the scanner package, which reads these codes; its
writer modules are pure and import nothing from the scanner plugin's hooks, so the INS plugin uses them
without depending on that plugin being enabled.
"""

from __future__ import annotations

import base64
from typing import Any

from agent.errors import UserFacingError
from plugins.scanner.payload import PayloadError, build_payload, identity_from
from plugins.scanner.symbol import SymbolError, encode_c40


def render_datamatrix(traits: dict[str, Any], ins: dict[str, Any], *, module_px: int = 8,
                      module_mm: float = 0.5) -> dict[str, Any]:
    matricule = str(ins.get("matricule", "")) + str(ins.get("key", ""))
    try:
        payload = build_payload(identity_from(traits, {"matricule": matricule, "oid": str(ins.get("oid", ""))}))
        symbol = encode_c40(payload)
    except (PayloadError, SymbolError) as exc:
        raise UserFacingError(f"Datamatrix INS impossible : {exc}") from exc
    cols, rows = symbol.size
    return {"png_base64": base64.b64encode(symbol.png(module_px)).decode("ascii"), "svg": symbol.svg(module_mm),
            "modules": [cols, rows], "encoding": "C40"}
