from __future__ import annotations

import subprocess

import keyring

from agent.secrets import MemoryKeyring, SecretStore
from tests.conftest import PYTHON, subprocess_env


def test_secrets_roundtrip_through_keyring(memory_keyring: MemoryKeyring) -> None:
    store = SecretStore()
    assert store.get("insi.pkcs12_passphrase") is None
    store.set("insi.pkcs12_passphrase", "s3cret")
    assert store.get("insi.pkcs12_passphrase") == "s3cret"
    # It really went through the keyring API, under Vigie's service name.
    assert keyring.get_password("vigie", "insi.pkcs12_passphrase") == "s3cret"
    assert memory_keyring.get_password("vigie", "insi.pkcs12_passphrase") == "s3cret"
    store.delete("insi.pkcs12_passphrase")
    store.delete("insi.pkcs12_passphrase")  # absent: no error
    assert store.get("insi.pkcs12_passphrase") is None


def test_secrets_backend_reported() -> None:
    assert SecretStore.backend_name() == "agent.secrets.MemoryKeyring"
    assert SecretStore.backend_usable()


def test_secrets_memory_backend_selectable_by_environment() -> None:
    code = "import keyring; print(type(keyring.get_keyring()).__name__)"
    out = subprocess.run([PYTHON, "-c", code], env=subprocess_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "MemoryKeyring"


def test_secrets_memory_backend_never_chosen_automatically() -> None:
    """Imported but not selected, MemoryKeyring must lose to keyring's own choice (even its "fail" backend):
    secrets kept in memory would vanish at restart without anyone noticing."""
    code = "import agent.secrets, keyring; print(type(keyring.get_keyring()).__name__)"
    env = {k: v for k, v in subprocess_env().items() if k != "PYTHON_KEYRING_BACKEND"}
    env["XDG_CONFIG_HOME"] = env["XDG_DATA_HOME"] = "/nonexistent"  # no keyringrc.cfg either
    out = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() != "MemoryKeyring"
