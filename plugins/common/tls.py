"""Client TLS shared by the national-service clients: pinned CAs only, a PKCS#12 client identity.

`ssl` only loads a client key from a file: `load_client_identity` writes it to an anonymous memory file
on Linux (`memfd`), otherwise to a 0600 temporary file removed right after loading; either way
encrypted with a one-time password, so the plaintext key never touches a file. Errors are `TlsError`
with a French message naming the service (the caller wraps it in its own error type).

Where the PKCS#12 comes from (`read_pkcs12_source`): `keyring:<name>`, the bytes `vigie setup` imported into
the OS keyring (agent.secrets, chunked), which is what a practice's configuration says; or a file path, kept
for developers and configurations written before the import existed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from agent.errors import UserFacingError
from agent.secrets import SecretStore

KEYRING_PREFIX = "keyring:"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class TlsError(Exception):
    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def keyring_name(source: str | os.PathLike[str] | None) -> str | None:
    """`name` of a `keyring:<name>` reference, None for a file path (or nothing)."""
    text = os.fspath(source) if source is not None else ""
    return text[len(KEYRING_PREFIX):] if text.startswith(KEYRING_PREFIX) else None


def read_pkcs12_source(source: str | os.PathLike[str], *, service: str, secrets: SecretStore | None = None) -> bytes:
    """The PKCS#12 bytes of `source` (blocking: keyring or file I/O). TlsError with a French message."""
    name = keyring_name(source)
    if name is None:
        path = Path(os.fspath(source)).expanduser()
        try:
            return path.read_bytes()
        except OSError as exc:
            raise TlsError(f"Certificat {service} illisible : {path.name} ({exc.strerror or exc}).", str(exc)) from None
    try:
        data = (secrets or SecretStore()).get_blob(name)
    except UserFacingError as exc:  # SecretCorrupted: a partial or altered import
        raise TlsError(exc.message) from None
    except Exception as exc:  # the keyring backend's own errors vary by OS (locked, no D-Bus...)
        raise TlsError(f"Certificat {service} : trousseau du système inaccessible ({type(exc).__name__}).",
                       str(exc)) from None
    if data is None:
        raise TlsError(f"Certificat {service} absent du trousseau (secret « {name} ») : importez-le avec "
                       "« vigie setup » ou la page de configuration.")
    return data


def load_pkcs12(data: bytes, passphrase: str, *, service: str
                ) -> tuple[PrivateKey, x509.Certificate, tuple[x509.Certificate, ...]]:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase.encode() or None)
    except ValueError as exc:
        raise TlsError(f"Certificat {service} illisible : fichier PKCS#12 invalide ou phrase de passe incorrecte.",
                       str(exc)) from None
    if cert is None or key is None:
        raise TlsError(f"Le fichier PKCS#12 {service} ne contient pas de certificat avec sa clé privée.")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TlsError(f"Type de clé du certificat {service} non pris en charge.")
    return key, cert, tuple(extra)


def client_context(ca_files: Sequence[Path], *, service: str) -> ssl.SSLContext:
    """A TLS ≥ 1.2 client context trusting only `ca_files` (PEM or DER), hostname checked (blocking I/O)."""
    if not ca_files:
        raise TlsError(f"Aucune autorité de certification {service} configurée (ca_files).")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in ca_files:
        try:
            data = Path(path).read_bytes()
            if b"-----BEGIN CERTIFICATE-----" in data:
                context.load_verify_locations(cadata=data.decode("ascii"))
            else:
                context.load_verify_locations(cadata=data)
        except (OSError, ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
            raise TlsError(f"Autorité de certification {service} illisible : {Path(path).name}.", str(exc)) from None
    return context


def load_client_identity(context: ssl.SSLContext, key: PrivateKey, cert: x509.Certificate,
                         chain: Sequence[x509.Certificate] = (), *, service: str) -> None:
    password = secrets.token_urlsafe(32).encode()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(password))
    pem += cert.public_bytes(serialization.Encoding.PEM)
    pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    try:
        with private_file(pem) as path:
            context.load_cert_chain(path, password=password)
    except (ssl.SSLError, OSError) as exc:
        raise TlsError(f"Impossible de charger le certificat {service}.", str(exc)) from None


@contextlib.contextmanager
def private_file(data: bytes) -> Iterator[str]:
    """A readable path holding `data` for the duration of the block, gone afterwards."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("vigie-client", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="vigie-", suffix=".pem")  # created 0600
    try:
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        yield path
    finally:
        os.unlink(path)
