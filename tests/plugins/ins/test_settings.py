"""`[plugins.ins]` parsing: presets, types, secrets refused, messages naming the key (plugins/ins/settings.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from agent.errors import ConfigError
from plugins.ins.settings import PASSPHRASE_SECRET, PRESETS, InsSettings, PsSettings, UserSettings, parse_settings
from sandbox.insi.server import InsiSandbox


def refused(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_settings(raw)
    error = caught.value
    assert error.message_fr and error.message_en
    assert str(error) == f"{error.key}: {error.message_fr} / {error.message_en}"
    return error


def test_parse_settings_empty_gives_the_defaults() -> None:
    s = parse_settings({})
    assert s == InsSettings()
    assert (s.url, s.auth, s.ca_files, s.pkcs12_path, s.idam, s.documents) == (None, "mtls", [], None, "", None)
    assert (s.connect_timeout, s.total_timeout, s.search_timeout) == (3.0, 10.0, 30.0)
    assert (s.max_attempts, s.lookup_concurrency, s.batch_concurrency) == (3, 4, 8)
    assert s.user == UserSettings() and s.user.kind == "unknown"
    assert s.ps == PsSettings() and s.ps.activity_sector == "SA07"
    assert s.configured is False


@pytest.mark.parametrize(
    ("preset", "url", "auth"),
    [
        ("qualif_cps", "https://qualiflps.services-ps.ameli.fr:443/lps", "cps"),
        ("qualif_mtls", "https://qualiflps-services-ps-tlsm.ameli.fr:443/lps", "mtls"),
        ("prod_mtls", "https://services-ps-tlsm.ameli.fr/lps", "mtls"),
    ],
)
def test_parse_settings_presets(preset: str, url: str, auth: str) -> None:
    s = parse_settings({"preset": preset})
    assert (s.url, s.auth) == (url, auth)
    assert PRESETS[preset] == (url, auth)


def test_parse_settings_explicit_keys_win_over_the_preset_in_any_order() -> None:
    raw = {"url": "https://insi.example/lps", "auth": "mtls", "preset": "qualif_cps"}
    s = parse_settings(raw)
    assert (s.url, s.auth) == ("https://insi.example/lps", "mtls")
    assert raw == {"url": "https://insi.example/lps", "auth": "mtls", "preset": "qualif_cps"}  # not modified


@pytest.mark.parametrize("preset", ["qualif", "PROD_MTLS", "", 3, ["qualif_cps"], {"a": 1}])
def test_parse_settings_unknown_preset(preset: Any) -> None:
    error = refused({"preset": preset})
    assert error.key == "plugins.ins.preset"
    assert error.message_fr == "préréglage inconnu (connus : qualif_cps, qualif_mtls, prod_mtls)"
    assert error.message_en == "unknown preset (known: qualif_cps, qualif_mtls, prod_mtls)"


def test_parse_settings_every_key() -> None:
    s = parse_settings({
        "url": "https://insi.example/lps", "auth": "cps", "ca_files": ["/etc/ca1.pem", "ca2.pem"],
        "pkcs12_path": "/etc/org.p12", "idam": "IDAM123", "software_name": "Cabinet", "emitter": "ORG",
        "connect_timeout": 1, "total_timeout": 2.5, "search_timeout": 20, "retry_delay": 5, "retry_max": 60,
        "max_attempts": 2, "lookup_concurrency": 1, "batch_concurrency": 3, "batch_rate_per_second": 0.5,
        "dedupe_window": 30, "recheck_days": 180, "documents": ["passport", "national_id_card"],
        "user": {"kind": "cpe_nominative", "name": "Mme Durand", "national_id": "00B123", "profession": "secrétaire"},
        "ps": {"national_id": "810001234567", "billing_id": "991234567", "activity_sector": "SA01",
               "specialty_code": "SM54"},
    })
    assert s == InsSettings(
        url="https://insi.example/lps", auth="cps", ca_files=[Path("/etc/ca1.pem"), Path("ca2.pem")],
        pkcs12_path=Path("/etc/org.p12"), idam="IDAM123", software_name="Cabinet", emitter="ORG",
        connect_timeout=1.0, total_timeout=2.5, search_timeout=20.0, retry_delay=5.0, retry_max=60.0,
        max_attempts=2, lookup_concurrency=1, batch_concurrency=3, batch_rate_per_second=0.5, dedupe_window=30.0,
        recheck_days=180.0, documents=["passport", "national_id_card"],
        user=UserSettings(kind="cpe_nominative", name="Mme Durand", national_id="00B123", profession="secrétaire"),
        ps=PsSettings(national_id="810001234567", billing_id="991234567", activity_sector="SA01",
                      specialty_code="SM54"),
    )
    assert isinstance(s.connect_timeout, float) and isinstance(s.max_attempts, int)


STRING, LIST, PATH, NUMBER, INTEGER, TABLE = ("une chaîne", "a string"), ("une liste de chemins", "a list of paths"), \
    ("un chemin", "a path"), ("un nombre", "a number"), ("un entier", "an integer"), ("une table", "a table")
CODES = ("une liste de codes", "a list of codes")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("url", 42, STRING), ("url", True, STRING), ("url", ["https://x"], STRING),
        ("idam", 123, STRING), ("software_name", None, STRING), ("emitter", {"cn": "x"}, STRING),
        ("ca_files", "/etc/ca.pem", LIST), ("ca_files", ["/etc/ca.pem", 3], LIST), ("ca_files", [None], LIST),
        ("pkcs12_path", 1, PATH), ("pkcs12_path", ["/a"], PATH),
        ("connect_timeout", "3", NUMBER), ("total_timeout", True, NUMBER), ("search_timeout", None, NUMBER),
        ("retry_delay", [1], NUMBER), ("retry_max", "600", NUMBER), ("batch_rate_per_second", False, NUMBER),
        ("dedupe_window", "120", NUMBER), ("recheck_days", {}, NUMBER),
        ("max_attempts", 2.0, INTEGER), ("max_attempts", True, INTEGER), ("lookup_concurrency", "4", INTEGER),
        ("batch_concurrency", 8.5, INTEGER),
        ("documents", "passport", CODES), ("documents", ["passport", 2], CODES),
        ("user", "ps", TABLE), ("ps", ["x"], TABLE),
    ],
)
def test_parse_settings_type_errors_name_the_key(key: str, value: Any, expected: tuple[str, str]) -> None:
    error = refused({key: value})
    assert error.key == f"plugins.ins.{key}"
    assert (error.message_fr, error.message_en) == (f"la valeur doit être {expected[0]}",
                                                    f"the value must be {expected[1]}")


@pytest.mark.parametrize(
    "key",
    ["connect_timeout", "total_timeout", "search_timeout", "batch_rate_per_second", "dedupe_window", "recheck_days",
     "retry_delay", "retry_max"],
)
@pytest.mark.parametrize("value", [0, 0.0, -1, -0.5, math.nan])
def test_parse_settings_durations_and_rates_must_be_positive(key: str, value: float) -> None:
    error = refused({key: value})
    assert (error.key, error.message_fr, error.message_en) == (f"plugins.ins.{key}", "doit être positif",
                                                               "must be positive")


@pytest.mark.parametrize("key", ["max_attempts", "lookup_concurrency", "batch_concurrency"])
@pytest.mark.parametrize("value", [0, -3])
def test_parse_settings_counts_must_be_at_least_one(key: str, value: int) -> None:
    error = refused({key: value})
    assert (error.key, error.message_fr, error.message_en) == (f"plugins.ins.{key}", "doit être au moins 1",
                                                               "must be at least 1")


@pytest.mark.parametrize("value", [0.001, 1, 10**6])
def test_parse_settings_small_and_large_positive_numbers(value: float) -> None:
    assert parse_settings({"dedupe_window": value}).dedupe_window == float(value)


@pytest.mark.parametrize("value", ["MTLS", "tls", "", None, 1, ["mtls"]])
def test_parse_settings_auth_mode(value: Any) -> None:
    error = refused({"auth": value})
    assert (error.key, error.message_fr, error.message_en) == ("plugins.ins.auth", "« mtls » ou « cps » attendu",
                                                               "'mtls' or 'cps' expected")


@pytest.mark.parametrize("value", ["secret", "", 1234])
def test_parse_settings_refuses_a_passphrase_in_the_configuration(value: Any) -> None:
    error = refused({"url": "https://insi.example/lps", "pkcs12_passphrase": value})
    assert error.key == "plugins.ins.pkcs12_passphrase"
    assert error.message_fr == "les secrets vont dans le trousseau (keyring), pas dans la configuration"
    assert error.message_en == "secrets belong in the keyring, not in the configuration"
    assert "secret" not in str(error).replace("secrets", "")  # the value itself is never repeated


@pytest.mark.parametrize("key", ["URL", "timeout", "password", "pkcs12_password", "ca_file", "preset_name"])
def test_parse_settings_unknown_key(key: str) -> None:
    error = refused({key: "x"})
    assert (error.key, error.message_fr, error.message_en) == (f"plugins.ins.{key}", "clé inconnue", "unknown key")


@pytest.mark.parametrize(
    ("raw", "configured"),
    [
        ({}, False),
        ({"url": "https://insi.example/lps", "idam": "IDAM", "ca_files": ["ca.pem"]}, True),
        ({"preset": "qualif_mtls", "idam": "IDAM", "ca_files": ["ca.pem"]}, True),
        ({"preset": "qualif_mtls", "ca_files": ["ca.pem"]}, False),  # no IDAM
        ({"preset": "qualif_mtls", "idam": "IDAM"}, False),  # no CA
        ({"preset": "qualif_mtls", "idam": "IDAM", "ca_files": []}, False),
        ({"idam": "IDAM", "ca_files": ["ca.pem"]}, False),  # no URL
        ({"url": "", "idam": "IDAM", "ca_files": ["ca.pem"]}, False),
        ({"preset": "qualif_mtls", "idam": "", "ca_files": ["ca.pem"]}, False),
    ],
)
def test_configured(raw: dict[str, Any], configured: bool) -> None:
    assert parse_settings(raw).configured is configured


@pytest.mark.parametrize("kind", ["ps", "cpe_nominative", "cpe_anonymous", "unknown"])
def test_parse_settings_user_table(kind: str) -> None:
    assert parse_settings({"user": {"kind": kind}}).user == UserSettings(kind=kind)
    assert parse_settings({"user": {"kind": kind, "name": "Dr Martin", "national_id": "810001234567"}}).user == \
        UserSettings(kind=kind, name="Dr Martin", national_id="810001234567")


def test_parse_settings_user_table_without_kind_is_unknown() -> None:
    assert parse_settings({"user": {"name": "Accueil"}}).user == UserSettings(kind="unknown", name="Accueil")


@pytest.mark.parametrize("kind", ["PS", "doctor", "cpe", ""])
def test_parse_settings_user_kind_must_be_known(kind: str) -> None:
    # A typo must not silently turn the practitioner into an unidentified user.
    error = refused({"user": {"kind": kind}})
    assert error.key == "plugins.ins.user.kind"
    assert error.message_fr == "valeur inconnue (attendu : ps, cpe_nominative, cpe_anonymous, unknown)"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"user": {"kind": "ps", "nmae": "Dr Martin"}}, "plugins.ins.user.nmae"),
        ({"ps": {"national_id": "810001234567", "speciality_code": "SM54"}}, "plugins.ins.ps.speciality_code"),
    ],
)
def test_parse_settings_user_and_ps_tables_refuse_unknown_keys(raw: dict[str, Any], key: str) -> None:
    error = refused(raw)
    assert (error.key, error.message_fr, error.message_en) == (key, "clé inconnue", "unknown key")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"user": {"kind": "ps", "name": 3}}, "plugins.ins.user.name"),
        ({"user": {"kind": ["ps"]}}, "plugins.ins.user.kind"),
        ({"ps": {"national_id": 810001234567}}, "plugins.ins.ps.national_id"),
        ({"ps": {"activity_sector": True}}, "plugins.ins.ps.activity_sector"),
    ],
)
def test_parse_settings_user_and_ps_values_are_strings(raw: dict[str, Any], key: str) -> None:
    error = refused(raw)
    assert (error.key, error.message_fr) == (key, "la valeur doit être une chaîne")


def test_parse_settings_ps_table_keeps_the_defaults_it_does_not_set() -> None:
    assert parse_settings({"ps": {"national_id": "810001234567"}}).ps == PsSettings(national_id="810001234567",
                                                                                     activity_sector="SA07")


def test_parse_settings_documents_subset_keeps_the_configured_codes() -> None:
    # Codes outside the built-in list are kept (an EHPAD's own procedure); a driving licence is refused at
    # qualification time (qualify_rules), not here.
    assert parse_settings({"documents": ["passport", "ehpad"]}).documents == ["passport", "ehpad"]
    assert parse_settings({"documents": []}).documents == []


async def test_parse_settings_accepts_what_the_sandbox_gives(insi_sandbox: InsiSandbox) -> None:
    s = parse_settings(insi_sandbox.plugin_settings())
    assert s.configured and s.user.kind == "ps" and s.ps.national_id and insi_sandbox.secrets()[PASSPHRASE_SECRET]


@pytest.mark.parametrize(("key", "value"), [("pkcs12_passphrase_sandbox", "throwaway"),
                                            ("sandbox_signer", {"key": "k.pem", "cert": "c.pem"})])
def test_parse_settings_has_no_sandbox_keys(key: str, value: Any) -> None:
    # The sandbox gives its passphrase through the keyring and its CPS key through the card port (sandbox/insi).
    error = refused({key: value})
    assert (error.key, error.message_fr) == (f"plugins.ins.{key}", "clé inconnue")
