"""Issue 16 item 5: `vigie setup` driven through a real terminal (pexpect: a pty, the prompts as a user sees
them) on a fresh home, against the INSi sandbox and its PKI: a certificate INSi would refuse is caught as it
is entered and the step asked again; the file is written 0600 without the passphrase, which goes to the
keyring (a file-backed test keyring, since it must cross processes), and `vigie doctor` ends green."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import tomllib
from pathlib import Path

import keyring
import pexpect
import pytest

from agent.config import load_config
from agent.secrets import SecretStore
from plugins.ins.settings import PASSPHRASE_SECRET, parse_settings
from sandbox.insi.pki import SandboxPki
from sandbox.insi.server import InsiSandbox
from tests.conftest import REPO, free_port, subprocess_env
from tests.file_keyring import FileKeyring
from tests.plugins.ins.conftest import insi_pki, insi_sandbox  # noqa: F401

pytestmark = pytest.mark.slow
STALE_PTYS = 8


def dialog(env: dict[str, str], sandbox: InsiSandbox, pki: SandboxPki, port: int) -> tuple[int, str]:
    # The three steps this test answers (the DMP and MSSanté steps have their own tests: test_setup_steps.py).
    args = ["-m", "agent.cli", "setup", "--etape", "api", "--etape", "ins", "--etape", "eprescription"]
    child = pexpect.spawn(sys.executable, args, cwd=str(REPO), env=env, encoding="utf-8",
                          timeout=30, dimensions=(50, 200),
                          echo=False)  # answers are not shown back: the transcript holds none of them
    child.logfile_read = open(Path(env["VIGIE_TEST_KEYRING"]).with_name("terminal.log"), "w")
    child.expect("Configuration de Vigie : ")

    def answer(prompt: str, text: str) -> None:
        child.expect_exact(prompt)
        child.sendline(text)

    answer("Adresses (origines) des logiciels de cabinet autorisés", "https://lgc.example.fr")
    answer("Port de l'API locale (Entrée : 8743) : ", str(port))
    child.expect_exact("Vérifié et enregistré.")
    answer("Mode d'accès au téléservice INSi [mtls = ", "mtls")
    answer("Adresse du téléservice INSi (Entrée : https://qualiflps-services-ps-tlsm.ameli.fr:443/lps) : ", sandbox.url)
    answer("Autorités de certification du téléservice", ", ".join(str(p) for p in pki.ca_files))
    answer("Numéro d'autorisation logiciel (IDAM) : ", sandbox.idam)
    answer("Certificat de l'organisation (fichier PKCS#12 .p12 à importer) : ", str(pki.wrong_client_p12))
    answer("Phrase de passe du certificat (masquée ; Entrée : inchangée) : ", pki.wrong_client_passphrase)
    answer("Praticien par défaut (nom affiché) : ", "Dr Claire MARTIN")
    answer("Identifiant national du praticien (tel que sur sa CPS) : ", pki.ps_national_id)
    child.expect_exact("Problème : Le certificat INSi de l'organisation doit avoir pour nom (CN) « INSI-AUTO »")
    child.expect_exact("Reprenons cette étape.")
    # Asked again with the answers just given as defaults: Entrée keeps them, only the certificate changes.
    answer("Mode d'accès au téléservice INSi [mtls = ", "")
    answer(f"Adresse du téléservice INSi (Entrée : {sandbox.url}) : ", "")
    answer("Autorités de certification du téléservice", "")
    answer(f"Numéro d'autorisation logiciel (IDAM) (Entrée : {sandbox.idam}) : ", "")
    answer(f"Certificat de l'organisation (fichier PKCS#12 .p12 à importer) (Entrée : {pki.wrong_client_p12}) : ",
           str(pki.client_p12))
    answer("Phrase de passe du certificat (masquée ; Entrée : inchangée) : ", pki.client_passphrase)
    answer("Praticien par défaut (nom affiché) (Entrée : Dr Claire MARTIN) : ", "")
    answer(f"Identifiant national du praticien (tel que sur sa CPS) (Entrée : {pki.ps_national_id}) : ", "")
    child.expect_exact("Vérifié et enregistré.")
    answer("Utiliser l'e-prescription [oui / non] (Entrée : oui) : ", "peut-être")
    answer("Réponse attendue : oui, non.", "non")
    child.expect_exact("Vérifié et enregistré.")
    child.expect_exact("3 étape(s) sur 3 enregistrée(s)")
    child.expect_exact("Vérification de l'installation (vigie doctor)")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before


def log_of(env: dict[str, str]) -> str:
    return Path(env["VIGIE_TEST_KEYRING"]).with_name("terminal.log").read_text()


async def test_setup_in_a_terminal_verifies_reasks_and_ends_with_a_green_doctor(
        tmp_path: Path, insi_sandbox: InsiSandbox, insi_pki: SandboxPki) -> None:  # noqa: F811
    home = tmp_path / "home"
    env = subprocess_env(home)
    env.update(PYTHON_KEYRING_BACKEND="tests.file_keyring.FileKeyring", TERM="xterm", COLUMNS="200",
               VIGIE_TEST_KEYRING=str(tmp_path / "keyring.json"))
    env.pop("DISPLAY", None)
    port = free_port()
    # Stale sandbox agents left by other runs on a shared machine keep reopening the pty paths their virtual
    # serial scanners once had (/dev/pts/0 to 4 here) and set them raw, which makes the terminal read
    # end-of-file: hold the low pty numbers ourselves so that the terminal under test gets a higher one.
    placeholders = [os.openpty()]
    while int(os.ttyname(placeholders[-1][1]).rsplit("/", 1)[-1]) < STALE_PTYS and len(placeholders) < STALE_PTYS:
        placeholders.append(os.openpty())
    try:
        status, doctor_output = await asyncio.to_thread(dialog, env, insi_sandbox, insi_pki, port)
    finally:
        for pair in placeholders:
            for fd in pair:
                os.close(fd)
    terminal = log_of(env)
    assert insi_pki.client_passphrase not in terminal  # never shown (nor any answer: the pty's echo is off)
    assert "échec" not in doctor_output, doctor_output
    assert status == 0, doctor_output
    assert "Configuration" in doctor_output and f"{port} libre" in doctor_output

    path = home / "config" / "vigie" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert insi_pki.client_passphrase not in text and insi_pki.wrong_client_passphrase not in text
    secrets = json.loads((tmp_path / "keyring.json").read_text())
    assert secrets[f"vigie/{PASSPHRASE_SECRET}"] == insi_pki.client_passphrase
    config = load_config(path, environ={})
    assert config.api.allowed_origins == ["https://lgc.example.fr"] and config.api.port == port
    ins = parse_settings(config.plugin_settings("ins"))
    assert ins.configured and ins.pkcs12_path == "keyring:ins.certificate" and ins.url == insi_sandbox.url
    # The PKCS#12 itself went to the keyring (chunked), the file is not referenced.
    assert str(insi_pki.client_p12) not in text
    stored = SecretStore()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIGIE_TEST_KEYRING", str(tmp_path / "keyring.json"))
        keyring.set_keyring(FileKeyring())
        assert stored.get_blob("ins.certificate") == insi_pki.client_p12.read_bytes()
    assert tomllib.loads(text)["plugins"]["eprescription"] == {"enabled": False}
