"""Shared fixtures. Tests select the in-memory keyring explicitly: never the developer's real one."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from agent.config import Config, config_from_dict
from agent.plugins import PluginHost
from agent.secrets import MemoryKeyring

REPO = Path(__file__).resolve().parent.parent
TEST_TOKEN = "test-token-0123456789abcdef"


# Card fixtures (private pcscd, virtual card slots, SoftHSM2 CPS token), defined once for every directory
# so their session scope really is one per test process.
pytest_plugins = ["tests.cardkit", "tests.pgkit"]

CARDS_ROOT = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Card stacks private to this test process (each xdist worker), set before any library reads them.

    libpcsclite reads `PCSCLITE_CSOCK_NAME` once per process and SoftHSM2 `SOFTHSM2_CONF` once per
    initialisation, so they point at this process's own pcscd and token store (tests/cardkit.py) from
    the start: no test depends on, or disturbs, the machine's pcscd or tokens.
    """
    root = Path(tempfile.mkdtemp(prefix="vigie-test-cards-"))
    os.environ["PCSCLITE_CSOCK_NAME"] = str(root / "pcscd" / "run" / "pcscd.comm")
    os.environ["SOFTHSM2_CONF"] = str(root / "softhsm" / "softhsm2.conf")
    config.stash[CARDS_ROOT] = root


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, once, after every worker
        from tests.ui_support import write_walk_index

        write_walk_index()


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(CARDS_ROOT, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """Agents under test run headless unless a test gives the ui plugin its own Xvfb display."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point platformdirs (config, data, logs, state) at a temporary home."""
    home = tmp_path / "home"
    home.mkdir()
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"),
                     ("XDG_CACHE_HOME", "cache")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("HOME", str(home))
    for key in [k for k in os.environ if k.startswith("VIGIE_")]:
        monkeypatch.delenv(key)
    return home


@pytest.fixture
def agent_config(tmp_path: Path) -> Config:
    """A configuration for an in-process agent: random port, test token, everything in tmp_path."""
    return config_from_dict({
        "api": {"port": 0, "tokens": [TEST_TOKEN], "allowed_origins": ["http://lgc.test"]},
        "store": {"path": str(tmp_path / "store" / "vigie.sqlite3")},
        "log": {"dir": str(tmp_path / "logs")},
    })


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def sandbox_host() -> PluginHost:
    """A plugin host with the sandbox's plugins and hooks installed, as the sandbox's agent has them."""
    from sandbox.plugins import install

    host = PluginHost()
    install(host)
    return host


def subprocess_env(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env["PYTHON_KEYRING_BACKEND"] = "agent.secrets.MemoryKeyring"
    env["PYTHONPATH"] = str(REPO)
    if home is not None:
        for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state")):
            env[var] = str(home / sub)
        env["HOME"] = str(home)
    return env


PYTHON = sys.executable
