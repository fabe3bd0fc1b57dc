"""TLS for INSi: the organisation certificate (mTLS mode) and the pinned server trust.

- The PKCS#12 is loaded and checked before any call: subject CN exactly `INSI-AUTO` or
  `INSI-MANU` (anything else gets DESIR_560 from the service), validity dates.
- The server is trusted through the configured CA files only (ACR-EL + ACI-EL-ORG in production);
  the system store is never loaded. PEM or DER files are accepted (IGC-Santé publishes `.cer`).
- `ssl` only loads a client key from a file. The key goes to an anonymous memory file on Linux
  (`memfd`), otherwise to a 0600 temporary file removed right after loading; either way it is
  written encrypted with a one-time password, so the plaintext key never touches a file.
"""

from __future__ import annotations

import datetime as dt
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from plugins.common.tls import TlsError, read_pkcs12_source
from plugins.common.tls import private_file as _private_file
from plugins.ins.insi.types import InsiConfigError

ALLOWED_CLIENT_CNS = ("INSI-AUTO", "INSI-MANU")
PROD_ISSUER_CN = "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
TEST_ISSUER_CN = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"


@dataclass(frozen=True)
class ClientIdentity:
    """The organisation certificate of a PKCS#12, its key and the chain it carries."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def cn(self) -> str | None:
        return _attr(self.cert.subject, NameOID.COMMON_NAME)

    @property
    def ou(self) -> str | None:
        """padoa takes `Emetteur` from the subject OU (insi.md §1)."""
        return _attr(self.cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME)

    @property
    def issuer_cn(self) -> str | None:
        return _attr(self.cert.issuer, NameOID.COMMON_NAME)

    @property
    def is_test_certificate(self) -> bool:
        return self.issuer_cn == TEST_ISSUER_CN


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def load_pkcs12(source: Path | str | None, passphrase: str | None) -> ClientIdentity:
    """Read and decrypt the organisation PKCS#12 (blocking): `keyring:<name>` (imported by `vigie setup`) or a
    file path (developers, older configurations). InsiConfigError with a French message."""
    if source is None or not str(source):
        raise InsiConfigError("Mode mTLS : aucun certificat d'organisation (PKCS#12) n'est configuré.")
    if passphrase is None:
        raise InsiConfigError("Mode mTLS : la phrase de passe du certificat INSi est absente du trousseau.")
    try:
        data = read_pkcs12_source(source, service="INSi")
    except TlsError as exc:
        raise InsiConfigError(exc.message, detail=exc.detail) from None
    return identity_from_bytes(data, passphrase)


def identity_from_bytes(data: bytes, passphrase: str) -> ClientIdentity:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase.encode() or None)
    except ValueError as exc:
        raise InsiConfigError("Certificat INSi illisible : fichier PKCS#12 invalide ou phrase de passe incorrecte.",
                              detail=str(exc)) from None
    if cert is None or key is None:
        raise InsiConfigError("Le fichier PKCS#12 INSi ne contient pas de certificat avec sa clé privée.")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InsiConfigError("Type de clé du certificat INSi non pris en charge.")
    return ClientIdentity(cert=cert, key=key, chain=tuple(extra))


def check_organisation_certificate(identity: ClientIdentity, *, now: dt.datetime | None = None) -> None:
    """Refuse, before any call, a certificate the service would refuse."""
    cn = identity.cn
    if cn not in ALLOWED_CLIENT_CNS:
        raise InsiConfigError(
            f"Le certificat INSi de l'organisation doit avoir pour nom (CN) « INSI-AUTO » ou « INSI-MANU » ; "
            f"celui configuré s'appelle « {cn or 'sans nom'} ». Le service INSi le refuserait (niveau "
            "d'accès insuffisant) : demandez le bon certificat logiciel à l'ANS.",
            detail=f"client certificate CN {cn!r} is not INSI-AUTO/INSI-MANU",
        )
    now = now or dt.datetime.now(dt.UTC)
    if now < identity.cert.not_valid_before_utc:
        raise InsiConfigError("Le certificat INSi de l'organisation n'est pas encore valide.")
    if now >= identity.cert.not_valid_after_utc:
        raise InsiConfigError(
            f"Le certificat INSi de l'organisation a expiré le {identity.cert.not_valid_after_utc:%d/%m/%Y}.")


def _load_ca(context: ssl.SSLContext, path: Path) -> None:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InsiConfigError(f"Autorité de certification INSi introuvable : {Path(path).name}.",
                              detail=str(exc)) from None
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            context.load_verify_locations(cadata=data.decode("ascii"))
        else:
            context.load_verify_locations(cadata=data)
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
        raise InsiConfigError(f"Autorité de certification INSi illisible : {Path(path).name}.",
                              detail=str(exc)) from None


def build_ssl_context(ca_files: Sequence[Path], identity: ClientIdentity | None = None) -> ssl.SSLContext:
    """A client context trusting only `ca_files`, presenting `identity` when given (blocking I/O)."""
    if not ca_files:
        raise InsiConfigError("Aucune autorité de certification INSi configurée (ca_files).")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verify + check_hostname; no default store
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in ca_files:
        _load_ca(context, path)
    if identity is not None:
        _load_client_identity(context, identity)
    return context


def _load_client_identity(context: ssl.SSLContext, identity: ClientIdentity) -> None:
    password = secrets.token_urlsafe(32).encode()
    pem = identity.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    pem += identity.cert.public_bytes(serialization.Encoding.PEM)
    pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in identity.chain)
    try:
        with _private_file(pem) as path:
            context.load_cert_chain(path, password=password)
    except (ssl.SSLError, OSError) as exc:
        raise InsiConfigError("Impossible de charger le certificat INSi de l'organisation.",
                              detail=str(exc)) from None
