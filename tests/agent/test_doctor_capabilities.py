"""`vigie doctor` rows the capabilities contribute (register_doctor_checks): against the sandbox's INSi, DMP
and MSSanté stand-ins with their certificates in the keyring (green), then an expired certificate, a missing
keyring secret and an unreachable endpoint (red, French reasons, exit code 1)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent import doctor
from agent.config import config_from_dict
from agent.secrets import SecretStore
from plugins.common.doctor_checks import certificate_row
from sandbox.dmp.server import DmpSandbox, start_dmp_sandbox
from sandbox.insi.pki import SandboxPki, generate_sandbox_pki
from sandbox.insi.server import InsiSandbox, start_insi_sandbox
from sandbox.mss.server import MssSandbox, start_mss_sandbox
from tests.conftest import free_port

pytestmark = pytest.mark.slow
DAYS = 90  # the stand-ins' PKIs live 7 days by default, which the doctor rightly reports as to renew


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return generate_sandbox_pki(tmp_path_factory.mktemp("doctor-pki") / "pki", days=DAYS)


@pytest.fixture
async def insi_sandbox(pki: SandboxPki) -> AsyncIterator[InsiSandbox]:
    sandbox = await start_insi_sandbox(pki=pki)
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def dmp_sandbox(pki: SandboxPki) -> AsyncIterator[DmpSandbox]:
    sandbox = await start_dmp_sandbox(pki=pki)
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def mss(tmp_path: Path) -> AsyncIterator[MssSandbox]:
    box = await start_mss_sandbox(tmp_path / "mss", mdn_delay=0.2, pki_days=DAYS)
    yield box
    await box.stop()


def write_config(tmp_path: Path, insi: InsiSandbox, dmp: DmpSandbox, mss: MssSandbox, **mss_over: Any) -> Path:
    """The three capabilities as `vigie setup` leaves them: certificates and passphrases in the keyring."""
    store = SecretStore()
    for service in (insi.as_service(), dmp.as_service(), mss.as_service()):
        for name, value in service.secrets.items():
            store.set(name, value)
        for name, path in service.certificates.items():
            store.set_blob(name, path.read_bytes())
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps({
        "api": {"port": free_port()}, "store": {"path": str(tmp_path / "s" / "vigie.sqlite3")},
        "plugins": {"ins": insi.plugin_settings(keyring=True), "dmp": dmp.plugin_settings(keyring=True),
                    "mss": {**mss.plugin_settings(keyring=True), **mss_over}}}))
    return path


async def rows_of(path: Path) -> dict[str, doctor.Check]:
    checks = await asyncio.to_thread(doctor.run_checks, path)  # the stand-ins answer on this test's loop
    return {c.name: c for c in checks}


def p12(days_left: float, passphrase: str, cn: str = "Cabinet expiré",
        usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=400))
            .not_valid_after(now + dt.timedelta(days=days_left))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(b"x", key, cert, None,
                                                 serialization.BestAvailableEncryption(passphrase.encode()))


async def test_doctor_capability_rows_green_against_the_stand_ins(
        tmp_path: Path, insi_sandbox: InsiSandbox, dmp_sandbox: DmpSandbox, mss: MssSandbox,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, insi_sandbox, dmp_sandbox, mss)
    rows = await rows_of(path)
    for name in ("INSi : certificat de l'organisation", "INSi : téléservice", "DMP : certificat de la structure",
                 "DMP : service", "MSSanté : certificat de la boîte", "MSSanté : serveur SMTP",
                 "MSSanté : serveur IMAP"):
        assert rows[name].level == doctor.OK, rows[name]
    cert = rows["INSi : certificat de l'organisation"].detail
    assert cert.startswith("« INSI-AUTO » (trousseau, secret « ins.certificate »), valide jusqu'au ")
    assert " jours)" in cert
    assert rows["INSi : téléservice"].detail.endswith("TLS vérifié par les autorités configurées, certificat "
                                                      "client présenté")
    assert "localhost:" in rows["MSSanté : serveur SMTP"].detail
    assert await asyncio.to_thread(doctor.main, path) == 0
    out = capsys.readouterr().out
    for passphrase in (insi_sandbox.pki.client_passphrase, mss.pki.app_client.passphrase):
        assert passphrase not in out  # no secret in what a support person reads over the phone


async def test_doctor_capability_rows_red_with_french_reasons(
        tmp_path: Path, insi_sandbox: InsiSandbox, dmp_sandbox: DmpSandbox, mss: MssSandbox,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, insi_sandbox, dmp_sandbox, mss, smtp_port=free_port())
    store = SecretStore()
    store.delete_blob("ins.certificate")  # never imported on this workstation
    store.set_blob("dmp.certificate", p12(-3, dmp_sandbox.secrets()["dmp.pkcs12"]))  # expired three days ago
    rows = await rows_of(path)
    ins = rows["INSi : certificat de l'organisation"]
    assert ins.level == doctor.FAIL and ins.detail == (
        "Certificat INSi absent du trousseau (secret « ins.certificate ») : importez-le avec « vigie setup » "
        "ou la page de configuration.")
    dmp = rows["DMP : certificat de la structure"]
    expired = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).strftime("%d/%m/%Y")
    assert dmp.level == doctor.FAIL and dmp.detail.endswith(f"expiré le {expired}, à renouveler")
    smtp = rows["MSSanté : serveur SMTP"]
    assert smtp.level == doctor.FAIL and "injoignable" in smtp.detail and "vérifiez l'adresse" in smtp.detail
    assert rows["MSSanté : serveur IMAP"].level == doctor.OK  # only what is wrong is red
    assert await asyncio.to_thread(doctor.main, path) == 1
    assert "échec" in capsys.readouterr().out


def test_doctor_certificate_row_warns_under_thirty_days_and_checks_usage(tmp_path: Path) -> None:
    store = SecretStore()
    here = doctor.DoctorContext(config_from_dict({}), store, {})
    store.set("t.pass", "phrase")
    store.set_blob("t.cert", p12(10.5, "phrase", cn="Cabinet"))
    row, identity = certificate_row("T", "keyring:t.cert", "t.pass", here, service="T", plugin="t")
    assert row.level == doctor.WARN and "(10 jours) : à renouveler sans tarder" in row.detail and identity
    store.set("t.pass", "pas la bonne")
    row, identity = certificate_row("T", "keyring:t.cert", "t.pass", here, service="T", plugin="t")
    assert row.level == doctor.FAIL and "phrase de passe incorrecte" in row.detail and identity is None
    store.delete("t.pass")
    row, _ = certificate_row("T", "keyring:t.cert", "t.pass", here, service="T", plugin="t")
    assert row.detail == "phrase de passe absente du trousseau (secret « t.pass »)"
    store.delete("t.cert#0")
    row, _ = certificate_row("T", "keyring:t.cert", "t.pass", here, service="T", plugin="t")
    assert row.level == doctor.FAIL and "incomplet (morceau 1 sur" in row.detail
    # The developers' form (a file path) still works, and the row says which form is in use.
    store.set("t.pass", "phrase")
    file = tmp_path / "dev.p12"
    file.write_bytes(p12(200, "phrase", cn="Poste de dev"))
    row, identity = certificate_row("T", str(file), "t.pass", here, service="T", plugin="t")
    assert row.level == doctor.OK and row.detail.startswith("« Poste de dev » (fichier dev.p12, mode développeur)")
    # A server certificate sent by mistake: refused before any call.
    file.write_bytes(p12(200, "phrase", cn="www.cabinet.fr", usage=ExtendedKeyUsageOID.SERVER_AUTH))
    row, identity = certificate_row("T", str(file), "t.pass", here, service="T", plugin="t")
    assert row.level == doctor.FAIL and identity is None
    assert row.detail.endswith("pas un certificat d'authentification client (usage étendu sans « clientAuth »)")
    # A running sandbox agent's memory keyring: what that agent says of its plugin.
    sandbox = doctor.DoctorContext(here.config, None, {"t": {"status": "ok", "reason": None}})
    row, _ = certificate_row("T", "keyring:t.cert", "t.pass", sandbox, service="T", plugin="t")
    assert row.level == doctor.OK and row.detail.endswith("chargé par l'agent (module t démarré)")
    sandbox = doctor.DoctorContext(here.config, None, {"t": {"status": "starting", "reason": "Certificat absent"}})
    row, _ = certificate_row("T", "keyring:t.cert", "t.pass", sandbox, service="T", plugin="t")
    assert row.level == doctor.WARN and row.detail.endswith("l'agent dit : Certificat absent")
