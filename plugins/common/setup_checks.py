"""Checks the capability plugins' set-up steps share: a PKCS#12 certificate opened with its passphrase and within
its validity dates, and a TCP endpoint answering within a short timeout (plugins/*/setup.py)."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


def check_pkcs12(path: str, passphrase: str | None, label: str) -> list[str]:
    """French problems of the PKCS#12 at `path` (blocking: reads the file)."""
    file = Path(path.strip()).expanduser()
    if not file.is_file():
        return [f"{label} : fichier introuvable « {path} »."]
    if passphrase is None:
        return [f"{label} : phrase de passe absente (ni saisie, ni dans le trousseau)."]
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(file.read_bytes(), passphrase.encode() or None)
    except (ValueError, OSError):
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
