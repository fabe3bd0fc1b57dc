"""The local API: aiohttp on 127.0.0.1, JSON-RPC over a websocket (`/ws`) or HTTP (`POST /rpc`).

Every route but `/health` passes, in order: the Host check (a DNS-rebinding page reaches us with
its own host name), the Origin check (before any websocket upgrade: a browser does not apply CORS
to websockets), then a token. Websocket clients open a session with their first message because
browsers cannot set headers on a websocket. docs/local-api.md is the contract.

Each socket has one writer task fed by a bounded queue: events are published synchronously by
plugins and must never wait for a slow LGC, so a socket whose queue is full is disconnected.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, hdrs, web

from agent.clients import Client, ClientRegistry
from agent.config import ApiConfig
from agent.errors import UserFacingError
from agent.events import EventBus
from agent.pairing import PairingBroker
from agent.rpc import (
    CONFLICT,
    FORBIDDEN,
    INTERNAL_ERROR,
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
    dumps,
    error_response,
    loads,
    parse_call,
    result_response,
)
from agent.web import web_file

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
QUEUE_SIZE = 256  # outgoing messages per socket before it counts as too slow
MAX_IN_FLIGHT = 32  # concurrent calls per socket
MAX_PRE_AUTH_FAILURES = 3
AUTH_TIMEOUT = 30.0  # an unauthenticated socket that does nothing is closed (unless pairing)
HEARTBEAT = 30.0
CLOSE_TIMEOUT = 0.5  # the whole agent stops in < 2 s
SHUTDOWN_TIMEOUT = 0.5
STUCK_BUFFER = 64 * 1024  # bytes still unsent to a peer when we close: it is not reading
CLOSE_UNAUTHORIZED = 4401
CLOSE_REVOKED = 4403

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


class TokenBucket:
    """`rate` tokens per second up to `burst`; a call costs one token (a batch, one per element)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self, cost: int = 1) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if cost > self.tokens:
            return False
        self.tokens -= cost
        return True


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


@dataclass(eq=False)
class _Connection:
    id: int
    ws: web.WebSocketResponse
    origin: str | None
    bucket: TokenBucket
    queue: asyncio.Queue[str | _Close]
    client: Client | None = None
    ctx: RpcContext | None = None
    failures: int = 0
    closing: bool = False
    writer: asyncio.Task[None] | None = None
    pairing: asyncio.Task[None] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    watchdog: asyncio.TimerHandle | None = None
    transport: asyncio.Transport | None = None


def _cost(message: Any) -> int:
    return len(message) if isinstance(message, list) and message else 1


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class ApiServer:
    def __init__(
        self,
        config: ApiConfig,
        *,
        rpc: RpcRegistry,
        events: EventBus,
        clients: ClientRegistry,
        pairing: PairingBroker,
        version: str,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self._config = config
        self._rpc = rpc
        self._events = events
        self._clients = clients
        self._pairing = pairing
        self._version = version
        self._queue_size = queue_size
        self._allowed_origins = frozenset(config.allowed_origins)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._connections: dict[int, _Connection] = {}
        self._http_buckets: dict[tuple[int | None, str], TokenBucket] = {}
        self._ids = itertools.count(1)
        self._background: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        _register_session_methods(rpc)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port if self._port is not None else self._config.port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def start(self) -> int:
        app = web.Application(client_max_size=self._config.max_message_bytes, middlewares=[self._guard])
        app[API_SERVER] = self
        app.router.add_get("/health", self._health)
        app.router.add_get("/ws", self._websocket)
        app.router.add_post("/rpc", self._http_rpc)
        app.router.add_route("OPTIONS", "/rpc", self._preflight)
        app.router.add_get("/web/{name}", self._web_file)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            await web.TCPSite(runner, HOST, self._config.port).start()
        except OSError as exc:
            await runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                raise UserFacingError(
                    f"Le port {self._config.port} est déjà utilisé (une autre instance de Vigie ?)."
                ) from exc
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._unsubscribe = self._events.subscribe(self._on_event)
        log.info("local API listening on %s", self.url)
        return self._port

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        conns = list(self._connections.values())
        for conn in conns:
            self._cancel_tasks(conn)
        await asyncio.gather(
            *(self._close_ws(c, WSCloseCode.GOING_AWAY, "arret de l'agent") for c in conns),
            return_exceptions=True,
        )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._background):
            task.cancel()

    async def disconnect_client(self, client_id: int) -> int:
        """Close every socket of a (revoked) paired client; returns how many were closed."""
        conns = [c for c in self._connections.values() if c.client is not None and c.client.id == client_id]
        tasks = [self._kill(c, CLOSE_REVOKED, "jeton revoque") for c in conns]
        if tasks:
            # asyncio.wait, not gather: if the caller is one of these sockets' calls, being cancelled
            # must not cancel the closing itself.
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT * 2)
        return len(conns)

    # -- HTTP layer ------------------------------------------------------------------------------
    def _host_ok(self, host: str | None) -> bool:
        if not host:
            return False
        return host.lower() in (f"127.0.0.1:{self.port}", f"localhost:{self.port}")

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/health":
            response: web.StreamResponse = await handler(request)
            return response
        if not self._host_ok(request.headers.get(hdrs.HOST)):
            return _http_error(421, FORBIDDEN, "Hôte non autorisé / Host not allowed")
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin not in self._allowed_origins:
            return _http_error(403, FORBIDDEN, "Origine non autorisée / Origin not allowed")
        response = await handler(request)
        cors = request.path == "/rpc" or request.path.startswith("/web/")
        if origin is not None and cors and not response.prepared:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.VARY] = "Origin"
        return response

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": self._version})

    async def _web_file(self, request: web.Request) -> web.StreamResponse:
        """The browser client (`vigie.js`) and the web component, for LGC pages (no secret in them)."""
        path = web_file(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={hdrs.CACHE_CONTROL: "no-cache"})

    async def _preflight(self, request: web.Request) -> web.Response:
        if request.headers.get(hdrs.ORIGIN) is None:  # the guard has refused a disallowed one already
            return _http_error(403, FORBIDDEN, "Origine requise / Origin required")
        headers: dict[str, str] = {
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: "POST",
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: "Authorization, Content-Type",
            hdrs.ACCESS_CONTROL_MAX_AGE: "600",
        }
        if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
            headers["Access-Control-Allow-Private-Network"] = "true"  # Chrome: public page -> loopback
        return web.Response(status=204, headers=headers)

    async def _http_rpc(self, request: web.Request) -> web.Response:
        token = _bearer(request.headers.get(hdrs.AUTHORIZATION))
        client = await self._clients.authenticate(token) if token else None
        if client is None:
            response = _http_error(401, INVALID_TOKEN, "Jeton manquant, invalide ou révoqué")
            response.headers[hdrs.WWW_AUTHENTICATE] = 'Bearer realm="vigie"'
            return response
        too_big = _http_error(413, INVALID_REQUEST, "Requête invalide : message trop volumineux")
        if request.content_length is not None and request.content_length > self._config.max_message_bytes:
            return too_big
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return too_big
        try:
            message = loads(body)
        except RpcError as exc:
            return _json(error_response(None, exc.code, exc.message))
        key = (client.id, client.name)
        bucket = self._http_buckets.setdefault(key, TokenBucket(self._config.rate_per_second,
                                                               self._config.rate_burst))
        if not bucket.take(_cost(message)):
            payload = answer_without_running(message, RATE_LIMITED, MSG_RATE_LIMITED)
        else:
            ctx = RpcContext(client.name, client.scopes, "http", next(self._ids))
            payload = await self._rpc.handle(message, ctx)
        return web.Response(status=204) if payload is None else _json(payload)

    # -- websocket ---------------------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            max_msg_size=self._config.max_message_bytes, heartbeat=HEARTBEAT, compress=False,
            timeout=CLOSE_TIMEOUT,
        )
        if not ws.can_prepare(request).ok:
            return _http_error(400, INVALID_REQUEST, "Requête invalide : websocket attendu")
        await ws.prepare(request)
        conn = _Connection(
            id=next(self._ids), ws=ws, origin=request.headers.get(hdrs.ORIGIN),
            bucket=TokenBucket(self._config.rate_per_second, self._config.rate_burst),
            queue=asyncio.Queue(self._queue_size), transport=request.transport,
        )
        self._connections[conn.id] = conn
        conn.writer = asyncio.create_task(self._write_loop(conn))
        conn.watchdog = asyncio.get_running_loop().call_later(AUTH_TIMEOUT, self._auth_deadline, conn)
        try:
            async for msg in ws:
                if conn.closing:
                    continue  # a close is queued behind the pending replies; ignore what follows
                try:
                    if msg.type is WSMsgType.TEXT:
                        await self._on_text(conn, msg.data)
                    elif msg.type is WSMsgType.BINARY:
                        self._send(conn, error_response(
                            None, INVALID_REQUEST, "Requête invalide : trames binaires non prises en charge"))
                        if conn.client is None:
                            self._fail(conn)
                    # ERROR (e.g. message too big): aiohttp has already closed the socket.
                except Exception:
                    log.exception("websocket %d: frame handling failed", conn.id)
                    self._send(conn, error_response(None, INTERNAL_ERROR, "Erreur interne"))
        finally:
            if conn.watchdog is not None:
                conn.watchdog.cancel()
            self._connections.pop(conn.id, None)
            self._cancel_tasks(conn)
            if not ws.closed:
                await self._close_ws(conn, WSCloseCode.GOING_AWAY, "")
        return ws

    def _cancel_tasks(self, conn: _Connection) -> None:
        conn.closing = True
        for task in [conn.writer, conn.pairing, *conn.tasks]:
            if task is not None and not task.done():
                task.cancel()

    def _auth_deadline(self, conn: _Connection) -> None:
        if conn.client is not None or conn.closing:
            return
        if conn.pairing is not None and not conn.pairing.done():  # waiting for the user: check later
            conn.watchdog = asyncio.get_running_loop().call_later(AUTH_TIMEOUT, self._auth_deadline, conn)
            return
        self._close_after(conn, CLOSE_UNAUTHORIZED, "session.open attendu")

    async def _write_loop(self, conn: _Connection) -> None:
        while True:
            item = await conn.queue.get()
            if isinstance(item, _Close):
                await self._close_ws(conn, item.code, item.reason)
                return
            try:
                await conn.ws.send_str(item)
            except Exception as exc:  # peer gone: the read loop sees the close and cleans up
                log.debug("websocket %d: send failed (%s)", conn.id, type(exc).__name__)
                return

    async def _close_ws(self, conn: _Connection, code: int, reason: str) -> None:
        conn.closing = True
        try:
            await asyncio.wait_for(conn.ws.close(code=code, message=reason.encode()[:120]), CLOSE_TIMEOUT)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            # Not ours: aiohttp shares one drain waiter per connection, cancelled with the writer task.
            log.debug("websocket %d: close interrupted", conn.id)
        except Exception as exc:  # timeout included: aiohttp has then closed the transport itself
            log.debug("websocket %d: close failed (%s)", conn.id, type(exc).__name__)
        transport = conn.transport
        if transport is not None:
            # A closed transport flushes its buffer before it goes: with a peer that never reads, it
            # (and the socket's handler) would live forever. Drop it, at once if the peer is stuck.
            if transport.get_write_buffer_size() > STUCK_BUFFER:
                transport.abort()
            else:
                asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    def _send(self, conn: _Connection, payload: Any) -> None:
        if payload is not None:
            self._enqueue(conn, dumps(payload))

    def _enqueue(self, conn: _Connection, item: str | _Close) -> None:
        if conn.writer is None or conn.writer.done():
            return
        try:
            conn.queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("websocket %d: client too slow, disconnected", conn.id)
            self._kill(conn, WSCloseCode.TRY_AGAIN_LATER, "client trop lent")

    def _close_after(self, conn: _Connection, code: int, reason: str) -> None:
        """Close once the replies already queued are sent."""
        self._enqueue(conn, _Close(code, reason))
        conn.closing = True

    def _kill(self, conn: _Connection, code: int, reason: str) -> asyncio.Task[None]:
        """Close now, dropping what is queued (slow consumer, revoked token)."""
        conn.closing = True
        if conn.writer is not None:
            conn.writer.cancel()
        task = asyncio.create_task(self._close_ws(conn, code, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _fail(self, conn: _Connection) -> None:
        conn.failures += 1
        if conn.failures >= MAX_PRE_AUTH_FAILURES:
            self._close_after(conn, CLOSE_UNAUTHORIZED, "session non ouverte")

    async def _on_text(self, conn: _Connection, text: str) -> None:
        parse_error: RpcError | None = None
        message: Any = None
        try:
            message = loads(text)
        except RpcError as exc:
            parse_error = exc
        if not conn.bucket.take(_cost(message)):
            self._send(conn, answer_without_running(message, RATE_LIMITED, MSG_RATE_LIMITED))
            return
        if parse_error is not None:
            self._send(conn, error_response(None, parse_error.code, parse_error.message))
            if conn.client is None:
                self._fail(conn)
            return
        if conn.client is None or conn.ctx is None:
            await self._before_session(conn, message)
            return
        if len(conn.tasks) >= MAX_IN_FLIGHT:
            self._send(conn, answer_without_running(message, RATE_LIMITED, MSG_RATE_LIMITED))
            return
        task = asyncio.create_task(self._dispatch(conn, conn.ctx, message))
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)

    async def _dispatch(self, conn: _Connection, ctx: RpcContext, message: Any) -> None:
        try:
            response = await self._rpc.handle(message, ctx)
        except Exception:
            log.exception("websocket %d: dispatch failed", conn.id)
            response = answer_without_running(message, INTERNAL_ERROR, "Erreur interne")
        self._send(conn, response)

    # -- before authentication: session.open and pairing.request only -----------------------------
    async def _before_session(self, conn: _Connection, message: Any) -> None:
        if not isinstance(message, dict):
            self._send(conn, answer_without_running(message, SESSION_NOT_OPEN, MSG_SESSION_NOT_OPEN))
            self._fail(conn)
            return
        try:
            call = parse_call(message)
        except InvalidRequest as exc:
            self._send(conn, error_response(exc.request_id, exc.code, exc.message))
            self._fail(conn)
            return
        if call.method == "session.open":
            await self._session_open(conn, call)
        elif call.method == "pairing.request":
            self._pairing_request(conn, call)
        else:
            self._reply_error(conn, call, SESSION_NOT_OPEN, MSG_SESSION_NOT_OPEN)
            self._fail(conn)

    def _reply_error(self, conn: _Connection, call: Call, code: int, message: str, data: Any = None) -> None:
        if not call.notification:
            self._send(conn, error_response(call.id, code, message, data))

    def _reply(self, conn: _Connection, call: Call, result: Any) -> None:
        if not call.notification:
            self._send(conn, result_response(call.id, result))

    def _open_session(self, conn: _Connection, client: Client) -> None:
        conn.client = client
        conn.ctx = RpcContext(client.name, client.scopes, "ws", conn.id)

    async def _session_open(self, conn: _Connection, call: Call) -> None:
        if conn.pairing is not None and not conn.pairing.done():
            self._reply_error(conn, call, CONFLICT, "Appairage en cours : attendez sa réponse")
            return
        try:
            self._rpc.validate("session.open", call.params)
        except RpcError as exc:
            self._reply_error(conn, call, exc.code, exc.message, exc.data)
            self._fail(conn)
            return
        client = await self._clients.authenticate(call.params["token"])
        if conn.closing:
            return
        if client is None:
            self._reply_error(conn, call, INVALID_TOKEN, MSG_BAD_TOKEN)
            self._close_after(conn, CLOSE_UNAUTHORIZED, "jeton invalide")
            return
        self._open_session(conn, client)
        self._reply(conn, call, {"client": client.name, "scopes": sorted(client.scopes)})

    def _pairing_request(self, conn: _Connection, call: Call) -> None:
        if conn.pairing is not None and not conn.pairing.done():
            self._reply_error(conn, call, CONFLICT, "Appairage déjà en cours")
            return
        if conn.origin is not None and conn.origin not in self._allowed_origins:
            self._reply_error(conn, call, FORBIDDEN, "Origine non autorisée")  # refused before upgrade
            return
        try:
            self._rpc.validate("pairing.request", call.params)
        except RpcError as exc:
            self._reply_error(conn, call, exc.code, exc.message, exc.data)
            self._fail(conn)
            return
        conn.pairing = asyncio.create_task(self._pair(conn, call, call.params["client_name"].strip()))

    async def _pair(self, conn: _Connection, call: Call, client_name: str) -> None:
        try:
            accepted = await self._pairing.request(client_name, conn.origin)
            if not accepted:
                self._reply_error(conn, call, FORBIDDEN, MSG_PAIRING_REFUSED)
                return
            token = await self._clients.issue(client_name, conn.origin)
            client = await self._clients.authenticate(token)
        except Exception:
            log.exception("websocket %d: pairing failed", conn.id)
            self._reply_error(conn, call, INTERNAL_ERROR, "Erreur interne")
            return
        if client is None or conn.closing:
            if client is not None and client.id is not None:  # the token can no longer be delivered
                await self._clients.revoke(client.id)
            return
        self._open_session(conn, client)
        self._reply(conn, call, {"token": token, "client": client.name, "scopes": sorted(client.scopes)})

    # -- events --------------------------------------------------------------------------------------
    def _on_event(self, name: str, params: Any) -> None:
        try:
            text = dumps({"jsonrpc": "2.0", "method": name, "params": dict(params)})
        except (TypeError, ValueError, RecursionError):
            log.error("event %s is not JSON-serialisable; dropped", name)
            return
        for conn in list(self._connections.values()):
            if conn.client is not None and not conn.closing:
                self._enqueue(conn, text)


API_SERVER = web.AppKey("api_server", ApiServer)


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=dumps(payload), content_type="application/json")


def _http_error(status: int, code: int, message: str) -> web.Response:
    return _json(error_response(None, code, message), status)


def _register_session_methods(rpc: RpcRegistry) -> None:
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


__all__ = ["API_SERVER", "ApiServer", "TokenBucket"]
