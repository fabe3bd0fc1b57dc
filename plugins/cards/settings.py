"""`[plugins.cards]`: how cards are read (all optional; sensible defaults per OS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.errors import ConfigError
from hardware.atr import compile_table

VITALE_READERS = ("apdu", "sesam")


@dataclass
class CardSettings:
    # "sesam": the official library (production); "apdu": the public identity block (development, tests).
    vitale_reader: str = "sesam"
    sesam_library: str | None = None
    atr: dict[str, str] = field(default_factory=dict)  # extra ATR patterns -> kind, before the built-in table
    pkcs11_module: str | None = None  # default: the Cryptolib CPS found on this OS
    pkcs11_token_label: str | None = None  # default: the token of the reader holding the CPS
    auth_key_id: bytes | None = None  # default: the certificate whose CKA_ID ends with 0x20
    kind_policies: dict[str, str] = field(default_factory=dict)  # certificate policy OID -> card kind
    pin_timeout: float = 120.0
    pcsc_socket: str | None = None  # a private pcscd (sandbox): sets PCSCLITE_CSOCK_NAME
    softhsm2_conf: str | None = None  # sandbox/tests: SoftHSM2 plays the CPS token (sets SOFTHSM2_CONF)


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"plugins.cards.{key}", "une chaîne non vide est attendue", "a non-empty string is expected")
    return value


def parse_settings(raw: dict[str, Any]) -> CardSettings:
    # The sandbox's card stand-in asks for "apdu" in its settings (sandbox/cards/service.py): no branch here.
    s = CardSettings()
    for key, value in raw.items():
        if key == "vitale_reader":
            if value not in VITALE_READERS:
                raise ConfigError("plugins.cards.vitale_reader", f"attendu : {', '.join(VITALE_READERS)}",
                                  f"expected: {', '.join(VITALE_READERS)}")
            s.vitale_reader = value
        elif key in ("sesam_library", "pkcs11_module", "pkcs11_token_label", "pcsc_socket", "softhsm2_conf"):
            setattr(s, key, _str(key, value))
        elif key in ("atr", "kind_policies"):
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f"plugins.cards.{key}", "une table de chaînes est attendue",
                                  "a table of strings is expected")
            setattr(s, key, dict(value))
        elif key == "auth_key_id":
            try:
                s.auth_key_id = bytes.fromhex(_str(key, value))
            except ValueError:
                raise ConfigError("plugins.cards.auth_key_id", "hexadécimal attendu (ex. 0220)",
                                  "hex expected") from None
        elif key == "pin_timeout":
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"plugins.cards.{key}", "un nombre positif est attendu",
                                  "a positive number is expected")
            s.pin_timeout = float(value)
        else:
            raise ConfigError(f"plugins.cards.{key}", "clé inconnue", "unknown key")
    try:
        compile_table(s.atr)
    except ValueError as exc:
        raise ConfigError("plugins.cards.atr", str(exc), "invalid ATR pattern") from None
    return s
