"""Property tests: whatever an LGC sends after `session.open`, the server answers valid JSON-RPC 2.0,
echoes ids, never leaks internals, and keeps serving on the same socket."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.rpc import RpcContext, RpcRegistry, is_allowed_code
from tests.agent.api_fixtures import SECRET, Api, make_registry, running_api

CTX = RpcContext(client="fuzz", scopes=frozenset({"lgc", "admin"}), transport="ws", connection_id=1)
FUZZ_SETTINGS = settings(max_examples=200, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Methods whose handlers do no I/O, so replies come back in request order (admin methods hit the store).
METHODS = ["test.echo", "test.count", "test.refuse", "test.crash", "test.unserialisable", "test.admin_only",
           "session.open", "pairing.request", "nope.nothing", "rpc.discover", ""]

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | finite_floats | st.text(max_size=20)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
params = st.fixed_dictionaries(
    {}, optional={"value": st.text(max_size=60) | json_values, "traits": json_values, "token": json_values,
                  "client_name": json_values},
) | json_values
requests = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "2.0", "2.0", "1.0"]) | scalars,
        "method": st.sampled_from(METHODS) | st.text(max_size=20) | scalars,
        "params": params,
        "id": st.integers(-(2**53), 2**53) | st.text(max_size=12) | st.none() | finite_floats | json_values,
    },
)
messages = requests | st.lists(requests, max_size=5) | json_values
no_surrogates = st.characters(blacklist_categories=("Cs",))
frames = (
    messages.map(lambda m: ("text", json.dumps(m)))
    | st.text(alphabet=no_surrogates, max_size=300).map(lambda t: ("text", t))
    | st.binary(max_size=64).map(lambda b: ("bytes", b))
)


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b  # JSON keeps 1 and 1.0 apart, and so must the echo


_INVALID = object()


def strict_loads(text: str) -> Any:
    """The test's own idea of valid JSON: no NaN/Infinity, no number overflowing a double."""

    def finite(raw: str) -> float:
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
        return value

    def refuse(raw: str) -> Any:
        raise ValueError(raw)

    try:
        return json.loads(text, parse_float=finite, parse_constant=refuse)
    except (ValueError, RecursionError):
        return _INVALID


def check_response(response: Any) -> None:
    """One JSON-RPC 2.0 response object: exactly one of result/error, allowed code, no leak."""
    assert isinstance(response, dict), response
    assert response.get("jsonrpc") == "2.0"
    assert "id" in response and _valid_id(response["id"])
    assert ("result" in response) != ("error" in response)
    assert set(response) <= {"jsonrpc", "id", "result", "error"}
    if "error" in response:
        error = response["error"]
        assert isinstance(error, dict) and set(error) <= {"code", "message", "data"}
        assert is_allowed_code(error["code"]), error
        assert isinstance(error["message"], str) and error["message"]
        for leak in ("Traceback", "RuntimeError", SECRET, "File \""):
            assert leak not in error["message"]


def check_reply(sent: Any, reply: Any) -> None:
    """`reply` (already decoded; None for no reply) answers the decoded message `sent`."""
    if isinstance(sent, list) and sent:
        if reply is None:  # only notifications get no reply
            assert all(isinstance(m, dict) and "id" not in m for m in sent)
            return
        assert isinstance(reply, list) and 0 < len(reply) <= len(sent)
        for item in reply:
            check_response(item)
        with_ids = [m["id"] for m in sent if isinstance(m, dict) and "id" in m and _valid_id(m["id"])]
        assert len(reply) >= len(with_ids)
        for request_id in with_ids:
            assert any(_same(r["id"], request_id) for r in reply), (request_id, reply)
        return
    if isinstance(sent, dict) and "id" in sent:
        assert reply is not None, sent
        check_response(reply)
        expected = sent["id"] if _valid_id(sent["id"]) else None
        assert _same(reply["id"], expected), (sent, reply)
        return
    if reply is not None:
        check_response(reply)
        if not isinstance(sent, dict):
            assert reply["id"] is None


# -- directly on the registry ---------------------------------------------------------------------------


@FUZZ_SETTINGS
@given(frame=frames)
async def test_registry_handle_text_fuzz(frame: tuple[str, Any]) -> None:
    kind, payload = frame
    registry: RpcRegistry = make_registry()
    text = payload if kind == "text" else payload.decode("utf-8", "replace")
    out = await registry.handle_text(text, CTX)
    reply = None if out is None else json.loads(out)
    sent = strict_loads(text)
    if sent is _INVALID:
        check_response(reply)
        assert reply["error"]["code"] == -32700 and reply["id"] is None
        return
    check_reply(sent, reply)


# -- over a real websocket ---------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def fuzz_api(tmp_path: Path) -> AsyncIterator[tuple[Api, aiohttp.ClientWebSocketResponse]]:
    async with running_api(tmp_path, rate_per_second=1e6, rate_burst=1_000_000) as api:
        ws = await api.session()
        yield api, ws


_probes = itertools.count(1)


@FUZZ_SETTINGS
@given(frame=frames)
async def test_server_ws_fuzz_frames_after_session(
    fuzz_api: tuple[Api, aiohttp.ClientWebSocketResponse], frame: tuple[str, Any]
) -> None:
    api, ws = fuzz_api
    kind, payload = frame
    if kind == "text":
        await ws.send_str(payload)
    else:
        await ws.send_bytes(payload)
    probe_id = f"probe-{next(_probes)}"
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": probe_id, "method": "test.echo",
                                  "params": {"value": "ok"}}))
    received: list[Any] = []
    while True:
        msg = await ws.receive(timeout=10)
        assert msg.type is aiohttp.WSMsgType.TEXT, (msg, frame)  # never closed, never an error frame
        decoded = json.loads(msg.data)
        if isinstance(decoded, dict) and decoded.get("id") == probe_id:
            assert decoded["result"]["value"] == "ok"  # the socket still serves a good call
            break
        received.append(decoded)
    assert len(received) <= 1, received
    reply = received[0] if received else None
    if kind == "bytes":
        check_response(reply)
        assert reply["error"]["code"] == -32600
        return
    sent = strict_loads(payload)
    if sent is _INVALID:
        check_response(reply)
        assert reply["error"]["code"] == -32700 and reply["id"] is None
        return
    check_reply(sent, reply)
    assert api.server.connection_count == 1
