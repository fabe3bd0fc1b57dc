"""The local API: aiohttp on 127.0.0.1, JSON-RPC over a websocket (`/ws`) or HTTP (`POST /rpc`).

Every route but `/health` passes, in order: the Host check (a DNS-rebinding page reaches us with
its own host name), the Origin check (before any websocket upgrade: a browser does not apply CORS
to websockets), then a token. docs/local-api.md is the contract.

This module is the routes and the server's lifecycle; one websocket's queue, writer and closing are
`agent.ws_connection`, what its frames do (session, pairing, dispatch) is `agent.ws_session`.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, hdrs, web

from agent.client_registry import ClientRegistry
from agent.config import ApiConfig
from agent.errors import UserFacingError
from agent.events import EventBus
from agent.pairing import PairingBroker
from agent.rpc import (
    FORBIDDEN,
    INVALID_REQUEST,
    INVALID_TOKEN,
    RATE_LIMITED,
    RpcContext,
    RpcError,
    RpcRegistry,
    answer_without_running,
    dumps,
    error_response,
    loads,
)
from agent.web import web_file
from agent.ws_connection import CLOSE_TIMEOUT, QUEUE_SIZE, Connection, TokenBucket
from agent.ws_session import MSG_RATE_LIMITED, REFUSALS_PER_BURST, WsSessions, cost

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
HEARTBEAT = 30.0
SHUTDOWN_TIMEOUT = 0.5
CLOSE_REVOKED = 4403


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
        # Mutable: the agent's own origin joins it once the port is known (its pages, agent/pages.py).
        self._allowed_origins: set[str] = set(config.allowed_origins)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._connections: dict[int, Connection] = {}
        self._http_buckets: dict[tuple[int | None, str], TokenBucket] = {}
        self._ids = itertools.count(1)
        self._background: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._sessions = WsSessions(rpc=rpc, clients=clients, pairing=pairing,
                                    allowed_origins=self._allowed_origins)

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
        self._allowed_origins.update((f"http://{HOST}:{self._port}", f"http://localhost:{self._port}"))
        self._unsubscribe = self._events.subscribe(self._on_event)
        log.info("local API listening on %s", self.url)
        return self._port

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        conns = list(self._connections.values())
        for conn in conns:
            conn.cancel_tasks()
        await asyncio.gather(
            *(c.close_ws(WSCloseCode.GOING_AWAY, "arret de l'agent") for c in conns),
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
        tasks = [c.kill(CLOSE_REVOKED, "jeton revoque") for c in conns]
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
        headers: dict[str, str] = {hdrs.CACHE_CONTROL: "no-cache"}
        if path.suffix == ".html":  # the agent's own pages: its scripts only, never framed by another site
            headers.update({"Content-Security-Policy": "default-src 'self'; connect-src 'self' "
                            f"ws://{HOST}:{self.port} ws://localhost:{self.port}; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'none'",
                            "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"})
        return web.FileResponse(path, headers=headers)

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
        if not bucket.take(cost(message)):
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
        conn = Connection(
            id=next(self._ids), ws=ws, origin=request.headers.get(hdrs.ORIGIN),
            bucket=TokenBucket(self._config.rate_per_second, self._config.rate_burst),
            refusals=TokenBucket(self._config.rate_per_second, REFUSALS_PER_BURST * self._config.rate_burst),
            queue_size=self._queue_size, background=self._background, transport=request.transport,
        )
        self._connections[conn.id] = conn
        conn.start_writer()
        try:
            await self._sessions.serve(conn)
        finally:
            if conn.watchdog is not None:
                conn.watchdog.cancel()
            self._connections.pop(conn.id, None)
            conn.cancel_tasks()
            if not ws.closed:
                await conn.close_ws(WSCloseCode.GOING_AWAY, "")
        return ws

    # -- events --------------------------------------------------------------------------------------
    def _on_event(self, name: str, params: Any) -> None:
        try:
            text = dumps({"jsonrpc": "2.0", "method": name, "params": dict(params)})
        except (TypeError, ValueError, RecursionError):
            log.error("event %s is not JSON-serialisable; dropped", name)
            return
        for conn in list(self._connections.values()):
            if conn.client is not None and not conn.closing:
                conn.event(text)


API_SERVER = web.AppKey("api_server", ApiServer)


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=dumps(payload), content_type="application/json")


def _http_error(status: int, code: int, message: str) -> web.Response:
    return _json(error_response(None, code, message), status)


__all__ = ["API_SERVER", "ApiServer", "TokenBucket"]
