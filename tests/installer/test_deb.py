"""The Debian package (`make deb`): installed with dpkg -i, self-tested, removed; the user's data stays.

Run by `make dist-test` as root (CI); it installs and purges the `vigie` package on this machine."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.installer.desktop import SECRET_SERVICE, home_env, run_in_session
from tests.ui_support import require_binary, xvfb

DEB_DIR = os.environ.get("VIGIE_DEB_DIR")
pytestmark = pytest.mark.skipif(not DEB_DIR or shutil.which("dpkg") is None or os.geteuid() != 0,
                                reason="Debian package: `make dist-test` as root (CI) builds and tests it")
INSTALLED = ("/opt/vigie/vigie", "/usr/bin/vigie", "/usr/share/applications/vigie.desktop",
             "/etc/xdg/autostart/vigie.desktop")


def package() -> Path:
    assert DEB_DIR is not None
    debs = sorted(Path(DEB_DIR).glob("vigie_*.deb"), key=lambda p: p.stat().st_mtime)
    assert debs, f"no vigie_*.deb in {DEB_DIR}"
    return debs[-1]


def dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=300, check=False)


def is_installed() -> bool:
    return "install ok installed" in dpkg("-s", "vigie").stdout


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "run" not in p.relative_to(root).parts}


def test_deb_contents_are_the_frozen_build_without_sandbox() -> None:
    listing = dpkg("--contents", str(package()))
    assert listing.returncode == 0, listing.stderr
    paths = [line.split()[-1].lstrip(".") for line in listing.stdout.splitlines()]
    for path in INSTALLED:
        assert path in paths
    leaked = [p for p in paths if any(f"/{name}/" in p for name in ("sandbox", "tests", "bench"))]
    assert leaked == []
    info = dpkg("--info", str(package())).stdout
    assert "Package: vigie" in info and "libpcsclite1" in info


def test_deb_install_selftest_autostart_purge_keeps_user_data(tmp_path: Path) -> None:
    require_binary("desktop-file-validate")
    if is_installed():  # left by an interrupted run
        assert dpkg("--purge", "vigie").returncode == 0
    result = dpkg("-i", str(package()))
    assert result.returncode == 0, result.stderr
    try:
        for path in INSTALLED:
            assert Path(path).exists(), path
        check = subprocess.run(["desktop-file-validate", *INSTALLED[2:]], capture_output=True, text=True, check=False)
        assert check.returncode == 0 and check.stdout == "", check.stdout
        with xvfb() as display:
            env = {**home_env(tmp_path, display), "PYTHON_KEYRING_BACKEND": SECRET_SERVICE}
            env.pop("XDG_CONFIG_DIRS", None)  # the system autostart entry is /etc/xdg's
            selftest = run_in_session(["/usr/bin/vigie", "selftest"], env)
            assert selftest.returncode == 0, selftest.stdout + selftest.stderr
            assert "version installée (sans bac à sable)" in selftest.stdout
            # The user's data: a configuration, a store (doctor creates it), the keyring, an autostart choice.
            (tmp_path / "config" / "vigie").mkdir(parents=True, exist_ok=True)
            (tmp_path / "config" / "vigie" / "config.toml").write_text('[api]\nallowed_origins = ["https://lgc.example"]\n')
            subprocess.run(["/usr/bin/vigie", "doctor"], env=env, capture_output=True, timeout=60, check=False)
            assert (tmp_path / "data" / "vigie" / "vigie.sqlite3").is_file()
            status = subprocess.run(["/usr/bin/vigie", "autostart", "status"], env=env, capture_output=True, text=True,
                                    timeout=60, check=True).stdout
            assert "activé (/etc/xdg/autostart/vigie.desktop)" in status and "/usr/bin/vigie run" in status
            disabled = subprocess.run(["/usr/bin/vigie", "autostart", "disable"], env=env, capture_output=True,
                                      text=True, timeout=60, check=True).stdout
            assert "désactivé" in disabled
        before = digests(tmp_path)
        assert any(k.startswith("data/keyrings/") for k in before), sorted(before)  # gnome-keyring's own file
        assert "config/autostart/vigie.desktop" in before
        purge = dpkg("--purge", "vigie")
        assert purge.returncode == 0, purge.stderr
        assert not is_installed()
        for path in INSTALLED:
            assert not Path(path).exists(), path
        assert digests(tmp_path) == before  # configuration, store, keyring and autostart choice untouched
    finally:
        if is_installed():
            dpkg("--purge", "vigie")
