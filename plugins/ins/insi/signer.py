"""The signing port of CPS mode, and a software implementation for tests and the sandbox.

A CPS card signs through PKCS#11 (hardware/pkcs11, later): it only needs to give its signing
certificate and an RSA-SHA256 PKCS#1 v1.5 signature of bytes. Both calls may block (card I/O, PIN
prompt): the client always calls them from a worker thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from plugins.ins.insi.types import InsiConfigError


@runtime_checkable
class Signer(Protocol):
    def certificate(self) -> bytes:
        """The signing certificate, DER."""
        ...

    def sign(self, data: bytes) -> bytes:
        """RSA-SHA256, PKCS#1 v1.5 signature of `data` (blocking)."""
        ...


class SoftwareSigner:
    """A PEM private key and its certificate, in memory (sandbox stand-in for the CPS card)."""

    def __init__(self, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
            raise InsiConfigError("La clé de signature ne correspond pas au certificat de la carte CPS.")
        self._key = key
        self._cert = cert

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes, password: bytes | None = None) -> SoftwareSigner:
        try:
            key = serialization.load_pem_private_key(key_pem, password=password)
            cert = x509.load_pem_x509_certificate(cert_pem)
        except (ValueError, TypeError) as exc:
            raise InsiConfigError("Clé ou certificat de signature illisible.", detail=str(exc)) from None
        if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(cert.public_key(), rsa.RSAPublicKey):
            raise InsiConfigError("La signature de l'assertion CPS demande une clé RSA.")
        return cls(key, cert)

    @classmethod
    def from_files(cls, key_path: Path, cert_path: Path, password: bytes | None = None) -> SoftwareSigner:
        """Blocking file reads: call at startup or from a worker thread."""
        try:
            key_pem, cert_pem = Path(key_path).read_bytes(), Path(cert_path).read_bytes()
        except OSError as exc:
            raise InsiConfigError("Clé ou certificat de signature introuvable.", detail=str(exc)) from None
        return cls.from_pem(key_pem, cert_pem, password)

    def certificate(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.DER)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
