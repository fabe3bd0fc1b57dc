"""`vigie selftest` from the source tree (the frozen build runs the same checks: tests/installer)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.installer.desktop import SECRET_SERVICE, home_env, run_in_session
from tests.ui_support import xvfb

COMMAND = [sys.executable, "-m", "agent.cli", "selftest"]


def test_selftest_venv_passes_with_display_keyring_and_pcscd(tmp_path: Path, pcscd: object) -> None:
    with xvfb() as display:
        env = {**home_env(tmp_path, display), "PYTHON_KEYRING_BACKEND": SECRET_SERVICE,
               "PCSCLITE_CSOCK_NAME": os.environ["PCSCLITE_CSOCK_NAME"]}
        result = run_in_session(COMMAND, env)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    assert "environnement de développement" in rows["Programme"]
    for name in ("Modules", "Démarrage de l'agent", "Fenêtre (popup)", "Processus de calcul", "Bibliothèque PC/SC",
                 "Bibliothèques PKCS#11",
                 "Trousseau (keyring)", "Base locale inscriptible"):
        assert " ok " in rows[name], rows[name]
    assert "service PC/SC joignable" in rows["Bibliothèque PC/SC"]
    # The probe secret is deleted again: nothing of the self-test stays in the user's keyring.
    probe = run_in_session([sys.executable, "-c", "import keyring; print(keyring.get_password('vigie', "
                            "'selftest.probe'))"], env)
    assert probe.stdout.strip() == "None", probe.stderr


def test_selftest_venv_unwritable_store_fails(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[store]\npath = "/proc/vigie-cannot-write/vigie.sqlite3"\n')
    env = {**home_env(tmp_path, None), "PYTHON_KEYRING_BACKEND": "agent.secrets.MemoryKeyring"}
    result = run_in_session([*COMMAND, "--config", str(config)], env, keyring=False)
    assert result.returncode == 1
    assert "Base locale inscriptible" in result.stderr and "Traceback" not in result.stderr
