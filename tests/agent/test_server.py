"""The local API over a real socket: a real aiohttp server on 127.0.0.1:0 and a real aiohttp client."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from agent.client_registry import ClientRegistry
from agent.pairing import PairingBroker, PairingRequest
from agent.rpc import (
    CONFLICT,
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    INVALID_TOKEN,
    METHOD_NOT_FOUND,
    NOT_FOUND,
    PARSE_ERROR,
    RATE_LIMITED,
    SESSION_NOT_OPEN,
)
from agent.store import Store
from agent.ws_connection import TokenBucket
from tests.agent.api_fixtures import (
    FOREIGN_ORIGIN,
    ORIGIN,
    SECRET,
    TOKEN,
    Api,
    call,
    closed,
    receive,
    reply_to,
    running_api,
)


@pytest_asyncio.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


async def pair(api: Api, name: str = "MédiLogiciel") -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    ws = await api.connect()
    reply = await call(ws, "pairing.request", {"client_name": name})
    return ws, reply


# -- transport and security checks ------------------------------------------------------------------


async def test_server_health_without_any_check(api: Api) -> None:
    headers = {"Host": "evil.example", "Origin": FOREIGN_ORIGIN}
    async with api.http.get(f"{api.server.url}/health", headers=headers) as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "version": "9.9.9-test"}


async def test_server_binds_loopback_only(api: Api) -> None:
    assert api.server.port > 0 and api.server.url == f"http://127.0.0.1:{api.server.port}"
    assert api.server._runner is not None
    assert {addr[0] for addr in api.server._runner.addresses} == {"127.0.0.1"}


async def test_server_localhost_host_accepted(api: Api) -> None:
    status, body = await api.post({"jsonrpc": "2.0", "id": 1, "method": "test.count"},
                                  headers={"Host": f"localhost:{api.server.port}"})
    assert status == 200 and body["result"] == 1


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:1", "127.0.0.1", "vigie.localhost:{port}"])
async def test_server_foreign_host_refused_on_rpc(api: Api, host: str) -> None:
    status, body = await api.post({"jsonrpc": "2.0", "id": 1, "method": "test.count"},
                                  headers={"Host": host.format(port=api.server.port)})
    assert status == 421 and body["error"]["code"] == FORBIDDEN
    assert api.counter == {}


async def test_server_foreign_host_refused_on_ws(api: Api) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await api.connect(headers={"Host": f"rebind.example:{api.server.port}"})
    assert info.value.status == 421
    assert api.server.connection_count == 0


async def test_server_disallowed_origin_refused_before_upgrade(api: Api) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await api.connect(origin=FOREIGN_ORIGIN)
    assert info.value.status == 403
    assert api.server.connection_count == 0
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await api.connect(origin="null")
    assert info.value.status == 403


async def test_server_disallowed_origin_refused_on_rpc(api: Api) -> None:
    status, body = await api.post({"jsonrpc": "2.0", "id": 1, "method": "test.count"},
                                  headers={"Origin": FOREIGN_ORIGIN})
    assert status == 403 and body["error"]["code"] == FORBIDDEN and api.counter == {}


async def test_server_allowed_origin_and_no_origin_accepted(api: Api) -> None:
    for origin in (ORIGIN, None):
        ws = await api.session(origin=origin)
        assert (await call(ws, "test.echo", {"value": "v"}))["result"]["value"] == "v"
        await ws.close()


async def test_server_rpc_cors_headers_for_allowed_origin(api: Api) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test.count"})
    headers = {"Origin": ORIGIN, "Authorization": f"Bearer {TOKEN}"}
    async with api.http.post(api.rpc_url, data=body, headers=headers) as resp:
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_server_preflight_allowed_origin_only(api: Api) -> None:
    headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type",
               "Access-Control-Request-Private-Network": "true"}
    async with api.http.options(api.rpc_url, headers=headers) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
        assert resp.headers["Access-Control-Allow-Private-Network"] == "true"
    async with api.http.options(api.rpc_url, headers={**headers, "Origin": FOREIGN_ORIGIN}) as resp:
        assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
    async with api.http.options(api.rpc_url) as resp:
        assert resp.status == 403


# -- tokens -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", "Bearer"])
async def test_server_http_missing_or_wrong_token_refused(api: Api, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    status, body = await api.post({"jsonrpc": "2.0", "id": 1, "method": "test.count"}, token=None,
                                  headers=headers)
    assert status == 401
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == INVALID_TOKEN
    assert api.counter == {}


async def test_server_http_call(api: Api) -> None:
    status, body = await api.post({"jsonrpc": "2.0", "id": "a", "method": "test.echo", "params": {"value": "v"}})
    assert status == 200
    assert body == {"jsonrpc": "2.0", "id": "a", "result": {"value": "v", "client": "config", "transport": "http"}}


async def test_server_ws_wrong_token_closes(api: Api) -> None:
    ws = await api.connect()
    reply = await call(ws, "session.open", {"token": "wrong-token-0123456789"})
    assert reply["error"]["code"] == INVALID_TOKEN and reply["error"]["message"] == "Jeton invalide ou révoqué"
    assert await closed(ws) == 4401


async def test_server_ws_call_before_session_refused_then_closed(api: Api) -> None:
    ws = await api.connect()
    reply = await call(ws, "test.count", {}, 1)
    assert reply["error"] == {"code": SESSION_NOT_OPEN, "message": "Session non ouverte : envoyez session.open"}
    await ws.send_bytes(b"\x00\x01")
    assert (await receive(ws))["error"]["code"] == INVALID_REQUEST
    await ws.send_str("{not json")
    assert (await receive(ws))["error"]["code"] == PARSE_ERROR
    assert await closed(ws) == 4401
    assert api.counter == {}


async def test_server_ws_session_open_invalid_params(api: Api) -> None:
    ws = await api.connect()
    reply = await call(ws, "session.open", {"tok": TOKEN})
    assert reply["error"]["code"] == INVALID_PARAMS and "params.token" in reply["error"]["message"]
    ws2 = await api.session()  # a valid one still works
    assert (await call(ws2, "test.count"))["result"] == 1


async def test_server_ws_session_open_then_call(api: Api) -> None:
    ws = await api.connect()
    reply = await call(ws, "session.open", {"token": TOKEN})
    assert reply == {"jsonrpc": "2.0", "id": 1, "result": {"client": "config", "scopes": ["admin", "lgc"]}}
    assert (await call(ws, "test.echo", {"value": "v"}, 2))["result"] == {
        "value": "v", "client": "config", "transport": "ws"}
    again = await call(ws, "session.open", {"token": TOKEN}, 3)
    assert again["error"]["code"] == CONFLICT
    assert api.server.connection_count == 1


# -- JSON-RPC over the socket -------------------------------------------------------------------------


async def test_server_malformed_json(api: Api) -> None:
    ws = await api.session()
    await ws.send_str('{"jsonrpc": "2.0", "id": 1, "method": ')
    assert await receive(ws) == {"jsonrpc": "2.0", "id": None,
                                 "error": {"code": PARSE_ERROR, "message": "Erreur d'analyse : JSON invalide"}}
    status, body = await api.post("{nope", raw=True)
    assert status == 200 and body["error"]["code"] == PARSE_ERROR


async def test_server_unknown_method(api: Api) -> None:
    ws = await api.session()
    assert (await call(ws, "nope.nothing"))["error"]["code"] == METHOD_NOT_FOUND


async def test_server_invalid_params(api: Api) -> None:
    ws = await api.session()
    reply = await call(ws, "test.echo", {"value": "v", "traits": {"birth_name": 12}})
    assert reply["error"]["code"] == INVALID_PARAMS
    assert reply["error"]["data"]["path"] == "params.traits.birth_name"


async def test_server_non_object_params(api: Api) -> None:
    ws = await api.session()
    assert (await call(ws, "test.echo", ["v"]))["error"]["code"] == INVALID_PARAMS
    assert (await call(ws, "test.echo", "v"))["error"]["code"] == INVALID_REQUEST
    assert (await call(ws, "test.echo", 3))["error"]["code"] == INVALID_REQUEST
    assert api.counter == {}


async def test_server_batch(api: Api) -> None:
    ws = await api.session()
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "test.count"},
        {"jsonrpc": "2.0", "method": "test.count"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope.nothing"},
        {"foo": "bar"},
    ]
    await ws.send_str(json.dumps(batch))
    reply = await receive(ws)
    assert [r["id"] for r in reply] == [1, 2, None]
    assert reply[0]["result"] == 1 and reply[1]["error"]["code"] == METHOD_NOT_FOUND
    assert reply[2]["error"]["code"] == INVALID_REQUEST
    assert api.counter == {"count": 2}
    await ws.send_str("[]")
    assert (await receive(ws))["error"]["code"] == INVALID_REQUEST
    status, body = await api.post(batch)
    assert status == 200 and len(body) == 3


async def test_server_notification_gets_no_response(api: Api) -> None:
    ws = await api.session()
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "test.count"}))
    await ws.send_str(json.dumps([{"jsonrpc": "2.0", "method": "test.crash"}]))
    reply = await call(ws, "test.echo", {"value": "after"}, 9)  # the next message is this reply
    assert reply["id"] == 9 and reply["result"]["value"] == "after"
    assert api.counter == {"count": 1}
    status, body = await api.post({"jsonrpc": "2.0", "method": "test.count"})
    assert status == 204 and body is None


async def test_server_user_facing_error_in_french(api: Api) -> None:
    ws = await api.session()
    reply = await call(ws, "test.refuse")
    assert reply["error"] == {"code": -32010, "message": "Les traits d'identité diffèrent de ceux de l'INSi",
                              "data": {"fields": ["birth_name"]}}


async def test_server_internal_error_has_no_traceback(api: Api) -> None:
    ws = await api.session()
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test.crash"}))
    msg = await ws.receive(timeout=10)
    for leak in ("Traceback", "RuntimeError", "boom", SECRET, ".py"):
        assert leak not in msg.data
    assert json.loads(msg.data)["error"] == {"code": INTERNAL_ERROR, "message": "Erreur interne"}
    assert (await call(ws, "test.unserialisable", {}, 2))["error"]["code"] == INTERNAL_ERROR
    assert (await call(ws, "test.count", {}, 3))["result"] == 1  # still serving


async def test_server_scope_not_granted_for_paired_client(tmp_path: Path) -> None:
    async with running_api(tmp_path, auto_accept_pairing=True) as api:
        ws, reply = await pair(api)
        assert reply["result"]["scopes"] == ["lgc"]
        for method in ("test.admin_only", "clients.list", "pairing.list"):
            assert (await call(ws, method, {}))["error"]["code"] == FORBIDDEN


# -- limits -------------------------------------------------------------------------------------------


async def test_server_oversized_ws_message_closes(tmp_path: Path) -> None:
    async with running_api(tmp_path, max_message_bytes=2048) as api:
        ws = await api.session()
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "test.echo",
                                      "params": {"value": "x" * 4096}}))
        assert await closed(ws) == 1009
        ws2 = await api.session()  # the server itself is fine
        assert (await call(ws2, "test.count"))["result"] == 1


async def test_server_oversized_http_body_413(tmp_path: Path) -> None:
    async with running_api(tmp_path, max_message_bytes=2048) as api:
        status, body = await api.post({"jsonrpc": "2.0", "id": 1, "method": "test.echo",
                                       "params": {"value": "x" * 4096}})
        assert status == 413 and body["error"]["code"] == INVALID_REQUEST
        assert api.counter == {}


async def test_server_rate_limit(tmp_path: Path) -> None:
    async with running_api(tmp_path, rate_per_second=0.001, rate_burst=3) as api:
        ws = await api.session()  # costs one token
        assert (await call(ws, "test.count", {}, 1))["result"] == 1
        assert (await call(ws, "test.count", {}, 2))["result"] == 2
        reply = await call(ws, "test.count", {}, 3)
        assert reply["error"] == {"code": RATE_LIMITED, "message": "Trop de requêtes"}
        await ws.send_str(json.dumps([{"jsonrpc": "2.0", "id": 4, "method": "test.count"},
                                      {"jsonrpc": "2.0", "method": "test.count"}]))
        assert [r["error"]["code"] for r in await receive(ws)] == [RATE_LIMITED]
        assert api.counter == {"count": 2}  # refused calls did not run
        for _ in range(4):  # HTTP: one bucket per client, burst 3
            status, body = await api.post({"jsonrpc": "2.0", "id": 1, "method": "test.count"})
        assert status == 200 and body["error"]["code"] == RATE_LIMITED
        assert api.counter == {"count": 5}


def test_token_bucket_refills() -> None:
    bucket = TokenBucket(rate=10.0, burst=2)
    assert bucket.take() and bucket.take() and not bucket.take()
    bucket._stamp -= 1.0  # one second later
    assert bucket.take(2) and not bucket.take()
    assert not TokenBucket(rate=1.0, burst=2).take(3)


# -- events -------------------------------------------------------------------------------------------


async def test_server_events_reach_authenticated_sockets_only(api: Api) -> None:
    authed = await api.session()
    anonymous = await api.connect()
    api.events.publish("card.inserted", {"reader": "Lecteur 1", "kind": "vitale"})
    assert await receive(authed) == {"jsonrpc": "2.0", "method": "card.inserted",
                                     "params": {"reader": "Lecteur 1", "kind": "vitale"}}
    # Had the event been queued for the anonymous socket, it would come before this reply.
    reply = await call(anonymous, "test.count")
    assert reply["error"]["code"] == SESSION_NOT_OPEN


async def test_server_events_unserialisable_dropped(api: Api) -> None:
    ws = await api.session()
    api.events.publish("bad.event", {"x": object()})
    api.events.publish("good.event", {"x": 1})
    assert (await receive(ws))["method"] == "good.event"


async def test_server_slow_consumer_disconnected(tmp_path: Path) -> None:
    async with running_api(tmp_path, queue_size=4) as api:
        slow = await api.session()
        for i in range(50):  # synchronous burst: the writer task cannot drain in between
            api.events.publish("batch.progress", {"batch_id": 1, "done": i, "total": 50})
        assert await closed(slow) == 1013
        fresh = await api.session()
        api.events.publish("batch.progress", {"batch_id": 1, "done": 50, "total": 50})
        assert (await receive(fresh))["params"]["done"] == 50


async def test_server_stop_closes_sockets_going_away(tmp_path: Path) -> None:
    async with running_api(tmp_path) as api:
        ws = await api.session()
        anonymous = await api.connect()
        await api.server.stop()
        assert await closed(ws) == 1001
        assert await closed(anonymous) == 1001
        assert api.server.connection_count == 0


# -- pairing ------------------------------------------------------------------------------------------


async def test_pairing_auto_accept_gives_working_token(tmp_path: Path) -> None:
    async with running_api(tmp_path, auto_accept_pairing=True) as api:
        ws, reply = await pair(api)
        result = reply["result"]
        assert result["client"] == "MédiLogiciel" and result["scopes"] == ["lgc"]
        token = result["token"]
        assert (await call(ws, "test.count", {}, 2))["result"] == 1  # this socket is authenticated
        second = await api.connect()
        assert (await call(second, "session.open", {"token": token}))["result"] == {
            "client": "MédiLogiciel", "scopes": ["lgc"]}
        assert (await call(second, "test.echo", {"value": "v"}, 2))["result"]["client"] == "MédiLogiciel"
        status, body = await api.post({"jsonrpc": "2.0", "id": 1, "method": "test.count"}, token=token)
        assert status == 200 and body["result"] == 2


async def test_pairing_refused_by_user(api: Api) -> None:
    ws = await api.connect()
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "pairing.request",
                                  "params": {"client_name": "LGC X"}}))
    request = await api.notified.get()
    assert request.client_name == "LGC X" and request.origin == ORIGIN
    assert "Autoriser http://lgc.test (se présente comme « LGC X ») à utiliser Vigie ?" == request.prompt
    request.refuse()
    reply = await reply_to(ws, 1)
    assert reply["error"] == {"code": FORBIDDEN, "message": "Appairage refusé"}
    assert api.pairing.pending() == []
    assert await api.clients.list() == []


async def test_pairing_policy_decides(tmp_path: Path) -> None:
    def policy(name: str, origin: str | None) -> bool | None:
        return {"Trusted": True, "Banned": False}.get(name)

    async with running_api(tmp_path, policy=policy) as api:
        _, accepted = await pair(api, "Trusted")
        assert accepted["result"]["client"] == "Trusted"
        _, refused = await pair(api, "Banned")
        assert refused["error"]["code"] == FORBIDDEN
        assert api.notified.empty()  # the user was never asked


async def test_pairing_manual_decide_from_admin(api: Api) -> None:
    lgc = await api.connect()
    await lgc.send_str(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "pairing.request",
                                   "params": {"client_name": "Cabinet A"}}))
    request = await api.notified.get()
    # While waiting, the socket may not do anything else.
    assert (await call(lgc, "test.count", {}, 8))["error"]["code"] == SESSION_NOT_OPEN
    assert (await call(lgc, "pairing.request", {"client_name": "again"}, 9))["error"]["code"] == CONFLICT
    admin = await api.session(origin=None)
    listed = (await call(admin, "pairing.list", {}))["result"]["requests"]
    assert [(r["request_id"], r["client_name"], r["origin"]) for r in listed] == [
        (request.id, "Cabinet A", ORIGIN)]
    decided = await call(admin, "pairing.decide", {"request_id": request.id, "accept": True}, 2)
    assert decided["result"] == {"request_id": request.id, "accepted": True}
    reply = await reply_to(lgc, 7)
    assert reply["result"]["client"] == "Cabinet A"
    assert (await call(lgc, "test.count", {}, 10))["result"] == 1
    again = await call(admin, "pairing.decide", {"request_id": request.id, "accept": False}, 3)
    assert again["error"]["code"] == NOT_FOUND
    bad = await call(admin, "pairing.decide", {"request_id": "x", "accept": True}, 4)
    assert bad["error"]["code"] == INVALID_PARAMS


async def test_pairing_timeout_refuses(tmp_path: Path) -> None:
    async with running_api(tmp_path, pairing_timeout=0.05) as api:
        _, reply = await pair(api)
        assert reply["error"] == {"code": FORBIDDEN, "message": "Appairage refusé"}
        assert api.pairing.pending() == []


async def test_pairing_socket_closed_withdraws_request(api: Api) -> None:
    ws = await api.connect()
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "pairing.request",
                                  "params": {"client_name": "Gone"}}))
    request = await api.notified.get()
    await ws.close()
    assert await request.wait(10) is False  # refused by the broker when the socket's task was cancelled
    assert api.pairing.pending() == []


async def test_pairing_request_invalid_name(api: Api) -> None:
    ws = await api.connect()
    for name in ("", "   ", "x" * 101):
        assert (await call(ws, "pairing.request", {"client_name": name}))["error"]["code"] == INVALID_PARAMS


async def test_pairing_token_stored_only_hashed(tmp_path: Path) -> None:
    async with running_api(tmp_path, auto_accept_pairing=True) as api:
        _, reply = await pair(api)
        token = reply["result"]["token"]
        assert len(token) >= 43
    with sqlite3.connect(tmp_path / "vigie.sqlite3") as db:
        rows = db.execute("SELECT * FROM api_clients").fetchall()
        dump = "\n".join(db.iterdump())
    assert len(rows) == 1
    assert token not in dump
    (digest,) = (v for v in rows[0] if isinstance(v, str) and len(v) == 64)
    assert digest == hashlib.sha256(token.encode()).hexdigest()


# -- revocation ---------------------------------------------------------------------------------------


async def test_clients_revoke_disconnects_and_token_stops_working(tmp_path: Path) -> None:
    async with running_api(tmp_path, auto_accept_pairing=True) as api:
        paired, reply = await pair(api)
        token = reply["result"]["token"]
        other = await api.session(token)
        admin = await api.session()
        listed = (await call(admin, "clients.list", {}))["result"]["clients"]
        assert [(c["client_name"], c["revoked_at"]) for c in listed] == [("MédiLogiciel", None)]
        assert all("token" not in key for c in listed for key in c)
        client_id = listed[0]["id"]
        revoked = await call(admin, "clients.revoke", {"client_id": client_id}, 2)
        assert revoked["result"] == {"client_id": client_id, "revoked": True, "disconnected": 2}
        assert await closed(paired) == 4403
        assert await closed(other) == 4403
        retry = await api.connect()
        assert (await call(retry, "session.open", {"token": token}))["error"]["code"] == INVALID_TOKEN
        status, _ = await api.post({"jsonrpc": "2.0", "id": 1, "method": "test.count"}, token=token)
        assert status == 401
        assert (await call(admin, "clients.revoke", {"client_id": client_id}, 3))["error"]["code"] == NOT_FOUND
        listed = (await call(admin, "clients.list", {}, 4))["result"]["clients"]
        assert listed[0]["revoked_at"] is not None


# -- units behind the server ------------------------------------------------------------------------


async def test_client_registry_authenticate_issue_revoke(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3")
    await store.open()
    try:
        registry = ClientRegistry(store, [TOKEN])
        config_client = await registry.authenticate(TOKEN)
        assert config_client is not None and config_client.id is None
        assert config_client.scopes == frozenset({"lgc", "admin"})
        for bad in ("", None, 12, "x" * 10_000, TOKEN + "x", "\ud800"):
            assert await registry.authenticate(bad) is None
        token = await registry.issue("LGC", None, scopes=("lgc",))
        client = await registry.authenticate(token)
        assert client is not None and client.name == "LGC" and client.scopes == frozenset({"lgc"})
        (listed,) = await registry.list()
        assert listed["last_used_at"] is not None and listed["origin"] is None
        assert client.id is not None
        assert await registry.revoke(client.id) is True
        assert await registry.revoke(client.id) is False
        assert await registry.authenticate(token) is None
    finally:
        await store.close()


async def test_pairing_broker_paths() -> None:
    seen: list[PairingRequest] = []
    notified = asyncio.Event()

    async def notify(request: PairingRequest) -> None:
        seen.append(request)
        notified.set()
        raise RuntimeError("tray is broken")  # logged; the request still waits for a decision

    broker = PairingBroker(auto_accept=False, timeout=5.0, policy=lambda n, o: None, notify=notify)
    task = asyncio.create_task(broker.request("LGC", "http://lgc.test"))
    await notified.wait()
    assert [r.client_name for r in broker.pending()] == ["LGC"]
    assert broker.decide(999, True) is False
    assert broker.decide(seen[0].id, True) is True
    assert await task is True
    assert broker.pending() == [] and broker.decide(seen[0].id, False) is False

    assert await PairingBroker(auto_accept=True, timeout=0, policy=lambda n, o: False,
                               notify=lambda r: None).request("x", None) is True

    def broken_policy(name: str, origin: str | None) -> bool | None:
        raise ValueError("bug")

    asked: list[PairingRequest] = []
    broker = PairingBroker(auto_accept=False, timeout=0.01, policy=broken_policy, notify=asked.append)
    assert await broker.request("x", None) is False and len(asked) == 1  # fell back to asking; timed out

    waiting = asyncio.Event()
    full = PairingBroker(auto_accept=False, timeout=5.0, policy=lambda n, o: None,
                         notify=lambda r: waiting.set(), max_pending=1)
    first = asyncio.create_task(full.request("a", None))
    await waiting.wait()
    assert await full.request("b", None) is False  # refused at once, not queued
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert full.pending() == []
