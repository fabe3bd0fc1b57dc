"""What the frames of one websocket do: before authentication only `session.open` and
`pairing.request`, then calls dispatched to the RPC registry (rate-limited, bounded in flight).

Browsers cannot set headers on a websocket, so a client opens its session with its first message.
The socket itself (queue, writer, closing) is `agent.ws_connection`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Set as AbstractSet
from typing import Any

from aiohttp import WSMsgType

from agent.client_registry import ClientRegistry
from agent.errors import UserFacingError
from agent.pairing import BadClientName, PairingBroker, clean_client_name
from agent.rpc import (
    CONFLICT,
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    INVALID_TOKEN,
    RATE_LIMITED,
    SESSION_NOT_OPEN,
    Call,
    InvalidRequest,
    RpcContext,
    RpcError,
    RpcRegistry,
    answer_without_running,
    error_response,
    loads,
    parse_call,
    result_response,
)
from agent.ws_connection import Connection

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 32  # concurrent calls per socket
IN_FLIGHT_WAIT = 1.0  # a call over MAX_IN_FLIGHT waits this long for a slot before it is refused
REFUSALS_PER_BURST = 4  # refusals allowed (refilled at the call rate) per call of the burst, then 1008
CLOSE_POLICY = 1008
MAX_PRE_AUTH_FAILURES = 3
AUTH_TIMEOUT = 30.0  # an unauthenticated socket that does nothing is closed (unless pairing)
CLOSE_UNAUTHORIZED = 4401

MSG_SESSION_NOT_OPEN = "Session non ouverte : envoyez session.open"
MSG_RATE_LIMITED = "Trop de requêtes"
MSG_PAIRING_REFUSED = "Appairage refusé"
MSG_BAD_TOKEN = "Jeton invalide ou révoqué"

SESSION_OPEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["token"],
    "properties": {"token": {"type": "string", "minLength": 1, "maxLength": 512}},
}
PAIRING_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["client_name"],
    "properties": {"client_name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"}},
}


def cost(message: Any) -> int:
    return len(message) if isinstance(message, list) and message else 1


class WsSessions:
    """Runs the frames of every websocket of one server."""

    def __init__(
        self, *, rpc: RpcRegistry, clients: ClientRegistry, pairing: PairingBroker,
        allowed_origins: AbstractSet[str],
    ) -> None:
        self._rpc = rpc
        self._clients = clients
        self._pairing = pairing
        self._allowed_origins = allowed_origins
        register_session_methods(rpc)

    async def serve(self, conn: Connection) -> None:
        """Read `conn`'s frames until the peer goes (the caller cleans up)."""
        conn.watchdog = asyncio.get_running_loop().call_later(AUTH_TIMEOUT, self._auth_deadline, conn)
        async for msg in conn.ws:
            if conn.closing:
                continue  # a close is queued behind the pending replies; ignore what follows
            try:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await conn.reply(error_response(
                        None, INVALID_REQUEST, "Requête invalide : trames binaires non prises en charge"))
                    if conn.client is None:
                        self._fail(conn)
                # ERROR (e.g. message too big): aiohttp has already closed the socket.
            except Exception:
                log.exception("websocket %d: frame handling failed", conn.id)
                await conn.reply(error_response(None, INTERNAL_ERROR, "Erreur interne"))

    def _auth_deadline(self, conn: Connection) -> None:
        if conn.client is not None or conn.closing:
            return
        if conn.pairing is not None and not conn.pairing.done():  # waiting for the user: check later
            conn.watchdog = asyncio.get_running_loop().call_later(AUTH_TIMEOUT, self._auth_deadline, conn)
            return
        conn.close_after(CLOSE_UNAUTHORIZED, "session.open attendu")

    def _fail(self, conn: Connection) -> None:
        conn.failures += 1
        if conn.failures >= MAX_PRE_AUTH_FAILURES:
            conn.close_after(CLOSE_UNAUTHORIZED, "session non ouverte")

    async def _on_text(self, conn: Connection, text: str) -> None:
        parse_error: RpcError | None = None
        message: Any = None
        try:
            message = loads(text)
        except RpcError as exc:
            parse_error = exc
        if not conn.bucket.take(cost(message)):
            await self._refuse(conn, message)
            return
        if parse_error is not None:
            await conn.reply(error_response(None, parse_error.code, parse_error.message))
            if conn.client is None:
                self._fail(conn)
            return
        if conn.client is None or conn.ctx is None:
            await self._before_session(conn, message)
            return
        if len(conn.tasks) >= MAX_IN_FLIGHT:
            # Stop reading a little (the client's sends back up) rather than refuse a call under the rate.
            await asyncio.wait(set(conn.tasks), timeout=IN_FLIGHT_WAIT, return_when=asyncio.FIRST_COMPLETED)
            if len(conn.tasks) >= MAX_IN_FLIGHT:
                await self._refuse(conn, message)
                return
        task = asyncio.create_task(self._dispatch(conn, conn.ctx, message))
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)

    async def _refuse(self, conn: Connection, message: Any) -> None:
        await conn.reply(answer_without_running(message, RATE_LIMITED, MSG_RATE_LIMITED))
        if conn.refusals is not None and not conn.refusals.take():
            # Far over the limit for a while: not an LGC with a burst but a flood. The calls in flight
            # still get their answers; what comes next is not read.
            log.warning("websocket %d: flooding, closed", conn.id)
            conn.close_after(CLOSE_POLICY, "trop de requetes")

    async def _dispatch(self, conn: Connection, ctx: RpcContext, message: Any) -> None:
        try:
            response = await self._rpc.handle(message, ctx)
        except Exception:
            log.exception("websocket %d: dispatch failed", conn.id)
            response = answer_without_running(message, INTERNAL_ERROR, "Erreur interne")
        await conn.reply(response)

    # -- before authentication: session.open and pairing.request only -----------------------------
    async def _before_session(self, conn: Connection, message: Any) -> None:
        if not isinstance(message, dict):
            await conn.reply(answer_without_running(message, SESSION_NOT_OPEN, MSG_SESSION_NOT_OPEN))
            self._fail(conn)
            return
        try:
            call = parse_call(message)
        except InvalidRequest as exc:
            await conn.reply(error_response(exc.request_id, exc.code, exc.message))
            self._fail(conn)
            return
        if call.method == "session.open":
            await self._session_open(conn, call)
        elif call.method == "pairing.request":
            await self._pairing_request(conn, call)
        else:
            await _reply_error(conn, call, SESSION_NOT_OPEN, MSG_SESSION_NOT_OPEN)
            self._fail(conn)

    async def _session_open(self, conn: Connection, call: Call) -> None:
        if conn.pairing is not None and not conn.pairing.done():
            await _reply_error(conn, call, CONFLICT, "Appairage en cours : attendez sa réponse")
            return
        try:
            self._rpc.validate("session.open", call.params)
        except RpcError as exc:
            await _reply_error(conn, call, exc.code, exc.message, exc.data)
            self._fail(conn)
            return
        client = await self._clients.authenticate(call.params["token"])
        if conn.closing:
            return
        if client is None:
            await _reply_error(conn, call, INVALID_TOKEN, MSG_BAD_TOKEN)
            conn.close_after(CLOSE_UNAUTHORIZED, "jeton invalide")
            return
        conn.open_session(client)
        await _reply(conn, call, {"client": client.name, "scopes": sorted(client.scopes)})

    async def _pairing_request(self, conn: Connection, call: Call) -> None:
        if conn.pairing is not None and not conn.pairing.done():
            await _reply_error(conn, call, CONFLICT, "Appairage déjà en cours")
            return
        if conn.origin is not None and conn.origin not in self._allowed_origins:
            await _reply_error(conn, call, FORBIDDEN, "Origine non autorisée")  # refused before upgrade
            return
        try:
            self._rpc.validate("pairing.request", call.params)
            client_name = clean_client_name(call.params["client_name"])
        except RpcError as exc:
            await _reply_error(conn, call, exc.code, exc.message, exc.data)
            self._fail(conn)
            return
        except BadClientName as exc:
            path = "params.client_name"
            await _reply_error(conn, call, INVALID_PARAMS, f"Paramètres invalides : {path} : {exc.rule}",
                         {"path": path, "reason": "characters"})
            self._fail(conn)
            return
        conn.pairing = asyncio.create_task(self._pair(conn, call, client_name))

    async def _pair(self, conn: Connection, call: Call, client_name: str) -> None:
        try:
            outcome = await self._pairing.consider(client_name, conn.origin)
            if not outcome.accepted:
                if outcome.message is not None and outcome.code is not None:  # not even asked
                    await _reply_error(conn, call, outcome.code, outcome.message)
                else:
                    await _reply_error(conn, call, FORBIDDEN, MSG_PAIRING_REFUSED)
                return
            token = await self._clients.issue(client_name, conn.origin)
            client = await self._clients.authenticate(token)
        except Exception:
            log.exception("websocket %d: pairing failed", conn.id)
            await _reply_error(conn, call, INTERNAL_ERROR, "Erreur interne")
            return
        if client is None or conn.closing:
            if client is not None and client.id is not None:  # the token can no longer be delivered
                await self._clients.revoke(client.id)
            return
        conn.open_session(client)
        await _reply(conn, call, {"token": token, "client": client.name, "scopes": sorted(client.scopes)})


async def _reply_error(conn: Connection, call: Call, code: int, message: str, data: Any = None) -> None:
    if not call.notification:
        await conn.reply(error_response(call.id, code, message, data))


async def _reply(conn: Connection, call: Call, result: Any) -> None:
    if not call.notification:
        await conn.reply(result_response(call.id, result))


def register_session_methods(rpc: RpcRegistry) -> None:
    """`session.open` and `pairing.request` are answered by the server before authentication; once
    a session is open (or over HTTP, authenticated by header) they only say so."""

    async def already_open(params: dict[str, Any], ctx: RpcContext) -> Any:
        raise UserFacingError("Session déjà ouverte", code=CONFLICT)

    methods = (
        ("session.open", SESSION_OPEN_SCHEMA, "First websocket message: authenticate with a token."),
        ("pairing.request", PAIRING_REQUEST_SCHEMA, "First websocket message: ask the user for a token."),
    )
    for name, schema, description in methods:
        if name not in rpc:
            rpc.register(name, already_open, params=schema, description=description)


__all__ = ["AUTH_TIMEOUT", "MAX_IN_FLIGHT", "MSG_RATE_LIMITED", "WsSessions", "cost", "register_session_methods"]
