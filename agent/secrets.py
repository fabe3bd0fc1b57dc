"""Secrets (certificate passphrases, mail passwords) go through the OS keyring, never the config.

`keyring` picks the platform backend (Windows Credential Locker, macOS Keychain, Secret Service on
Linux). `MemoryKeyring` is for tests and the throwaway sandbox profile: select it explicitly, e.g.
`PYTHON_KEYRING_BACKEND=agent.secrets.MemoryKeyring` or `keyring.set_keyring(MemoryKeyring())`.

Binary secrets (an organisation's PKCS#12, a few KB) are stored chunked (`set_blob`): Windows Credential
Locker refuses a secret over CRED_MAX_CREDENTIAL_BLOB_SIZE (5 × 512 bytes, and it stores text as UTF-16, so
1,280 characters). The bytes go base64-encoded in chunks of at most `CHUNK_CHARS` characters under
`<name>#0`, `<name>#1`..., and `<name>` itself holds a small manifest (chunk count, size, SHA-256) written
last, so a write cut half-way or a chunk altered since is detected on reading (`SecretCorrupted`, French)
instead of handing a truncated certificate to TLS.
"""

from __future__ import annotations

import base64
import hashlib
import json

import keyring
import keyring.backend
import keyring.errors

from agent.errors import UserFacingError

SERVICE = "vigie"
CRED_MAX_CREDENTIAL_BLOB_SIZE = 5 * 512  # bytes, wincred.h: the smallest limit of the three OS keyrings
CHUNK_CHARS = 1200  # base64 characters per chunk: 2,400 bytes once UTF-16 encoded, under the limit above
BLOB_FORMAT = "vigie-blob/1"


class SecretCorrupted(UserFacingError):
    """A chunked secret whose chunks are missing or do not match its manifest."""


def split_chunks(data: bytes, size: int = CHUNK_CHARS) -> tuple[str, list[str]]:
    """The manifest and the chunks `data` is stored as (pure: the size-limit logic, unit-tested)."""
    text = base64.b64encode(data).decode("ascii")
    chunks = [text[i:i + size] for i in range(0, len(text), size)] or [""]
    manifest = json.dumps({"format": BLOB_FORMAT, "chunks": len(chunks), "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}, separators=(",", ":"))
    return manifest, chunks


def parse_manifest(name: str, manifest: str) -> dict[str, object]:
    try:
        meta = json.loads(manifest)
        if not isinstance(meta, dict) or meta.get("format") != BLOB_FORMAT or int(meta["chunks"]) < 1:
            raise ValueError(manifest[:40])
    except (ValueError, KeyError, TypeError):
        raise SecretCorrupted(f"Le secret « {name} » du trousseau n'est pas un certificat importé par Vigie "
                              "(format inconnu) : importez à nouveau le certificat (vigie setup).") from None
    return meta


def join_chunks(name: str, meta: dict[str, object], chunks: list[str | None]) -> bytes:
    """The bytes back from their chunks, checked against the manifest (SecretCorrupted otherwise)."""
    again = "importez à nouveau le certificat (vigie setup)"
    absent = [i for i, c in enumerate(chunks) if c is None]
    if absent:
        raise SecretCorrupted(f"Le secret « {name} » du trousseau est incomplet (morceau {absent[0] + 1} sur "
                              f"{len(chunks)} absent) : {again}.")
    try:
        data = base64.b64decode("".join(c for c in chunks if c is not None), validate=True)
    except ValueError:
        data = b""
    if len(data) != meta.get("size") or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise SecretCorrupted(f"Le secret « {name} » du trousseau est altéré (empreinte SHA-256 différente de "
                              f"celle enregistrée) : {again}.")
    return data


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

    # -- binary secrets, chunked ----------------------------------------------------------------------

    def set_blob(self, name: str, data: bytes) -> None:
        """Store `data` under `name` (chunks first, the manifest last; stale chunks of a longer one removed)."""
        previous = self._chunk_count(name)
        manifest, chunks = split_chunks(data)
        for i, chunk in enumerate(chunks):
            self.set(f"{name}#{i}", chunk)
        self.set(name, manifest)
        for i in range(len(chunks), previous):
            self.delete(f"{name}#{i}")

    def get_blob(self, name: str) -> bytes | None:
        """The bytes stored by `set_blob`, None when absent; SecretCorrupted when a chunk is missing or altered."""
        manifest = self.get(name)
        if manifest is None:
            return None
        meta = parse_manifest(name, manifest)
        chunks = [self.get(f"{name}#{i}") for i in range(int(str(meta["chunks"])))]
        return join_chunks(name, meta, chunks)

    def delete_blob(self, name: str) -> None:
        count = self._chunk_count(name)
        self.delete(name)  # the manifest first: a half-deleted blob reads as absent, not as corrupted
        for i in range(count):
            self.delete(f"{name}#{i}")

    def _chunk_count(self, name: str) -> int:
        manifest = self.get(name)
        if manifest is None:
            return 0
        try:
            return int(str(parse_manifest(name, manifest)["chunks"]))
        except SecretCorrupted:
            return 0

    @staticmethod
    def backend_name() -> str:
        backend = keyring.get_keyring()
        return f"{type(backend).__module__}.{type(backend).__qualname__}"

    @staticmethod
    def backend_usable() -> bool:
        """False when keyring fell back to its 'fail' or 'null' backend (no OS keyring here)."""
        name = SecretStore.backend_name()
        return not (name.startswith("keyring.backends.fail") or name.startswith("keyring.backends.null"))
