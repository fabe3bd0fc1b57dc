"""Automatic typeCode: the document's kind decides, never the user (spec §4, mission "no type-code choice").

`auto_type_code(source_plugin, kind)` reads `valuesets/AutoTypeCode.json`: a producing plugin's
documents (an e-prescription is a prescription of health products, 57833-6) or an LGC's declared kind
(`"biology"` -> PRESC-BIO...). `checked_type_code` refuses a code outside JDV_J66 (the DMP would).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from plugins.common.clinical import valuesets as vs


@functools.cache
def _table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files(__package__).joinpath("valuesets", "AutoTypeCode.json").read_text("utf-8"))
    return data


def kinds() -> tuple[str, ...]:
    return tuple(_table()["by_kind"])


def auto_type_code(source_plugin: str | None, kind: str | None = None) -> str | None:
    """The typeCode for a document from `source_plugin`, or of the declared `kind`; None if unknown."""
    table = _table()
    if kind and kind in table["by_kind"]:
        return str(table["by_kind"][kind])
    if source_plugin and source_plugin in table["by_source_plugin"]:
        return str(table["by_source_plugin"][source_plugin])
    return None


def checked_type_code(code: str) -> vs.Code:
    """The JDV_J66 concept for `code` (vs.UnknownCode when the DMP would not accept it)."""
    return vs.lookup(vs.TYPE_CODES, code)
