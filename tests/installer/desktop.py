"""A desktop session for the installed program: a private Xvfb display and a real Secret Service keyring
(gnome-keyring on a private D-Bus session bus), in a throwaway home. Shared by the frozen-build tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import subprocess_env
from tests.ui_support import require_binary

SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
# Unlocks (and on first use creates) the "login" collection, then runs the command on the same bus.
_UNLOCK = 'printf selftest | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"'


def home_env(home: Path, display: str | None) -> dict[str, str]:
    env = subprocess_env(home)
    env.pop("PYTHON_KEYRING_BACKEND")  # the program picks the system keyring by itself, as for a user
    env.pop("PYTHONPATH")  # nothing from the source tree (the sandbox is there)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["XDG_RUNTIME_DIR"] = str(home / "run")
    (home / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    env.pop("DISPLAY", None)
    # SoftHSM2 (a PKCS#11 module the self-test loads) initialises only with a readable token folder: give
    # it the throwaway home's own, as a user's default /etc/softhsm/softhsm2.conf would.
    (home / "softhsm" / "tokens").mkdir(parents=True, exist_ok=True)
    conf = home / "softhsm" / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'softhsm' / 'tokens'}\nobjectstore.backend = file\n")
    env["SOFTHSM2_CONF"] = str(conf)
    if display is not None:
        env["DISPLAY"] = display
    return env


def run_in_session(command: Sequence[str], env: dict[str, str], *, keyring: bool = True,
                   timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`command` with a Secret Service keyring (keyring=True) or with no keyring at all."""
    if keyring:
        require_binary("dbus-run-session", "gnome-keyring-daemon")
        command = ["dbus-run-session", "--", "sh", "-c", _UNLOCK, "sh", *command]
    return subprocess.run(list(command), env=env, capture_output=True, text=True, timeout=timeout, check=False)


def frozen_build() -> Path | None:
    """dist/vigie (or $VIGIE_FROZEN_BUILD) when `make dist-test` asks for the frozen-build tests."""
    value = os.environ.get("VIGIE_FROZEN_BUILD")
    return Path(value).resolve() if value else None
