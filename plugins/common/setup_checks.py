"""Checks the capability plugins' set-up steps share: a PKCS#12 certificate opened with its passphrase and within
its validity dates, and a TCP endpoint answering within a short timeout (plugins/*/setup.py).

A step's certificate field names a PKCS#12 file *to import*: saved, its bytes go to the keyring (chunked,
agent.secrets) and the configuration says `keyring:<name>`; the file is not referenced afterwards. Left
empty, the certificate already in the keyring is kept (and checked again with the passphrase given).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
from pathlib import Path

from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from agent.errors import UserFacingError
from agent.secrets import SecretStore
from plugins.common.tls import KEYRING_PREFIX

# SHA-256 of each file to import as last verified: `apply` stores only the bytes `verify` checked (a file
# replaced in between is refused, not imported unverified).
_verified: dict[Path, str] = {}


def certificate_bytes(path: str, secret: str, label: str) -> tuple[bytes | None, list[str]]:
    """The PKCS#12 a step checks (blocking): the file given to import, else the one already in the keyring
    under `secret`; (None, []) when there is neither (the step decides whether it is required)."""
    if path.strip():
        file = Path(path.strip()).expanduser()
        try:
            data = file.read_bytes()
        except OSError:
            return None, [f"{label} : fichier introuvable ou illisible « {path} »."]
        _verified[file.resolve()] = hashlib.sha256(data).hexdigest()
        return data, []
    try:
        return SecretStore().get_blob(secret), []
    except UserFacingError as exc:  # SecretCorrupted: give the file again
        return None, [f"{label} : {exc.message}"]


def certificate_changes(path: str, secret: str) -> tuple[str | None, dict[str, bytes]]:
    """(the configuration's reference, the keyring blobs to write) for the step's answer (blocking)."""
    if path.strip():
        file = Path(path.strip()).expanduser()
        data = file.read_bytes()
        if _verified.get(file.resolve()) != hashlib.sha256(data).hexdigest():
            raise UserFacingError(f"Le fichier « {path.strip()} » a changé depuis sa vérification : rien n'a été "
                                  "enregistré, vérifiez-le à nouveau.")
        return KEYRING_PREFIX + secret, {secret: data}
    try:
        stored = SecretStore().get_blob(secret)
    except UserFacingError:
        stored = None
    return (KEYRING_PREFIX + secret, {}) if stored is not None else (None, {})


def check_pkcs12(data: bytes, passphrase: str | None, label: str) -> list[str]:
    """French problems of the PKCS#12 `data`: opened by the passphrase, holding a key, within its dates."""
    if passphrase is None:
        return [f"{label} : phrase de passe absente (ni saisie, ni dans le trousseau)."]
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, passphrase.encode() or None)
    except ValueError:
        return [f"{label} : fichier PKCS#12 illisible ou phrase de passe incorrecte."]
    if cert is None or key is None:
        return [f"{label} : le fichier ne contient pas de certificat avec sa clé privée."]
    now = dt.datetime.now(dt.UTC)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = f" « {cn[0].value!s} »" if cn else ""
    if now < cert.not_valid_before_utc:
        return [f"{label}{name} : pas encore valide (à partir du {cert.not_valid_before_utc:%d/%m/%Y})."]
    if now >= cert.not_valid_after_utc:
        return [f"{label}{name} : expiré le {cert.not_valid_after_utc:%d/%m/%Y}."]
    return []


def check_tcp(host: str, port: int, label: str, timeout: float = 3.0) -> list[str]:
    if not host.strip():
        return [f"{label} : serveur non renseigné."]
    try:
        with socket.create_connection((host.strip(), port), timeout=timeout):
            return []
    except OSError as exc:
        return [f"{label} : {host}:{port} injoignable ({exc.strerror or type(exc).__name__}) ; "
                "vérifiez l'adresse et le réseau."]
