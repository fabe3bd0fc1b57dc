"""API clients (LGCs) and their tokens.

A paired client's token is shown once, to the paired socket, and only its SHA-256 is stored: a
copy of the database does not give access to the API. Tokens are 256-bit random values, so a plain
hash (no salt, no KDF) is enough and lets us look them up by an indexed column. Config tokens
(`api.tokens`) are plain, for development and tests, and carry the `admin` scope.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agent.store import Store

log = logging.getLogger(__name__)

CONFIG_CLIENT_NAME = "config"
CONFIG_SCOPES = frozenset({"lgc", "admin"})
MAX_TOKEN_LENGTH = 512
# last_used_at is informative: refresh it at most once a minute, not on every HTTP call.
LAST_USED_RESOLUTION = 60.0


@dataclass(frozen=True)
class Client:
    id: int | None  # None for a config token
    name: str
    scopes: frozenset[str]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _scopes_text(scopes: Iterable[str]) -> str:
    return " ".join(sorted(set(scopes)))


class ClientRegistry:
    def __init__(self, store: Store, config_tokens: list[str]) -> None:
        self._store = store
        self._config_tokens = [t.encode("utf-8") for t in config_tokens]

    async def authenticate(self, token: object) -> Client | None:
        """The client owning `token`, or None (unknown, revoked, malformed)."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            raw = token.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: not a token we ever issued
            return None
        matched = False
        for candidate in self._config_tokens:  # no early exit: constant work whichever token matches
            matched |= hmac.compare_digest(raw, candidate)
        if matched:
            return Client(None, CONFIG_CLIENT_NAME, CONFIG_SCOPES)
        digest = hashlib.sha256(raw).hexdigest()
        return await self._store.run(self._lookup_sync, digest)

    def _lookup_sync(self, digest: str) -> Client | None:
        conn = self._store.conn
        row = conn.execute(
            "SELECT id, client_name, scopes, last_used_at FROM api_clients"
            " WHERE token_sha256 = ? AND revoked_at IS NULL",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        now = time.time()
        if row["last_used_at"] is None or now - float(row["last_used_at"]) >= LAST_USED_RESOLUTION:

            def touch(c: sqlite3.Connection) -> None:
                c.execute("UPDATE api_clients SET last_used_at = ? WHERE id = ?", (now, row["id"]))

            self._store.transaction_sync(touch)
        return Client(int(row["id"]), str(row["client_name"]), frozenset(str(row["scopes"]).split()))

    async def issue(self, client_name: str, origin: str | None, scopes: Iterable[str] = ("lgc",)) -> str:
        """Create a client and return its token (the only time it exists in clear)."""
        token = secrets.token_urlsafe(32)
        digest = token_hash(token)
        scope_text = _scopes_text(scopes)

        def insert(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO api_clients (client_name, origin, token_sha256, scopes, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (client_name, origin, digest, scope_text, time.time()),
            )

        await self._store.transaction(insert)
        log.info("API client paired (scopes %s)", scope_text)
        return token

    async def revoke(self, client_id: int) -> bool:
        """Revoke a paired client; False if unknown or already revoked."""

        def update(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "UPDATE api_clients SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), client_id),
            )
            return cur.rowcount

        changed = await self._store.transaction(update)
        if changed:
            log.info("API client %d revoked", client_id)
        return changed > 0

    async def list(self) -> builtins.list[dict[str, Any]]:
        """Every paired client, revoked ones included (with `revoked_at`); never the token hash."""

        def select(c: sqlite3.Connection) -> builtins.list[dict[str, Any]]:
            rows = c.execute(
                "SELECT id, client_name, origin, scopes, created_at, last_used_at, revoked_at"
                " FROM api_clients ORDER BY id"
            ).fetchall()
            return [
                {
                    "id": int(r["id"]),
                    "client_name": r["client_name"],
                    "origin": r["origin"],
                    "scopes": str(r["scopes"]).split(),
                    "created_at": r["created_at"],
                    "last_used_at": r["last_used_at"],
                    "revoked_at": r["revoked_at"],
                }
                for r in rows
            ]

        return await self._store.run(lambda: select(self._store.conn))


__all__ = ["Client", "ClientRegistry", "token_hash"]
