"""`[plugins.eprescription]` validation and the QR code recognition (`parse_scan`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.errors import ConfigError
from plugins.eprescription.scan import KIND, ScanParser
from plugins.eprescription.settings import DEFAULT_PATTERN, parse_settings


def test_settings_defaults_mean_module_off_until_an_url_is_given() -> None:
    s = parse_settings({})
    assert s.disabled_reason == "Téléservice e-prescription non configuré" and s.timeout == 2.0
    s = parse_settings({"url": "https://ordo.example", "timeout": 1, "page_size": "A5", "export_dir": "/tmp/x"})
    assert s.disabled_reason is None and s.timeout == 1.0 and s.page_size == "A5" and s.export_dir == Path("/tmp/x")
    assert parse_settings({"url": "https://ordo.example", "enabled": False}).disabled_reason == (
        "Module e-prescription désactivé par la configuration")


@pytest.mark.parametrize(("raw", "key", "message"), [
    ({"timeout": 30}, "plugins.eprescription.timeout", "un nombre de secondes entre 0 et 10 est attendu"),
    ({"timeout": True}, "plugins.eprescription.timeout", "un nombre de secondes entre 0 et 10 est attendu"),
    ({"url": "ftp://x"}, "plugins.eprescription.url", "l'URL doit commencer par https:// (ou http:// en local)"),
    ({"enabled": "yes"}, "plugins.eprescription.enabled", "true ou false attendu"),
    ({"page_size": "Letter"}, "plugins.eprescription.page_size", "« A4 » ou « A5 » attendu"),
    ({"identifier_pattern": "EP-("}, "plugins.eprescription.identifier_pattern", "expression régulière invalide"),
    ({"urll": "https://x"}, "plugins.eprescription.urll", "clé inconnue"),
])
def test_settings_refuse_with_the_key_named(raw: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw)
    assert (info.value.key, info.value.message_fr) == (key, message)


def test_scan_recognises_own_qr_only() -> None:
    parser = ScanParser(DEFAULT_PATTERN)
    assert parser.parse(b"EP-7K3M9Q2XWT4B8N6C\r\n") == {"kind": KIND, "content": {"identifier": "EP-7K3M9Q2XWT4B8N6C"}}
    damaged = parser.parse(b"EP-7K3M9Q2XWT4B8N6")  # one character short
    assert damaged is not None and damaged["kind"] == KIND and "content" not in damaged
    assert damaged["errors"] == [{"field": "identifier",
                                  "message": "Code e-prescription illisible ou incomplet : rescannez l'ordonnance."}]
    for other in (b"10000123454", b"751234567", b"\xff\xfe\x00", b"DC04\x1dS1EXEMPLE", b""):
        assert parser.parse(other) is None, other


def test_scan_pattern_comes_from_configuration() -> None:
    parser = ScanParser(r"ORD[0-9]{12}")
    assert parser.parse(b"ORD123456789012") == {"kind": KIND, "content": {"identifier": "ORD123456789012"}}
    assert parser.parse(b"EP-7K3M9Q2XWT4B8N6C") is None
    assert parser.parse(b"ORD12")["errors"]  # type: ignore[index]
