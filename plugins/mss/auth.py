"""The two MSSanté authentications (spec §2.1): an application mailbox by IGC-Santé client certificate,
a personal mailbox by Pro Santé Connect bearer token.

- `certificate_context`: a TLS client context pinned to the operator's CAs, holding the PKCS#12 identity
  (passphrase from the keyring); SASL EXTERNAL on IMAP, the certificate alone on submission.
- `PscTokenSource`: the PSC port. Access tokens live 4–5 minutes: one is cached until shortly before it
  expires, refreshed with the refresh token kept in the keyring, and dropped (`invalidate`) when the
  server refuses it, so the next attempt fetches a fresh one. Never logged.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from plugins.common.tls import TlsError, client_context, load_client_identity, load_pkcs12, read_pkcs12_source

SERVICE = "MSSanté"
EARLY_REFRESH = 30.0  # seconds before expiry a cached token is replaced


class AuthFailed(Exception):
    """French `message`; `permanent` when retrying cannot help without the user (re-login, new file)."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def server_context(ca_files: list[str]) -> ssl.SSLContext:
    """Blocking (reads files): call from a worker thread."""
    try:
        return client_context([Path(p) for p in ca_files], service=SERVICE)
    except TlsError as exc:
        raise AuthFailed(exc.message) from None


def certificate_context(ca_files: list[str], pkcs12_path: str, passphrase: str | None) -> ssl.SSLContext:
    """Blocking (reads files, decrypts the key): call from a worker thread."""
    context = server_context(ca_files)
    try:
        data = read_pkcs12_source(pkcs12_path, service=SERVICE)  # `keyring:mss.certificate` or a file
    except TlsError as exc:
        raise AuthFailed(exc.message) from None
    if passphrase is None:
        raise AuthFailed("Phrase de passe du certificat MSSanté absente du trousseau (secret « mss.pkcs12 »).")
    try:
        key, cert, chain = load_pkcs12(data, passphrase, service=SERVICE)
        load_client_identity(context, key, cert, chain, service=SERVICE)
    except TlsError as exc:
        raise AuthFailed(exc.message) from None
    return context


@dataclass
class _Cached:
    token: str
    expires_at: float


class PscTokenSource:
    """Pro Santé Connect access tokens for the personal mailbox (refresh-token grant)."""

    def __init__(self, token_url: str, client_id: str, refresh_token: Callable[[], str | None], *,
                 timeout: float = 10.0) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._refresh_token = refresh_token
        self.timeout = timeout
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._cached = None

    async def token(self) -> str:
        async with self._lock:
            now = time.time()
            if self._cached is not None and self._cached.expires_at - EARLY_REFRESH > now:
                return self._cached.token
            refresh = self._refresh_token()
            if not refresh:
                raise AuthFailed("Connexion Pro Santé Connect requise : identifiez-vous avec votre carte CPS ou "
                                 "e-CPS pour envoyer depuis votre messagerie personnelle.")
            form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": self.client_id}
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                    async with session.post(self.token_url, data=form) as resp:
                        body = await resp.json(content_type=None)
                        status = resp.status
            except (aiohttp.ClientError, TimeoutError, ValueError):
                raise AuthFailed("Pro Santé Connect ne répond pas : nouvel essai automatique.",
                                 permanent=False) from None
            if status != 200 or not isinstance(body, dict) or "access_token" not in body:
                raise AuthFailed("Session Pro Santé Connect expirée : reconnectez-vous avec votre carte CPS ou "
                                 "e-CPS.")
            lifetime = float(body.get("expires_in") or 60)
            self._cached = _Cached(str(body["access_token"]), now + lifetime)
            return self._cached.token


def xoauth2(user: str, token: str) -> bytes:
    """SASL XOAUTH2 initial response (unencoded)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
