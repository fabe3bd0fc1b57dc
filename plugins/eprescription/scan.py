"""Recognise this plugin's own QR code when a printed e-prescription is scanned.

The payload is opaque (its format belongs to the CNAM); what we recognise is what our téléservice
gave us, described by `identifier_pattern`. A code that starts like ours but does not match is
reported as damaged rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

KIND = "eprescription_qr"


class ScanParser:
    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)
        # The literal prefix of the pattern (e.g. "EP-"): a payload with it is ours, even damaged.
        match = re.match(r"[A-Za-z0-9-]+", pattern)
        self.prefix = match.group(0) if match else None

    def parse(self, data: bytes) -> Mapping[str, Any] | None:
        try:
            text = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            return None
        if self.pattern.fullmatch(text):
            return {"kind": KIND, "content": {"identifier": text}}
        if self.prefix and text.upper().startswith(self.prefix.upper()) and len(text) < 200 and "\x1d" not in text:
            return {"kind": KIND, "errors": [{"field": "identifier", "message":
                    "Code e-prescription illisible ou incomplet : rescannez l'ordonnance."}]}
        return None
