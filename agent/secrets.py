"""Secrets (certificate passphrases, mail passwords) go through the OS keyring, never the config.

`keyring` picks the platform backend (Windows Credential Locker, macOS Keychain, Secret Service on
Linux). `MemoryKeyring` is for tests and the throwaway sandbox profile: select it explicitly, e.g.
`PYTHON_KEYRING_BACKEND=agent.secrets.MemoryKeyring` or `keyring.set_keyring(MemoryKeyring())`.
"""

from __future__ import annotations

import keyring
import keyring.backend
import keyring.errors

SERVICE = "vigie"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """Process-local keyring: nothing written anywhere (tests, sandbox)."""

    # keyring picks the highest priority among every backend class imported so far: 0.1 (the old value)
    # beat its "fail" backend (0) on a machine without a system keyring, so secrets silently lived in
    # memory and vanished at restart. Below "fail" (0) and "null" (-1), it is only ever chosen by name.
    priority = -2

    def __init__(self) -> None:
        super().__init__()
        self._data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self._data[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None


class SecretStore:
    """Named secrets of this installation, e.g. `insi.pkcs12_passphrase`."""

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service

    def get(self, name: str) -> str | None:
        return keyring.get_password(self.service, name)

    def set(self, name: str, value: str) -> None:
        keyring.set_password(self.service, name, value)

    def delete(self, name: str) -> None:
        try:
            keyring.delete_password(self.service, name)
        except keyring.errors.PasswordDeleteError:
            pass  # deleting an absent secret is not an error for our callers

    @staticmethod
    def backend_name() -> str:
        backend = keyring.get_keyring()
        return f"{type(backend).__module__}.{type(backend).__qualname__}"

    @staticmethod
    def backend_usable() -> bool:
        """False when keyring fell back to its 'fail' or 'null' backend (no OS keyring here)."""
        name = SecretStore.backend_name()
        return not (name.startswith("keyring.backends.fail") or name.startswith("keyring.backends.null"))
