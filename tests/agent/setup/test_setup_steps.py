"""Issue 16 item 5: the set-up steps verify what is entered against real things (the sandbox INSi PKI's
PKCS#12, the INSi sandbox's TLS endpoint, a closed port) and save to a 0600 file and the keyring only."""

from __future__ import annotations

import asyncio
import json
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.errors import UserFacingError
from agent.plugins import PluginHost
from agent.secrets import MemoryKeyring, SecretStore
from agent.setup_host import API_STEP
from agent.setup_steps import SetupSession, collect_steps
from plugins.eprescription.settings import parse_settings as eprescription_settings
from plugins.ins.settings import PASSPHRASE_SECRET, parse_settings
from plugins.ins.setup import NATIONAL_ID_PROBLEM
from sandbox.insi.pki import SandboxPki
from sandbox.insi.server import InsiSandbox
from tests.conftest import free_port
from tests.plugins.ins.conftest import insi_pki, insi_sandbox  # noqa: F401


def ins_answers(sandbox: InsiSandbox, pki: SandboxPki, **changes: str) -> dict[str, str]:
    values = {"auth": "mtls", "url": sandbox.url, "ca_files": ", ".join(str(p) for p in pki.ca_files),
              "idam": sandbox.idam, "pkcs12_path": str(pki.client_p12), "pkcs12_passphrase": pki.client_passphrase,
              "user_name": "Dr Claire MARTIN", "user_national_id": pki.ps_national_id}
    values.update(changes)
    return values


async def in_thread(fn: Any, *args: Any) -> Any:
    """The steps block (files, network); the sandbox answers on this test's loop, so call them in a thread."""
    return await asyncio.to_thread(fn, *args)


async def check(session: SetupSession, sandbox: InsiSandbox, pki: SandboxPki, **changes: str) -> list[str]:
    problems: list[str] = await in_thread(session.check, "ins", ins_answers(sandbox, pki, **changes))
    return problems


@pytest.fixture
def session(tmp_path: Path) -> SetupSession:
    host = PluginHost()
    host.load()
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text(f'[store]\npath = "{tmp_path / "vigie.sqlite3"}"\n\n[plugins.ins]\nbatch_file = "/srv/jour.csv"\n')
    return SetupSession(path, [API_STEP, *collect_steps(host)])


def test_setup_every_builtin_capability_contributes_its_step(session: SetupSession) -> None:
    assert list(session.steps) == ["api", "ins", "eprescription", "dmp", "mss"]
    fields = {f.name: f for f in session.step("ins").fields(session.config())}
    assert fields["auth"].kind == "choice" and {v for v, _ in fields["auth"].choices} == {"mtls", "cps"}
    assert fields["pkcs12_passphrase"].kind == "secret" and fields["pkcs12_passphrase"].default == ""
    assert fields["pkcs12_path"].when == ("auth", "mtls")


async def test_setup_ins_step_accepts_the_sandbox_certificate_and_endpoint_and_saves_0600(
        session: SetupSession, insi_sandbox: InsiSandbox, insi_pki: SandboxPki,  # noqa: F811
        memory_keyring: MemoryKeyring) -> None:
    values = ins_answers(insi_sandbox, insi_pki)
    assert await in_thread(session.check, "ins", values) == []
    assert await in_thread(session.save, "ins", values) == []
    text = session.path.read_text()
    assert insi_pki.client_passphrase not in text  # the passphrase lives in the keyring only
    assert SecretStore().get(PASSPHRASE_SECRET) == insi_pki.client_passphrase
    assert stat.S_IMODE(session.path.stat().st_mode) == 0o600
    raw = tomllib.loads(text)
    assert raw["plugins"]["ins"]["batch_file"] == "/srv/jour.csv"  # a key no step owns is kept
    settings = parse_settings(load_config(session.path).plugin_settings("ins"))
    # The PKCS#12 itself was imported into the keyring: the file is no longer referenced.
    assert settings.configured and settings.auth == "mtls" and settings.pkcs12_path == "keyring:ins.certificate"
    assert str(insi_pki.client_p12) not in text
    assert SecretStore().get_blob("ins.certificate") == insi_pki.client_p12.read_bytes()
    assert settings.user.name == "Dr Claire MARTIN" and settings.user.national_id == insi_pki.ps_national_id
    # Asked again, the defaults are what was saved; empty certificate and passphrase keep the keyring's.
    fields = {f.name: f.default for f in session.step("ins").fields(session.config())}
    assert fields["url"] == insi_sandbox.url and fields["pkcs12_path"] == ""
    assert await in_thread(session.check, "ins", {**fields, "pkcs12_passphrase": ""}) == []
    assert await in_thread(session.save, "ins", {**fields, "pkcs12_passphrase": ""}) == []
    assert parse_settings(load_config(session.path).plugin_settings("ins")).pkcs12_path == "keyring:ins.certificate"
    # A certificate altered in the keyring since (one chunk lost) is reported, not handed to TLS.
    chunks = json.loads(SecretStore().get("ins.certificate") or "{}")["chunks"]
    assert chunks >= 2
    SecretStore().delete("ins.certificate#1")
    assert await in_thread(session.check, "ins", {**fields, "pkcs12_passphrase": ""}) == [
        f"Certificat de l'organisation : Le secret « ins.certificate » du trousseau est incomplet (morceau 2 sur "
        f"{chunks} absent) : importez à nouveau le certificat (vigie setup)."]


async def test_setup_ins_step_refuses_what_insi_would_refuse(
        session: SetupSession, insi_sandbox: InsiSandbox, insi_pki: SandboxPki) -> None:  # noqa: F811
    wrong_cn = await check(session, insi_sandbox, insi_pki, pkcs12_path=str(insi_pki.wrong_client_p12),
                                                pkcs12_passphrase=insi_pki.wrong_client_passphrase)
    assert len(wrong_cn) == 1 and "INSI-AUTO" in wrong_cn[0] and "INSI-TEST-MAUVAIS" in wrong_cn[0]
    bad_pass = await check(session, insi_sandbox, insi_pki, pkcs12_passphrase="pas la bonne")
    assert bad_pass == ["Certificat INSi illisible : fichier PKCS#12 invalide ou phrase de passe incorrecte."]
    closed = await check(session, insi_sandbox, insi_pki, url=f"https://127.0.0.1:{free_port()}/lps")
    assert len(closed) == 1 and "injoignable" in closed[0]
    untrusted = await check(session, insi_sandbox, insi_pki, ca_files=str(insi_pki.cps_ca))
    assert len(untrusted) == 1 and "pas signé par les autorités configurées" in untrusted[0]
    assert await in_thread(session.save, "ins", ins_answers(insi_sandbox, insi_pki, user_national_id="12")) == [
        NATIONAL_ID_PROBLEM]
    assert "ins" not in tomllib.loads(session.path.read_text())["plugins"] or \
        "url" not in tomllib.loads(session.path.read_text())["plugins"]["ins"]  # nothing written on a problem
    missing = await check(session, insi_sandbox, insi_pki, idam="")
    assert missing == ["« Numéro d'autorisation logiciel (IDAM) » est obligatoire."]


async def test_setup_ins_cps_mode_needs_no_certificate_and_drops_it(
        session: SetupSession, insi_sandbox: InsiSandbox, insi_pki: SandboxPki) -> None:  # noqa: F811
    assert await in_thread(session.save, "ins", ins_answers(insi_sandbox, insi_pki)) == []
    cps = ins_answers(insi_sandbox, insi_pki, auth="cps")
    del cps["pkcs12_path"], cps["pkcs12_passphrase"]  # not asked in CPS mode
    assert await in_thread(session.save, "ins", cps) == []
    settings = parse_settings(load_config(session.path).plugin_settings("ins"))
    assert settings.auth == "cps" and settings.pkcs12_path is None


def test_setup_api_step_checks_origins_and_port(session: SetupSession) -> None:
    problems = session.check("api", {"allowed_origins": "https://lgc.example.fr/", "port": "99999"})
    assert problems[0].startswith("Origine invalide « https://lgc.example.fr/ »")
    assert problems[1] == "Le port doit être un nombre entre 1 et 65535."
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert session.check("api", {"allowed_origins": "", "port": str(port)}) == [
            f"Le port {port} est occupé par un autre programme : choisissez-en un autre."]
    port = free_port()
    assert session.save("api", {"allowed_origins": "https://lgc.example.fr, http://localhost:3000",
                                "port": str(port)}) == []
    config = load_config(session.path)
    assert config.api.allowed_origins == ["https://lgc.example.fr", "http://localhost:3000"] and config.api.port == port


async def test_setup_eprescription_step_uses_the_plugins_rules(
        session: SetupSession, insi_sandbox: InsiSandbox) -> None:  # noqa: F811
    base = {"enabled": "oui", "url": insi_sandbox.url, "timeout": "2,5", "printer": "", "page_size": "A5",
            "export_dir": str(session.path.parent / "ordonnances")}
    assert await in_thread(session.check, "eprescription", {**base, "timeout": "60"}) == [
        "timeout : un nombre de secondes entre 0 et 10 est attendu"]
    closed = await in_thread(session.check, "eprescription", {**base, "url": f"http://127.0.0.1:{free_port()}/ep"})
    assert len(closed) == 1 and closed[0].startswith("Téléservice e-prescription : 127.0.0.1:")
    assert await in_thread(session.save, "eprescription", base) == []
    s = eprescription_settings(load_config(session.path).plugin_settings("eprescription"))
    assert s.enabled and s.url == insi_sandbox.url and s.timeout == 2.5 and s.page_size == "A5"
    assert await in_thread(session.save, "eprescription", {"enabled": "non"}) == []
    assert not eprescription_settings(load_config(session.path).plugin_settings("eprescription")).enabled


async def test_setup_dmp_step_opens_the_structure_certificate_and_reaches_the_service(
        session: SetupSession, insi_sandbox: InsiSandbox, insi_pki: SandboxPki) -> None:  # noqa: F811
    from plugins.dmp.settings import PKCS12_SECRET
    from plugins.dmp.settings import parse_settings as dmp_settings

    values = {"url": insi_sandbox.url, "ca_files": ", ".join(str(p) for p in insi_pki.ca_files),
              "auth_mode": "INDIRECTE", "pkcs12": str(insi_pki.client_p12), "pkcs12_passphrase": "pas la bonne",
              "structure_id": "312345678900012", "structure_name": "Cabinet du Parc"}
    assert await in_thread(session.check, "dmp", values) == [
        "Certificat de la structure : fichier PKCS#12 illisible ou phrase de passe incorrecte."]
    assert await in_thread(session.check, "dmp", {**values, "pkcs12": ""}) == [
        "Le mode INDIRECTE demande le certificat de la structure."]
    values["pkcs12_passphrase"] = insi_pki.client_passphrase
    closed = await in_thread(session.check, "dmp", {**values, "url": f"https://127.0.0.1:{free_port()}/dmp"})
    assert len(closed) == 1 and closed[0].startswith("Service DMP : 127.0.0.1:")
    assert await in_thread(session.check, "dmp", {**values, "ipp_oid": "1.2.x"}) == [
        "OID des identifiants patients : une suite de nombres séparés par des points (ex. 1.2.250.1.999.1)."]
    values["ipp_oid"] = "1.2.250.1.999.1"
    assert await in_thread(session.save, "dmp", values) == []
    assert insi_pki.client_passphrase not in session.path.read_text()
    assert SecretStore().get(PKCS12_SECRET) == insi_pki.client_passphrase
    saved = dmp_settings(load_config(session.path).plugin_settings("dmp"))
    assert saved.auth_mode == "INDIRECTE" and saved.pkcs12 == "keyring:dmp.certificate"
    assert saved.ipp_oid == "1.2.250.1.999.1"
    assert SecretStore().get_blob("dmp.certificate") == insi_pki.client_p12.read_bytes()
    assert str(insi_pki.client_p12) not in session.path.read_text()


async def test_setup_mss_step_reaches_the_operators_smtp_and_imap(session: SetupSession, insi_pki: SandboxPki) -> None:  # noqa: F811
    import socket

    from plugins.mss.settings import parse_settings as mss_settings

    with socket.socket() as smtp, socket.socket() as imap:
        for server in (smtp, imap):
            server.bind(("127.0.0.1", 0))
            server.listen()
        values = {"mailbox": "secretariat@cabinet.mssante.fr", "auth": "certificate", "smtp_host": "127.0.0.1",
                  "smtp_port": str(smtp.getsockname()[1]), "imap_host": "127.0.0.1",
                  "imap_port": str(free_port()), "ca_files": str(insi_pki.root_ca), "pkcs12": str(insi_pki.client_p12),
                  "pkcs12_passphrase": insi_pki.client_passphrase}
        problems = await in_thread(session.check, "mss", values)
        assert len(problems) == 1 and problems[0].startswith("Serveur IMAP : 127.0.0.1:")
        values["imap_port"] = str(imap.getsockname()[1])
        assert await in_thread(session.check, "mss", {**values, "mailbox": "pas-une-adresse"}) != []
        assert await in_thread(session.check, "mss", {**values, "ipp_oid": "OID du cabinet"}) != []
        assert await in_thread(session.save, "mss", {**values, "ipp_oid": "1.2.250.1.999.1"}) == []
        assert mss_settings(load_config(session.path).plugin_settings("mss")).ipp_oid == "1.2.250.1.999.1"
        assert await in_thread(session.save, "mss", values) == []  # left empty: the setting is removed
    saved = mss_settings(load_config(session.path).plugin_settings("mss"))
    assert saved.mailbox == "secretariat@cabinet.mssante.fr" and saved.imap_port == int(values["imap_port"])
    assert saved.pkcs12 == "keyring:mss.certificate" and saved.ipp_oid is None
    assert SecretStore().get_blob("mss.certificate") == insi_pki.client_p12.read_bytes()


def test_setup_certificate_replaced_between_verify_and_save_is_not_imported(tmp_path: Path) -> None:
    """`apply` stores only the bytes `verify` checked: a file swapped in between is refused."""
    from plugins.common.setup_checks import certificate_bytes, certificate_changes

    file = tmp_path / "org.p12"
    file.write_bytes(b"verified bytes")
    data, problems = certificate_bytes(str(file), "ins.certificate", "Certificat")
    assert data == b"verified bytes" and problems == []
    assert certificate_changes(str(file), "ins.certificate") == ("keyring:ins.certificate",
                                                                 {"ins.certificate": b"verified bytes"})
    file.write_bytes(b"other bytes")
    with pytest.raises(UserFacingError, match="a changé depuis sa vérification"):
        certificate_changes(str(file), "ins.certificate")
    assert SecretStore().get_blob("ins.certificate") is None
