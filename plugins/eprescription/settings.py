"""`[plugins.eprescription]` configuration, validated with messages naming the key.

    enabled = true              # false: the e-prescription module is off (ordonnances without 2D code)
    url = "https://…"           # téléservice endpoint; absent: module treated as off
    timeout = 2.0               # seconds the practitioner may wait for the téléservice, then fallback
    ca_files = ["…pem"]         # extra CAs for the téléservice's TLS certificate
    printer = "Cabinet"         # default printer name (absent: the system's default printer)
    page_size = "A4"            # A4 | A5, when the LGC does not say
    export_dir = "…"            # where `prescription.export` with save=true writes (default: Documents/Vigie)
    identifier_pattern = "…"    # regex of the QR payloads this plugin recognises when scanned
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from agent.errors import ConfigError

MAX_TIMEOUT = 10.0  # beyond this the practitioner is "frozen": refuse such a configuration
# Sandbox identifiers (sandbox/eprescription/server.py); the real format is unknown (docs/eprescription.md).
DEFAULT_PATTERN = r"EP-[0-9A-HJKMNP-TV-Z]{16}"


@dataclass
class EprescriptionSettings:
    enabled: bool = True
    url: str | None = None
    timeout: float = 2.0
    ca_files: list[str] = field(default_factory=list)
    printer: str | None = None
    page_size: str = "A4"
    identifier_pattern: str = DEFAULT_PATTERN
    print_timeout: float = 30.0
    export_dir: Path = field(default_factory=lambda: platformdirs.user_documents_path() / "Vigie" / "Ordonnances")

    @property
    def disabled_reason(self) -> str | None:
        if not self.enabled:
            return "Module e-prescription désactivé par la configuration"
        if not self.url:
            return "Téléservice e-prescription non configuré"
        return None


def _err(key: str, fr: str, en: str) -> ConfigError:
    return ConfigError(f"plugins.eprescription.{key}", fr, en)


def parse_settings(raw: dict[str, Any]) -> EprescriptionSettings:
    s = EprescriptionSettings()
    for key, value in raw.items():
        if key == "enabled":
            if not isinstance(value, bool):
                raise _err(key, "true ou false attendu", "true or false expected")
            s.enabled = value
        elif key == "export_dir":
            if not isinstance(value, str) or not value.strip():
                raise _err(key, "un chemin de dossier est attendu", "a directory path is expected")
            s.export_dir = Path(value).expanduser()
        elif key in ("url", "printer"):
            if not isinstance(value, str) or not value.strip():
                raise _err(key, "une chaîne non vide est attendue", "a non-empty string is expected")
            if key == "url" and not re.match(r"^https?://", value):
                raise _err(key, "l'URL doit commencer par https:// (ou http:// en local)",
                           "the URL must start with https:// (or http:// locally)")
            setattr(s, key, value)
        elif key in ("timeout", "print_timeout"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= (
                    MAX_TIMEOUT if key == "timeout" else 300):
                limit = MAX_TIMEOUT if key == "timeout" else 300
                raise _err(key, f"un nombre de secondes entre 0 et {limit:g} est attendu",
                           f"a number of seconds between 0 and {limit:g} is expected")
            setattr(s, key, float(value))
        elif key == "ca_files":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _err(key, "une liste de chemins est attendue", "a list of paths is expected")
            s.ca_files = list(value)
        elif key == "page_size":
            if value not in ("A4", "A5"):
                raise _err(key, "« A4 » ou « A5 » attendu", "'A4' or 'A5' expected")
            s.page_size = value
        elif key == "identifier_pattern":
            try:
                re.compile(value)
            except (re.error, TypeError) as exc:
                raise _err(key, "expression régulière invalide", "invalid regular expression") from exc
            s.identifier_pattern = value
        else:
            raise _err(key, "clé inconnue", "unknown key")
    return s
