"""installer/system-packages.sh: one list of system packages for `make` and `.ci/run`.

Run for real: dpkg-query on this machine, and a non-root user (setpriv) for the "print the command
and stop" path. Lists are swapped through VIGIE_PACKAGE_LISTS so a missing package can be named.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "installer" / "system-packages.sh"
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="Debian/Ubuntu only")


def run(*args: str, env: dict[str, str] | None = None, user: int | None = None) -> subprocess.CompletedProcess[str]:
    script = SCRIPT
    prefix: list[str] = []
    if user is not None:  # the clone may sit in a folder only root can enter (/root): run a copy
        prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        script = Path((env or {})["VIGIE_PACKAGE_LISTS"]) / "system-packages.sh"
        shutil.copyfile(SCRIPT, script)
        script.chmod(0o755)
    return subprocess.run([*prefix, "bash", str(script), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """Readable by the unprivileged user (pytest's own tmp_path sits under a 0700 folder of root)."""
    path = Path(tempfile.mkdtemp(prefix="vigie-pkg-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def lists(tmp_path: Path, run_set: str, test_set: str = "") -> dict[str, str]:
    (tmp_path / "debian-run.txt").write_text(run_set)
    (tmp_path / "debian-test.txt").write_text(test_set)
    return {"VIGIE_PACKAGE_LISTS": str(tmp_path)}


def test_system_packages_test_set_extends_run_set() -> None:
    run_set = run("run", "--list").stdout.split()
    test_set = run("test", "--list").stdout.split()
    assert "libpcsclite-dev" in run_set and "swig" in run_set  # pyscard builds from source on Linux
    assert "xvfb" not in run_set and "chromium" not in run_set  # test-only packages stay out of `make run`
    assert test_set[: len(run_set)] == run_set and "xvfb" in test_set
    assert len(test_set) == len(set(test_set)), "a package is listed twice"


def test_system_packages_ci_and_make_use_the_script() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "installer/system-packages.sh test" in ci
    assert not re.search(r"apt-get\s+install", ci), ".ci/run must not keep a package list of its own"
    makefile = (ROOT / "Makefile").read_text()
    assert "$(SYSTEM_PACKAGES) run" in makefile and "$(SYSTEM_PACKAGES) test" in makefile


@needs_dpkg
def test_system_packages_nothing_missing_does_nothing(tmp_path: Path) -> None:
    result = run("test", env=lists(tmp_path, "bash  # comment\ncoreutils\n", "dpkg\n"), user=65534)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@needs_dpkg
def test_system_packages_not_root_prints_the_command_and_stops(tmp_path: Path) -> None:
    result = run("run", env=lists(tmp_path, "bash\nvigie-no-such-package\n"), user=65534)
    assert result.returncode == 1
    assert "Paquets système manquants" in result.stderr and "Missing system packages" in result.stderr
    assert "sudo apt-get install -y --no-install-recommends vigie-no-such-package" in result.stderr
    assert "« make run » : vigie-no-such-package\n" in result.stderr  # only the missing one, not bash


def test_system_packages_skip_variable(tmp_path: Path) -> None:
    env = {**lists(tmp_path, "vigie-no-such-package\n"), "VIGIE_SKIP_SYSTEM_PACKAGES": "1"}
    assert run("run", env=env).returncode == 0


def test_system_packages_rejects_unknown_set() -> None:
    assert run("everything").returncode == 2
