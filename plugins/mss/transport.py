"""SMTP submission and IMAP to the MSSanté operator, with the standard library in worker threads.

Why the standard library: `smtplib`/`imaplib` speak STARTTLS, SASL (EXTERNAL, XOAUTH2), DSN options and
APPEND/SEARCH exactly as needed, with a socket timeout on every exchange; each call runs in a worker
thread (`asyncio.to_thread`) so the event loop never waits on the network. The inbox's IMAP IDLE runs
on its own long-lived thread (plugins/mss/inbox.py).

Errors become `MailError` with a French `message`; `permanent` says whether a retry can help (a refused
certificate or an unknown recipient cannot; a server that is down can).
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from plugins.mss.auth import xoauth2


class MailError(Exception):
    def __init__(self, message: str, *, permanent: bool, code: str | None = None,
                 refused: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.refused = refused or {}  # recipient -> French reason (per-recipient refusals)


@dataclass(frozen=True)
class Endpoint:
    smtp_host: str
    smtp_port: int
    imap_host: str
    imap_port: int
    imap_tls: str  # implicit | starttls
    timeout: float


@dataclass(frozen=True)
class Login:
    """How to authenticate: `mechanism` EXTERNAL (client certificate in `context`) or XOAUTH2 (`token`)."""

    user: str
    context: ssl.SSLContext
    mechanism: str
    token: str | None = field(default=None, repr=False)


UNREACHABLE = "Serveur MSSanté injoignable : le message part dès que le serveur répond."
TLS_NAME = ("Le certificat du serveur MSSanté ne correspond pas à son adresse ({host}) : connexion refusée "
            "(vérifiez l'adresse du serveur dans la configuration).")
TLS_UNTRUSTED = "Le certificat du serveur MSSanté n'est pas émis par une autorité de confiance : connexion refusée."
CERT_REFUSED = ("Certificat de la boîte applicative refusé par l'opérateur MSSanté (inconnu, expiré ou d'une autre "
                "autorité) : vérifiez le fichier PKCS#12 configuré.")
TOKEN_REFUSED = "Jeton Pro Santé Connect refusé ou expiré par l'opérateur MSSanté : reconnectez-vous (CPS/e-CPS)."


def _tls_error(exc: ssl.SSLError, host: str) -> MailError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        if "match" in (exc.verify_message or "") or "hostname" in str(exc).lower():
            return MailError(TLS_NAME.format(host=host), permanent=True, code="tls-name")
        if "expired" in (exc.verify_message or ""):
            return MailError("Le certificat du serveur MSSanté a expiré : connexion refusée.", permanent=True,
                             code="tls-expired")
        return MailError(TLS_UNTRUSTED, permanent=True, code="tls-untrusted")
    text = str(exc).upper()
    if "CERTIFICATE" in text or "UNKNOWN CA" in text or "ALERT" in text:  # our client certificate refused
        return MailError(CERT_REFUSED, permanent=True, code="cert-refused")
    return MailError("Échec de la connexion chiffrée (TLS) avec le serveur MSSanté.", permanent=False, code="tls")


def _recipient_reason(code: int, text: bytes) -> str:
    detail = text.decode("utf-8", "replace")
    if code == 554 and "Access denied" in detail:
        return CERT_REFUSED
    if code in (550, 551, 553) or "5.1.1" in detail:
        return f"Adresse inconnue de l'opérateur MSSanté ({code})."
    if code == 552 or "5.3.4" in detail:
        return "Message trop volumineux pour l'opérateur MSSanté."
    return f"Destinataire refusé par l'opérateur MSSanté ({code})."


@dataclass(frozen=True)
class SendResult:
    dsn: bool  # the server offered DSN (RFC 3461): delivery receipts will come back
    refused: dict[str, str]  # recipient -> French reason, for the ones refused at RCPT


def smtp_send(ep: Endpoint, login: Login, sender: str, recipients: list[str], raw: bytes, envid: str,
              on_accepted: Callable[[SendResult], None] | None = None) -> SendResult:
    """Submit `raw` (blocking). Raises MailError when nobody accepted it.

    `on_accepted(result)` runs (in this thread) as soon as the server's `250` after DATA is read, before
    QUIT: the caller records "submitted" there, so a crash during QUIT cannot lead to a second copy.
    """
    try:
        smtp = smtplib.SMTP(ep.smtp_host, ep.smtp_port, timeout=ep.timeout)
    except (smtplib.SMTPException, OSError, TimeoutError):
        # Not even connected: certainly not sent (code "connect", unlike a drop in the middle of DATA).
        raise MailError(UNREACHABLE, permanent=False, code="connect") from None
    accepted: list[SendResult] = []
    try:
        with smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise MailError("Le serveur MSSanté n'offre pas STARTTLS : envoi refusé.", permanent=True,
                                code="no-starttls")
            smtp.starttls(context=login.context)
            smtp.ehlo()
            if login.mechanism == "XOAUTH2":
                assert login.token is not None
                code, text = smtp.docmd("AUTH", "XOAUTH2 " + base64.b64encode(xoauth2(login.user, login.token))
                                        .decode("ascii"))
                if code == 334:  # the server's error challenge: finish the exchange, then fail
                    code, text = smtp.docmd("")
                if code != 235:
                    raise MailError(TOKEN_REFUSED, permanent=False, code="token-refused")
            elif "EXTERNAL" in (smtp.esmtp_features.get("auth") or "").upper().split():
                code, text = smtp.docmd("AUTH", "EXTERNAL =")
                if code != 235:
                    raise MailError(CERT_REFUSED, permanent=True, code="cert-refused")
            dsn = smtp.has_extn("dsn")
            mail_options = ["RET=HDRS", f"ENVID={envid}"] if dsn else []
            rcpt_options = ["NOTIFY=SUCCESS,FAILURE"] if dsn else []
            try:
                refused = smtp.sendmail(sender, recipients, raw, mail_options=mail_options,
                                        rcpt_options=rcpt_options)
            except smtplib.SMTPRecipientsRefused as exc:
                reasons = {r: _recipient_reason(c, t) for r, (c, t) in exc.recipients.items()}
                first = next(iter(reasons.values()))
                raise MailError(first, permanent=True, code="refused", refused=reasons) from None
            result = SendResult(dsn=dsn, refused={r: _recipient_reason(c, t) for r, (c, t) in refused.items()})
            accepted.append(result)
            if on_accepted is not None:
                on_accepted(result)
            return result
    except MailError:
        raise
    except ssl.SSLError as exc:
        raise _tls_error(exc, ep.smtp_host) from None
    except smtplib.SMTPSenderRefused as exc:
        raise MailError(f"Expéditeur refusé par l'opérateur MSSanté ({exc.smtp_code}).", permanent=True,
                        code="sender-refused") from None
    except smtplib.SMTPDataError as exc:
        raise MailError(f"Message refusé par l'opérateur MSSanté ({exc.smtp_code}).",
                        permanent=exc.smtp_code >= 500, code="data-refused") from None
    except (smtplib.SMTPException, OSError, TimeoutError):
        if accepted:  # the server took the message; only QUIT failed
            return accepted[0]
        raise MailError(UNREACHABLE, permanent=False, code="unreachable") from None


# -- IMAP --------------------------------------------------------------------------------------
@contextlib.contextmanager
def imap_session(ep: Endpoint, login: Login) -> Iterator[imaplib.IMAP4]:
    """A logged-in IMAP connection (blocking), closed on exit."""
    conn: imaplib.IMAP4
    try:
        if ep.imap_tls == "implicit":
            conn = imaplib.IMAP4_SSL(ep.imap_host, ep.imap_port, ssl_context=login.context, timeout=ep.timeout)
        else:
            conn = imaplib.IMAP4(ep.imap_host, ep.imap_port, timeout=ep.timeout)
            conn.starttls(login.context)
    except ssl.SSLError as exc:
        raise _tls_error(exc, ep.imap_host) from None
    except (imaplib.IMAP4.error, OSError, TimeoutError):
        raise MailError(UNREACHABLE, permanent=False, code="unreachable") from None
    try:
        try:
            if login.mechanism == "XOAUTH2":
                assert login.token is not None
                token = login.token
                conn.authenticate("XOAUTH2", lambda _challenge: xoauth2(login.user, token))
            else:
                conn.authenticate("EXTERNAL", lambda _challenge: b"")
        except imaplib.IMAP4.error:
            if login.mechanism == "XOAUTH2":
                raise MailError(TOKEN_REFUSED, permanent=False, code="token-refused") from None
            raise MailError(CERT_REFUSED, permanent=True, code="cert-refused") from None
        yield conn
    except (OSError, TimeoutError, imaplib.IMAP4.abort):
        raise MailError(UNREACHABLE, permanent=False, code="unreachable") from None
    finally:
        with contextlib.suppress(Exception):
            conn.logout()


def _check(result: tuple[str, list[object]], what: str) -> list[object]:
    typ, data = result
    if typ != "OK":
        raise MailError(f"Le serveur MSSanté a refusé l'opération « {what} ».", permanent=False, code="imap")
    return data


def sent_folder(conn: imaplib.IMAP4) -> str:
    """The mailbox flagged \\Sent (RFC 6154), else "Sent" (created if missing)."""
    typ, data = conn.list()
    if typ == "OK":
        for line in data:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
            if "\\Sent" in text:
                m = re.search(r'"([^"]+)"\s*$|\s(\S+)$', text)
                if m:
                    return m.group(1) or m.group(2)
    conn.create("Sent")
    return "Sent"


def append_sent(ep: Endpoint, login: Login, raw: bytes) -> None:
    with imap_session(ep, login) as conn:
        _check(conn.append(sent_folder(conn), "(\\Seen)", None, raw), "APPEND")  # type: ignore[arg-type]


def in_sent(ep: Endpoint, login: Login, message_id: str) -> bool:
    """Is a message with this Message-ID already in Sent (after an unknown outcome)?"""
    with imap_session(ep, login) as conn:
        _check(conn.select(sent_folder(conn), readonly=True), "SELECT")  # type: ignore[arg-type]
        data = _check(conn.search(None, "HEADER", "Message-ID", f'"{message_id}"'), "SEARCH")
        first: Any = data[0] if data else b""
        return bool(first and bytes(first).strip())


def probe(ep: Endpoint) -> None:
    """Raises MailError(UNREACHABLE) when the submission port does not answer (cheap pre-check)."""
    try:
        with socket.create_connection((ep.smtp_host, ep.smtp_port), timeout=min(ep.timeout, 5.0)):
            return
    except OSError:
        raise MailError(UNREACHABLE, permanent=False, code="unreachable") from None
