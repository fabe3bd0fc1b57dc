"""`vigie doctor` rows the capability plugins share (plugins/*/doctor.py): the certificate as the client would
load it (from the keyring, `keyring:<name>`, or a developer's file), opened by its passphrase, within its dates
(a warning under `RENEW_DAYS` days left), with the usage a client certificate needs; and the endpoint reached
with a real TLS handshake trusting only the configured CAs (STARTTLS for SMTP and IMAP), within a short timeout.

Everything here blocks (keyring, files, network): the doctor runs each capability's check in its own thread.
Details are French and never show a secret.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import os
import smtplib
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.doctor import FAIL, OK, WARN, Check, DoctorContext
from plugins.common.tls import (
    PrivateKey,
    TlsError,
    client_context,
    keyring_name,
    load_client_identity,
    load_pkcs12,
    read_pkcs12_source,
)

RENEW_DAYS = 30
HANDSHAKE_TIMEOUT = 3.0
Identity = tuple[PrivateKey, x509.Certificate, tuple[x509.Certificate, ...]]
NOT_VISIBLE = "dans le trousseau en mémoire de l'agent en marche (bac à sable), non lisible d'ici"


def as_running_agent_says(name: str, context: DoctorContext, plugin: str) -> Check:
    """The row for a secret only the running agent can read: what that agent reports of its plugin."""
    said = context.agent_says(plugin)
    if said is None:
        return Check(name, WARN, f"{NOT_VISIBLE} : non vérifiable")
    status, reason = said
    if status == "ok":
        return Check(name, OK, f"{NOT_VISIBLE} ; chargé par l'agent (module {plugin} démarré)")
    return Check(name, WARN, f"{NOT_VISIBLE} ; l'agent dit : {reason or status}")


def not_configured(name: str, what: str) -> Check:
    return Check(name, WARN, f"non configuré ({what}) : lancez « vigie setup » pour l'activer")


def usage_problem(cert: x509.Certificate) -> str | None:
    """Why `cert` cannot authenticate a TLS client and sign (None when it can, or says nothing about it)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            return "ce n'est pas un certificat d'authentification client (usage étendu sans « clientAuth »)"
    except x509.ExtensionNotFound:
        pass
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return "sa clé n'est pas autorisée à signer (usage « digitalSignature » absent)"
    except x509.ExtensionNotFound:
        pass
    return None


def certificate_row(name: str, source: str | os.PathLike[str] | None, passphrase_secret: str,
                    context: DoctorContext, *, service: str, plugin: str,
                    subject_problem: Callable[[x509.Certificate], str | None] | None = None,
                    now: dt.datetime | None = None) -> tuple[Check, Identity | None]:
    """The certificate's row, and its identity when it is usable (to present in the endpoint's handshake)."""
    if source is None or not os.fspath(source):
        return Check(name, FAIL, "aucun certificat configuré : importez-le avec « vigie setup »"), None
    if context.secrets is None:  # the passphrase (and a keyring:<name> certificate) are the running agent's
        return as_running_agent_says(name, context, plugin), None
    stored = keyring_name(source)
    store = context.secrets
    where = f"trousseau, secret « {stored} »" if stored else f"fichier {Path(os.fspath(source)).name}, mode développeur"
    try:
        data = read_pkcs12_source(source, service=service, secrets=store)
        passphrase = store.get(passphrase_secret)
    except TlsError as exc:
        return Check(name, FAIL, exc.message), None
    except Exception as exc:  # the keyring backend's own errors vary by OS
        return Check(name, FAIL, f"trousseau du système inaccessible ({type(exc).__name__})"), None
    if passphrase is None:
        return Check(name, FAIL, f"phrase de passe absente du trousseau (secret « {passphrase_secret} »)"), None
    try:
        key, cert, chain = load_pkcs12(data, passphrase, service=service)
    except TlsError as exc:
        return Check(name, FAIL, exc.message), None
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    label = f"« {cn[0].value!s} » ({where})" if cn else f"sans nom ({where})"
    now = now or dt.datetime.now(dt.UTC)
    if now < cert.not_valid_before_utc:
        start = f"{cert.not_valid_before_utc:%d/%m/%Y}"
        return Check(name, FAIL, f"{label} : pas encore valide (à partir du {start})"), None
    if now >= cert.not_valid_after_utc:
        return Check(name, FAIL, f"{label} : expiré le {cert.not_valid_after_utc:%d/%m/%Y}, à renouveler"), None
    problem = usage_problem(cert) or (subject_problem(cert) if subject_problem else None)
    if problem:
        return Check(name, FAIL, f"{label} : {problem}"), None
    days = (cert.not_valid_after_utc - now).days
    detail = f"{label}, valide jusqu'au {cert.not_valid_after_utc:%d/%m/%Y} ({days} jours)"
    if days < RENEW_DAYS:
        return Check(name, WARN, f"{detail} : à renouveler sans tarder"), (key, cert, chain)
    return Check(name, OK, detail), (key, cert, chain)


def url_endpoint(url: str) -> tuple[str, int] | None:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def tls_row(name: str, host: str, port: int, ca_files: Sequence[str | os.PathLike[str]], identity: Identity | None,
            *, service: str, protocol: str = "tls", timeout: float = HANDSHAKE_TIMEOUT) -> Check:
    """Connect and complete TLS (`tls`; `smtp`/`imap` STARTTLS) trusting only `ca_files`, presenting `identity`."""
    try:
        context = client_context([Path(p) for p in ca_files], service=service)
        if identity is not None:
            load_client_identity(context, *identity, service=service)
    except TlsError as exc:
        return Check(name, FAIL, exc.message)
    try:
        if protocol == "smtp":
            with smtplib.SMTP(host, port, timeout=timeout) as smtp:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    return Check(name, FAIL, f"{host}:{port} n'offre pas STARTTLS : Vigie refuse d'y envoyer")
                smtp.starttls(context=context)
        elif protocol == "imap":
            imap = imaplib.IMAP4(host, port, timeout=timeout)
            try:
                imap.starttls(context)
            finally:
                imap.shutdown()
        else:
            with socket.create_connection((host, port), timeout=timeout) as sock, \
                    context.wrap_socket(sock, server_hostname=host):
                pass
    except ssl.SSLCertVerificationError:
        return Check(name, FAIL, f"{host}:{port} : le certificat du serveur n'est pas signé par les autorités "
                                 "configurées (ca_files)")
    except (OSError, smtplib.SMTPException, imaplib.IMAP4.error) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return Check(name, FAIL, f"{host}:{port} injoignable ({reason}) : vérifiez l'adresse et le réseau")
    presented = ", certificat client présenté" if identity is not None else ""
    return Check(name, OK, f"{host}:{port} joignable, TLS vérifié par les autorités configurées{presented}")
