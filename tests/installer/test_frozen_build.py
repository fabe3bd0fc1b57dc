"""The frozen one-folder build (`make dist`), tested as a user gets it. Run by `make dist-test` (CI runs it
after `make test`: building takes a minute, so `make test` alone skips these)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from agent.plugins import DEFAULT_PLUGINS
from agent.store import CORE_MIGRATIONS
from tests.conftest import free_port
from tests.installer.desktop import SECRET_SERVICE, frozen_build, home_env, run_in_session
from tests.plugins.ins.test_upgrade_store import FIXTURE
from tests.ui_support import xvfb

BUILD = frozen_build()
pytestmark = pytest.mark.skipif(BUILD is None, reason="frozen build: `make dist-test` (CI) builds and tests it")
FORBIDDEN = ("sandbox", "tests", "bench", "pytest", "_pytest", "hypothesis")


def exe() -> Path:
    assert BUILD is not None
    return BUILD / "vigie"


def pyz_modules() -> set[str]:
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(exe()))
    name = next(n for n in archive.toc if n.endswith(".pyz"))
    return set(archive.open_embedded_archive(name).toc)


def test_frozen_toc_has_every_plugin_and_no_sandbox() -> None:
    modules = pyz_modules()
    for ref in DEFAULT_PLUGINS.values():  # loaded from strings: declared by the spec, not found by analysis
        assert ref.partition(":")[0] in modules
    assert {"agent.selftest", "agent.popup.app", "agent.popup.__main__", "keyring.backends.SecretService"} <= modules
    leaked = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
    assert leaked == [], f"test or sandbox code in the build: {leaked[:10]}"
    assert BUILD is not None
    internal = BUILD / "_internal"
    assert not [p for p in internal.iterdir() if p.name in FORBIDDEN]
    assert (internal / "agent" / "web" / "vigie.js").is_file()
    entry_points = list(internal.glob("vigie-*.dist-info/entry_points.txt"))  # third-party plugins' group
    assert len(entry_points) == 1 and "vigie.sandbox" not in entry_points[0].read_text()
    assert not list(internal.glob("libpcsclite*")), "libpcsclite must come from the system (pcscd protocol)"


def test_frozen_build_carries_every_data_file_of_the_product() -> None:
    """Web assets, value sets, schemas...: every tracked non-Python file of agent/, plugins/, hardware/."""
    assert BUILD is not None
    root = Path(__file__).resolve().parents[2]
    listed = subprocess.run(["git", "ls-files", "agent", "plugins", "hardware"], cwd=root, capture_output=True,
                            text=True, timeout=60, check=True).stdout.split()
    data = [p for p in listed if not p.endswith(".py")]
    missing = [p for p in data if not (BUILD / "_internal" / p).is_file()]
    assert data and missing == []


def test_frozen_selftest_passes_on_a_desktop(tmp_path: Path, pcscd: object) -> None:
    with xvfb() as display:
        env = {**home_env(tmp_path, display), "PYTHON_KEYRING_BACKEND": SECRET_SERVICE}
        env["PCSCLITE_CSOCK_NAME"] = os.environ["PCSCLITE_CSOCK_NAME"]  # this test process's private pcscd
        result = run_in_session([str(exe()), "selftest"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "version installée (sans bac à sable)" in out
    assert f"{len(DEFAULT_PLUGINS)} chargés" in out
    for line in ("Démarrage de l'agent", "Fenêtre (popup)", "Processus de calcul", "Bibliothèque PC/SC",
                 "Trousseau (keyring)", "Base locale inscriptible"):
        row = next(r for r in out.splitlines() if r.startswith(line))
        assert " ok " in row, row
    assert "SecretService" in out and "Auto-test réussi." in out


def test_frozen_selftest_fails_with_french_reasons(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\npath = "{blocker}/vigie.sqlite3"\n')
    env = home_env(tmp_path, None)  # no display, no D-Bus: no keyring
    result = run_in_session([str(exe()), "selftest", "--config", str(config)], env, keyring=False)
    assert result.returncode == 1, result.stdout
    assert "Auto-test en échec (2 point(s)) : Trousseau (keyring) ; Base locale inscriptible" in result.stderr
    assert "aucun trousseau du système" in result.stdout
    assert "pas d'écran (DISPLAY) : fenêtre non vérifiée" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def start_and_stop(tmp_path: Path, *extra: str) -> str:
    """`vigie run --headless` until /health answers, then SIGTERM: returns what it printed."""
    port = free_port()
    env = home_env(tmp_path, None)
    proc = subprocess.Popen([str(exe()), "run", "--headless", "--port", str(port), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, health = time.monotonic() + 30, None
        while health is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                    health = json.load(resp)
            except OSError:
                time.sleep(0.1)
        assert health is not None and health["status"] == "ok", proc.poll()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdout is not None
    return proc.stdout.read()


def test_frozen_run_answers_health_then_stops_on_sigterm(tmp_path: Path) -> None:
    assert "à l'écoute" in start_and_stop(tmp_path)


def test_frozen_build_starts_on_an_older_store(tmp_path: Path) -> None:
    """Upgrade: the installed build migrates a store an older Vigie left (tests/plugins/ins/test_upgrade_store.py
    runs its queued jobs from the source tree)."""
    store = tmp_path / "old.sqlite3"
    shutil.copyfile(FIXTURE, store)
    store.chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\npath = "{store}"\n')
    start_and_stop(tmp_path, "--config", str(config))
    conn = sqlite3.connect(store)
    try:
        versions = dict(conn.execute("SELECT namespace, MAX(version) FROM schema_migrations GROUP BY namespace"))
        identities = conn.execute("SELECT COUNT(*) FROM ins_identities").fetchone()[0]
    finally:
        conn.close()
    assert versions["agent"] == max(m.version for m in CORE_MIGRATIONS if m.namespace == "agent")
    assert "eprescription" in versions and identities == 3


def test_frozen_sandbox_is_refused_in_french(tmp_path: Path) -> None:
    result = subprocess.run([str(exe()), "run", "--sandbox"], env=home_env(tmp_path, None), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Le bac à sable n'est pas installé avec cette version de Vigie" in result.stderr
    assert "Traceback" not in result.stderr
