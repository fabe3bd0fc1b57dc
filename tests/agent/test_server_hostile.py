"""The local API against what an independent probe sent it (issue 18): lone UTF-16 surrogates, pairing
prompt floods, spoofed prompt text, out-of-range integers, a thousand frames at once. Real server on
127.0.0.1:0, real aiohttp client, real store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agent.rpc import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, RpcContext
from tests.agent.api_fixtures import Api, call, closed, receive, running_api

SURROGATE_FRAMES = [
    '{"jsonrpc": "2.0", "id": "\\ud800", "method": "test.count"}',
    '{"jsonrpc": "2.0", "id": 1, "method": "\\ud800"}',
    '{"jsonrpc": "2.0", "id": 1, "method": "test.echo", "params": {"value": "a\\udfffb"}}',
    '{"jsonrpc": "2.0", "id": 1, "method": "test.count", "params": {"\\udc00": 1}}',
]


@pytest_asyncio.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


# -- 1. lone surrogates -------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", SURROGATE_FRAMES)
async def test_http_lone_surrogate_refused_not_500(api: Api, frame: str) -> None:
    status, body = await api.post(frame, raw=True)
    assert status == 200, body
    assert body["error"]["code"] in (PARSE_ERROR, INVALID_REQUEST)
    assert api.counter == {}


@pytest.mark.parametrize("frame", SURROGATE_FRAMES)
async def test_ws_lone_surrogate_refused_and_socket_keeps_answering(api: Api, frame: str) -> None:
    ws = await api.session()
    await ws.send_str(frame)
    reply = await receive(ws)
    assert reply["error"]["code"] in (PARSE_ERROR, INVALID_REQUEST)
    assert (await call(ws, "test.count", {}, 2))["result"] == 1  # the writer is alive


async def test_ws_valid_surrogate_pair_still_accepted(api: Api) -> None:
    ws = await api.session()
    await ws.send_str('{"jsonrpc": "2.0", "id": "\\ud83d\\ude00", "method": "test.echo",'
                      ' "params": {"value": "\\u00e9"}}')
    reply = await receive(ws)
    assert reply["id"] == "\U0001f600" and reply["result"]["value"] == "é"


async def test_ws_result_with_lone_surrogate_is_an_internal_error_not_a_dead_socket(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        async def broken(params: dict[str, Any], ctx: RpcContext) -> Any:
            return {"text": "\udc00"}  # a plugin bug: cannot be sent as UTF-8

        api.rpc.register("test.surrogate", broken)
        ws = await api.session()
        assert (await call(ws, "test.surrogate", {}))["error"]["code"] == INTERNAL_ERROR
        assert (await call(ws, "test.count", {}, 2))["result"] == 1
        status, body = await api.post({"jsonrpc": "2.0", "id": 3, "method": "test.surrogate"})
        assert status == 200 and body["error"]["code"] == INTERNAL_ERROR


async def test_auth_timeout_holds_after_a_surrogate_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.ws_session.AUTH_TIMEOUT", 0.3)
    async with running_api(tmp_path) as api:
        ws = await api.connect()
        await ws.send_str(SURROGATE_FRAMES[0])
        assert (await receive(ws))["error"]["code"] in (PARSE_ERROR, INVALID_REQUEST)
        assert await asyncio.wait_for(closed(ws), 5) == 4401
        await asyncio.sleep(0.1)
        assert api.server.connection_count == 0


async def test_auth_timeout_holds_when_the_writer_is_dead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.ws_session.AUTH_TIMEOUT", 0.3)
    async with running_api(tmp_path) as api:
        ws = await api.connect()
        await asyncio.sleep(0.05)
        (conn,) = api.server._connections.values()
        assert conn.writer is not None
        conn.writer.cancel()  # whatever killed it: the deadline must not rely on it
        code = await asyncio.wait_for(closed(ws), 5)
        assert code == 4401
        await asyncio.sleep(0.1)
        assert api.server.connection_count == 0


async def test_dead_writer_closes_the_socket_with_a_reason(api: Api) -> None:
    ws = await api.session()
    await asyncio.sleep(0.05)
    (conn,) = api.server._connections.values()
    assert conn.writer is not None
    conn.writer.cancel()
    await asyncio.sleep(0.05)
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test.count"}))
    assert await asyncio.wait_for(closed(ws), 5) == 1011
    assert ws.close_code == 1011


async def test_revoke_with_huge_client_id_is_invalid_params(api: Api) -> None:
    """Issue 18 item 4: 2**64 overflowed SQLite (-32603 and a traceback); the schema bounds it."""
    ws = await api.session()
    for bad in (2**64, 2**63, -(2**64)):
        reply = await call(ws, "clients.revoke", {"client_id": bad})
        assert reply["error"]["code"] == INVALID_PARAMS, reply
        assert str(bad) not in reply["error"]["message"]
    reply = await call(ws, "pairing.decide", {"request_id": 2**64, "accept": True}, 2)
    assert reply["error"]["code"] == INVALID_PARAMS
    assert (await call(ws, "clients.revoke", {"client_id": 2**63 - 1}, 3))["error"]["code"] != INTERNAL_ERROR


