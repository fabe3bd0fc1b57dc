"""`[plugins.ins]` configuration, validated with messages naming the key.

Secrets are not here: the PKCS#12 passphrase is read from the keyring (`ins.pkcs12_passphrase`), in the
sandbox too (its supervisor seeds the sandbox agent's throwaway keyring). The PKCS#12 itself is in the keyring
too once `vigie setup` imported it (`pkcs12_path = "keyring:ins.certificate"`); a file path still works
(developers, configurations written before the import).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import ConfigError
from plugins.ins.models import ACTOR_KINDS

PASSPHRASE_SECRET = "ins.pkcs12_passphrase"
CERTIFICATE_SECRET = "ins.certificate"  # the PKCS#12 itself, `pkcs12_path = "keyring:ins.certificate"`
# Outbox attempts of one lookup; the last one records a final state instead of asking for a retry.
LOOKUP_ATTEMPTS = 4

# Endpoints from the INSi brief (insi.md §1). The production CPS URL is unverified there.
PRESETS: dict[str, tuple[str, str]] = {
    "qualif_cps": ("https://qualiflps.services-ps.ameli.fr:443/lps", "cps"),
    "qualif_mtls": ("https://qualiflps-services-ps-tlsm.ameli.fr:443/lps", "mtls"),
    "prod_mtls": ("https://services-ps-tlsm.ameli.fr/lps", "mtls"),
}


@dataclass
class UserSettings:
    """The acting user until the card layer reports who holds the CPS/CPE."""

    kind: str = "unknown"  # ps | cpe_nominative | cpe_anonymous | unknown
    name: str = ""
    national_id: str | None = None
    profession: str | None = None


@dataclass
class PsSettings:
    """Attributes of the CPS-mode SAML assertion (insi.md §3.4)."""

    national_id: str = ""
    billing_id: str = ""
    activity_sector: str = "SA07"
    specialty_code: str | None = None


@dataclass
class InsSettings:
    url: str | None = None
    auth: str = "mtls"
    ca_files: list[Path] = field(default_factory=list)
    pkcs12_path: Path | str | None = None  # "keyring:<name>" (imported by `vigie setup`) or a file (developers)
    idam: str = ""
    software_name: str = "Vigie"
    emitter: str | None = None
    connect_timeout: float = 3.0
    total_timeout: float = 10.0
    search_timeout: float = 30.0
    retry_delay: float = 20.0  # first retry of a lookup INSi did not answer, doubled each time
    retry_max: float = 600.0
    max_attempts: int = 3
    lookup_concurrency: int = 4
    batch_concurrency: int = 8
    batch_rate_per_second: float = 10.0
    dedupe_window: float = 120.0
    recheck_days: float = 365.0
    documents: list[str] | None = None
    # CSV export of the day's appointments (plugins/ins/cli.py format), run from the tray's batch entry.
    batch_file: Path | None = None
    user: UserSettings = field(default_factory=UserSettings)
    ps: PsSettings = field(default_factory=PsSettings)

    @property
    def configured(self) -> bool:
        return bool(self.url and self.idam and self.ca_files)


def _expect(key: str, value: Any, types: type | tuple[type, ...], fr: str, en: str) -> Any:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ConfigError(f"plugins.ins.{key}", f"la valeur doit être {fr}", f"the value must be {en}")
    if not isinstance(value, types):
        raise ConfigError(f"plugins.ins.{key}", f"la valeur doit être {fr}", f"the value must be {en}")
    return value


def _table(key: str, value: Any, fields: Any) -> dict[str, str]:
    """A sub-table of strings whose keys are `fields`: a misspelt key is refused, not ignored."""
    _expect(key, value, dict, "une table", "a table")
    for k, v in value.items():
        if k not in fields:
            raise ConfigError(f"plugins.ins.{key}.{k}", "clé inconnue", "unknown key")
        _expect(f"{key}.{k}", v, str, "une chaîne", "a string")
    return dict(value)


def parse_settings(raw: dict[str, Any]) -> InsSettings:
    s = InsSettings()
    raw = dict(raw)
    preset = raw.pop("preset", None)
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            raise ConfigError("plugins.ins.preset", f"préréglage inconnu (connus : {', '.join(PRESETS)})",
                              f"unknown preset (known: {', '.join(PRESETS)})")
        s.url, s.auth = PRESETS[preset]
    for key, value in raw.items():
        if key in ("url", "idam", "software_name", "emitter"):
            setattr(s, key, _expect(key, value, str, "une chaîne", "a string"))
        elif key == "auth":
            if value not in ("mtls", "cps"):
                raise ConfigError("plugins.ins.auth", "« mtls » ou « cps » attendu", "'mtls' or 'cps' expected")
            s.auth = value
        elif key == "ca_files":
            _expect(key, value, list, "une liste de chemins", "a list of paths")
            s.ca_files = [Path(_expect(key, v, str, "une liste de chemins", "a list of paths")) for v in value]
        elif key == "pkcs12_path":
            text = _expect(key, value, str, "un chemin", "a path")  # or "keyring:<name>"
            s.pkcs12_path = text if text.startswith("keyring:") else Path(text)
        elif key == "batch_file":
            s.batch_file = Path(_expect(key, value, str, "un chemin", "a path")).expanduser()
        elif key in ("connect_timeout", "total_timeout", "search_timeout", "batch_rate_per_second", "dedupe_window",
                     "recheck_days", "retry_delay", "retry_max"):
            number = _expect(key, value, (int, float), "un nombre", "a number")
            if not number > 0:  # NaN too
                raise ConfigError(f"plugins.ins.{key}", "doit être positif", "must be positive")
            setattr(s, key, float(number))
        elif key in ("max_attempts", "lookup_concurrency", "batch_concurrency"):
            number = _expect(key, value, int, "un entier", "an integer")
            if number < 1:
                raise ConfigError(f"plugins.ins.{key}", "doit être au moins 1", "must be at least 1")
            setattr(s, key, number)
        elif key == "documents":
            _expect(key, value, list, "une liste de codes", "a list of codes")
            s.documents = [_expect(key, v, str, "une liste de codes", "a list of codes") for v in value]
        elif key == "user":
            user = _table(key, value, UserSettings.__dataclass_fields__)
            if user.get("kind", "unknown") not in ACTOR_KINDS:
                raise ConfigError("plugins.ins.user.kind", f"valeur inconnue (attendu : {', '.join(ACTOR_KINDS)})",
                                  f"unknown value (expected: {', '.join(ACTOR_KINDS)})")
            s.user = UserSettings(**user)
        elif key == "ps":
            s.ps = PsSettings(**_table(key, value, PsSettings.__dataclass_fields__))
        elif key == "pkcs12_passphrase":
            raise ConfigError("plugins.ins.pkcs12_passphrase", "les secrets vont dans le trousseau (keyring), pas "
                              "dans la configuration", "secrets belong in the keyring, not in the configuration")
        else:
            raise ConfigError(f"plugins.ins.{key}", "clé inconnue", "unknown key")
    return s
