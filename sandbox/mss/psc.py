"""A Pro Santé Connect stand-in: issues short-lived access tokens and answers token introspection.

Two endpoints, over plain HTTP on the loopback (the real PSC is HTTPS on the Internet):
- `POST /token` (`grant_type=refresh_token`, `refresh_token=…`, `client_id=…`): an OAuth 2.0 token
  answer `{access_token, token_type: Bearer, expires_in, refresh_token}`. A refresh token is bound to
  one MSSanté mailbox (the practitioner's personal BAL); tokens live `lifetime` seconds (PSC: 4–5 min).
- `POST /introspect` (RFC 7662, form `token=…`): `{active, email, exp, ...}`. Dovecot's `oauth2` passdb
  calls it for every XOAUTH2/OAUTHBEARER login (tests) and the embedded sandbox mailbox calls it too,
  so both check a token exactly the same way.

`expire_all()` ages every issued token (expired-token test); `revoke()` forgets a refresh token.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class PscIssuer:
    lifetime: float = 240.0
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # refresh token -> mailbox
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # access token -> (mailbox, exp)
    introspections: int = 0

    def enrol(self, mailbox: str) -> str:
        """A refresh token for `mailbox` (what the practitioner's PSC login would leave in the keyring)."""
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens[refresh] = mailbox
        return refresh

    def issue(self, mailbox: str, lifetime: float | None = None) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = (mailbox, time.time() + (self.lifetime if lifetime is None else lifetime))
        return token

    def check(self, token: str) -> str | None:
        """The mailbox a valid token belongs to, else None."""
        entry = self.tokens.get(token)
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def expire_all(self) -> None:
        self.tokens = {t: (m, time.time() - 1) for t, (m, _) in self.tokens.items()}

    def revoke(self, refresh: str) -> None:
        self.refresh_tokens.pop(refresh, None)

    # -- HTTP --------------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "refresh_token":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        mailbox = self.refresh_tokens.get(str(form.get("refresh_token", "")))
        if mailbox is None:
            return web.json_response({"error": "invalid_grant", "error_description": "refresh token inconnu"},
                                     status=400)
        token = self.issue(mailbox)
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": int(self.lifetime),
                                  "refresh_token": form.get("refresh_token"), "scope": "openid scope_all"})

    async def _introspect(self, request: web.Request) -> web.Response:
        self.introspections += 1
        form = await request.post()
        token = str(form.get("token", ""))
        mailbox = self.check(token)
        if mailbox is None:
            return web.json_response({"active": False})
        return web.json_response({"active": True, "email": mailbox, "exp": int(self.tokens[token][1]),
                                  "token_type": "Bearer", "client_id": "vigie"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/introspect", self._introspect)
        return app


@dataclass
class RunningPsc:
    issuer: PscIssuer
    url: str
    runner: web.AppRunner

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def introspection_url(self) -> str:
        return f"{self.url}/introspect"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_psc(issuer: PscIssuer | None = None, host: str = "127.0.0.1", port: int = 0) -> RunningPsc:
    issuer = issuer or PscIssuer()
    runner = web.AppRunner(issuer.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server: Any = site._server
    bound = server.sockets[0].getsockname()[1]
    return RunningPsc(issuer, f"http://{host}:{bound}", runner)
