"""A real local API (aiohttp on 127.0.0.1, port 0) with a real store, and a real aiohttp client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from agent.admin import register_admin_methods
from agent.client_registry import ClientRegistry
from agent.config import ApiConfig
from agent.errors import UserFacingError
from agent.events import EventBus
from agent.pairing import PairingBroker, PairingRequest
from agent.rpc import RpcContext, RpcRegistry
from agent.server import ApiServer
from agent.store import Store

TOKEN = "test-token-0123456789abcdef"
ORIGIN = "http://lgc.test"
FOREIGN_ORIGIN = "http://evil.test"
SECRET = "DUPONT Jean 1 84 12 75 123 456"  # what an exception text must never leak

ECHO_SCHEMA = {
    "type": "object",
    "required": ["value"],
    "properties": {
        "value": {"type": "string", "maxLength": 50},
        "traits": {
            "type": "object",
            "required": ["birth_name"],
            "properties": {"birth_name": {"type": "string"}, "birth_date": {"type": "string", "format": "date"}},
        },
    },
    "additionalProperties": False,
}


def make_registry(counter: dict[str, int] | None = None) -> RpcRegistry:
    """A registry with the methods the API tests call."""
    counter = counter if counter is not None else {}
    rpc = RpcRegistry()

    async def echo(params: dict[str, Any], ctx: RpcContext) -> Any:
        return {"value": params["value"], "client": ctx.client, "transport": ctx.transport}

    async def count(params: dict[str, Any], ctx: RpcContext) -> Any:
        counter["count"] = counter.get("count", 0) + 1
        return counter["count"]

    async def refuse(params: dict[str, Any], ctx: RpcContext) -> Any:
        raise UserFacingError("Les traits d'identité diffèrent de ceux de l'INSi", code=-32010,
                              data={"fields": ["birth_name"]})

    async def crash(params: dict[str, Any], ctx: RpcContext) -> Any:
        raise RuntimeError(f"boom {SECRET}")

    async def unserialisable(params: dict[str, Any], ctx: RpcContext) -> Any:
        return {"when": object()}

    async def admin_only(params: dict[str, Any], ctx: RpcContext) -> Any:
        return "ok"

    rpc.register("test.echo", echo, params=ECHO_SCHEMA, description="Echo value back.")
    rpc.register("test.count", count)
    rpc.register("test.refuse", refuse)
    rpc.register("test.crash", crash)
    rpc.register("test.unserialisable", unserialisable)
    rpc.register("test.admin_only", admin_only, scope="admin")
    return rpc


@dataclass
class Api:
    server: ApiServer
    store: Store
    rpc: RpcRegistry
    events: EventBus
    clients: ClientRegistry
    pairing: PairingBroker
    http: aiohttp.ClientSession
    counter: dict[str, int]
    notified: asyncio.Queue[PairingRequest] = field(default_factory=asyncio.Queue)

    @property
    def ws_url(self) -> str:
        return f"{self.server.url}/ws"

    @property
    def rpc_url(self) -> str:
        return f"{self.server.url}/rpc"

    async def connect(self, *, origin: str | None = ORIGIN, headers: dict[str, str] | None = None
                      ) -> aiohttp.ClientWebSocketResponse:
        all_headers = dict(headers or {})
        if origin is not None:
            all_headers["Origin"] = origin
        return await self.http.ws_connect(self.ws_url, headers=all_headers, autoclose=False)

    async def session(self, token: str = TOKEN, *, origin: str | None = ORIGIN) -> aiohttp.ClientWebSocketResponse:
        ws = await self.connect(origin=origin)
        reply = await call(ws, "session.open", {"token": token})
        assert "result" in reply, reply
        return ws

    async def post(self, body: Any, *, token: str | None = TOKEN, headers: dict[str, str] | None = None,
                   raw: bool = False) -> tuple[int, Any]:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        data = body if raw else json.dumps(body)
        async with self.http.post(self.rpc_url, data=data, headers=all_headers) as resp:
            text = await resp.text()
            return resp.status, (json.loads(text) if text else None)


async def receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=10)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def call(ws: aiohttp.ClientWebSocketResponse, method: str, params: Any = None, request_id: Any = 1
               ) -> Any:
    """Send a request and return its reply, skipping event notifications that arrive first."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    await ws.send_str(json.dumps(message))
    return await reply_to(ws, request_id)


async def reply_to(ws: aiohttp.ClientWebSocketResponse, request_id: Any) -> Any:
    while True:
        answer = await receive(ws)
        if isinstance(answer, list) or "id" in answer:
            assert isinstance(answer, list) or answer["id"] == request_id, answer
            return answer


async def closed(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    """Read until the server closes the socket; returns the close code."""
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code
        if msg.type is aiohttp.WSMsgType.ERROR:
            return ws.close_code


@asynccontextmanager
async def running_api(
    tmp_path: Path,
    *,
    policy: Callable[[str, str | None], bool | None] | None = None,
    queue_size: int = 256,
    **config: Any,
) -> AsyncIterator[Api]:
    options: dict[str, Any] = {"port": 0, "allowed_origins": [ORIGIN], "tokens": [TOKEN]}
    options.update(config)
    api_config = ApiConfig(**options)
    store = Store(tmp_path / "vigie.sqlite3")
    await store.open()
    counter: dict[str, int] = {}
    rpc = make_registry(counter)
    events = EventBus()
    clients = ClientRegistry(store, list(api_config.tokens))
    notified: asyncio.Queue[PairingRequest] = asyncio.Queue()
    pairing = PairingBroker(
        auto_accept=api_config.auto_accept_pairing, timeout=api_config.pairing_timeout,
        policy=policy or (lambda name, origin: None), notify=notified.put_nowait,
    )
    server = ApiServer(api_config, rpc=rpc, events=events, clients=clients, pairing=pairing,
                       version="9.9.9-test", queue_size=queue_size)
    register_admin_methods(rpc, clients=clients, pairing=pairing, server=server)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Api(server, store, rpc, events, clients, pairing, http, counter, notified)
    finally:
        await server.stop()
        await store.close()
