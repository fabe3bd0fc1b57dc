"""A keyring backend in one 0600 JSON file, for tests whose secrets must cross processes (`vigie setup` in a
terminal, then the test reading what it stored). The OS keyrings (Secret Service, Credential Locker, Keychain)
are not reachable on a headless CI machine; select this one by name only:
`PYTHON_KEYRING_BACKEND=tests.file_keyring.FileKeyring` with `VIGIE_TEST_KEYRING` naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring.backend
import keyring.errors


class FileKeyring(keyring.backend.KeyringBackend):
    priority = -2  # never chosen by keyring on its own

    @property
    def path(self) -> Path:
        return Path(os.environ["VIGIE_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self.path.touch(mode=0o600)
        self.path.write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise keyring.errors.PasswordDeleteError(username)
        self.path.write_text(json.dumps(data))
