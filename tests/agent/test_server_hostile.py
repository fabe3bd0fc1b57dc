"""The local API against what an independent probe sent it (issue 18): lone UTF-16 surrogates, pairing
prompt floods, spoofed prompt text, out-of-range integers, a thousand frames at once. Real server on
127.0.0.1:0, real aiohttp client, real store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from agent.pairing import PairingBroker, PairingOutcome, PairingRequest
from agent.rpc import (
    CONFLICT,
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    RATE_LIMITED,
    RpcContext,
)
from tests.agent.api_fixtures import ORIGIN, Api, call, closed, receive, reply_to, running_api

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




# -- 2. pairing prompt flood --------------------------------------------------------------------------

OTHER_ORIGIN = "http://autre-lgc.test"


def pairing_frame(name: str = "LGC", request_id: int = 1) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "pairing.request",
                       "params": {"client_name": name}})


async def test_pairing_flood_of_vanishing_requests_shows_one_prompt(api: Api) -> None:
    """The probe opened a request and closed the socket 200 times: 200 prompts in 4.6 s."""
    for i in range(20):
        ws = await api.connect()
        await ws.send_str(pairing_frame(f"LGC {i}"))
        if i == 0:
            first = await asyncio.wait_for(api.notified.get(), 5)
        else:
            reply = await receive(ws)  # answered at once: no prompt
            assert reply["error"]["code"] in (RATE_LIMITED, CONFLICT), reply
            assert "réessayez" in reply["error"]["message"] or "attend déjà" in reply["error"]["message"]
        await ws.close()
    assert first.decided  # withdrawn with its socket
    assert api.notified.empty()
    assert api.pairing.pending() == []


async def test_pairing_one_live_prompt_per_origin_and_others_still_pair(tmp_path: Path) -> None:
    async with running_api(tmp_path, allowed_origins=[ORIGIN, OTHER_ORIGIN]) as api:
        held = [await api.connect() for _ in range(12)]  # more than the 8 pending slots
        for ws in held:
            await ws.send_str(pairing_frame("Page hostile"))
        prompt = await asyncio.wait_for(api.notified.get(), 5)
        for ws in held[1:]:
            reply = await receive(ws)
            assert reply["error"]["code"] == CONFLICT
            assert reply["error"]["message"] == ("Une demande d'appairage de ce logiciel attend déjà la réponse de "
                                                 "l'utilisateur")
        assert [r.id for r in api.pairing.pending()] == [prompt.id]
        legit = await api.connect(origin=OTHER_ORIGIN)
        await legit.send_str(pairing_frame("Cabinet", 5))
        second = await asyncio.wait_for(api.notified.get(), 5)
        assert second.origin == OTHER_ORIGIN
        second.accept()
        assert (await reply_to(legit, 5))["result"]["client"] == "Cabinet"
        assert api.notified.empty()


async def test_pairing_cooldown_after_refusal(api: Api) -> None:
    ws = await api.connect()
    await ws.send_str(pairing_frame())
    (await asyncio.wait_for(api.notified.get(), 5)).refuse()
    assert (await receive(ws))["error"]["code"] == FORBIDDEN
    again = await api.connect()
    reply = await call(again, "pairing.request", {"client_name": "LGC"})
    assert reply["error"]["code"] == RATE_LIMITED and "réessayez dans" in reply["error"]["message"]
    assert api.notified.empty()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_pairing_broker_cooldown_expires_and_windows_bound_prompts() -> None:
    clock = FakeClock()
    asked: list[PairingRequest] = []
    broker = PairingBroker(auto_accept=False, timeout=5.0, notify=asked.append, clock=clock)

    async def ask(origin: str | None, accept: bool) -> PairingOutcome:
        task = asyncio.create_task(broker.consider("LGC", origin))
        await asyncio.sleep(0)
        if asked and not asked[-1].decided:
            asked[-1].accept() if accept else asked[-1].refuse()
        return await task

    assert (await ask("http://a.test", False)).accepted is False
    cooling = await ask("http://a.test", True)
    assert cooling.code == RATE_LIMITED
    assert cooling.message == "Demande d'appairage refusée ou abandonnée il y a peu : réessayez dans 30 s"
    clock.now += 31
    assert (await ask("http://a.test", True)).accepted is True
    assert (await ask("http://a.test", True)).accepted is True  # an acceptance leaves no cool-down
    assert (await ask("http://a.test", True)).code == RATE_LIMITED  # 3 prompts a minute for one requester
    assert len(asked) == 3
    clock.now += 61
    for i in range(10):  # the agent-wide window: 10 prompts a minute whoever asks
        assert (await ask(f"http://o{i}.test", True)).accepted is True
    assert (await ask("http://o99.test", True)).code == RATE_LIMITED
    assert len(asked) == 13


# -- 3. spoofable prompt text -------------------------------------------------------------------------

SPOOFS = ["MédiLogiciel\u202e", "LGC\nAutoriser tout", "A\u200bB", "\x1b[31mRouge", "A" + "\u0301" * 4,
          "e\u0300\u0301\u0302\u0303", "Nom\u2028ligne", "\u2066isolé\u2069", "priv\ue000é"]


@pytest.mark.parametrize("name", SPOOFS)
async def test_pairing_control_and_bidi_characters_refused_without_echo(api: Api, name: str) -> None:
    ws = await api.connect()
    reply = await call(ws, "pairing.request", {"client_name": name})
    assert reply["error"]["code"] == INVALID_PARAMS
    assert reply["error"]["data"] == {"path": "params.client_name", "reason": "characters"}
    assert "params.client_name" in reply["error"]["message"]
    assert name not in reply["error"]["message"]
    assert api.notified.empty()


async def test_pairing_prompt_leads_with_origin_and_shows_a_clean_name(api: Api) -> None:
    ws = await api.connect()
    await ws.send_str(pairing_frame("  Cabinet   Dr Mu\u0308ller – LGC  "))
    request = await asyncio.wait_for(api.notified.get(), 5)
    assert request.client_name == "Cabinet Dr Müller – LGC"  # NFC, spaces collapsed
    assert request.prompt == ("Autoriser http://lgc.test (se présente comme « Cabinet Dr Müller – LGC ») "
                              "à utiliser Vigie ?")
    request.refuse()
    assert await PairingRequest("Outil", None).wait(0) is False
    assert PairingRequest("Outil", None).prompt == ("Autoriser un logiciel de ce poste (se présente comme « Outil ») "
                                                    "à utiliser Vigie ?")


# -- 5. a thousand frames at once ---------------------------------------------------------------------


async def test_thousand_frames_at_once_calls_under_the_limit_answered(api: Api) -> None:
    """The probe got 138 "Trop de requêtes", then close 1013 and not one result although it was reading."""
    ws = await api.session()
    frames = [json.dumps({"jsonrpc": "2.0", "id": i, "method": "test.count"}) for i in range(1000)]

    async def flood() -> None:
        for frame in frames:
            await ws.send_str(frame)

    sender = asyncio.create_task(flood())
    results: dict[int, int] = {}
    refused: set[int] = set()
    close_reason = None
    while True:
        msg = await ws.receive(timeout=20)
        if msg.type is aiohttp.WSMsgType.TEXT:
            reply = json.loads(msg.data)
            if "result" in reply:
                results[reply["id"]] = reply["result"]
            else:
                assert reply["error"] == {"code": RATE_LIMITED, "message": "Trop de requêtes"}, reply
                refused.add(reply["id"])
            if len(results) + len(refused) == len(frames):
                break
        else:
            close_reason = msg.extra
            break
    await sender
    ran = api.counter.get("count", 0)
    assert ran >= 32  # at least a full window of calls in flight ran...
    assert len(results) == ran  # ...and every call that ran got its result, even when the socket closes
    assert sorted(results.values()) == list(range(1, ran + 1))
    assert not (set(results) & refused)
    if close_reason is not None:  # closing is allowed, silently dropping answers is not
        assert ws.close_code == 1008
        assert "trop de requetes" in close_reason
    else:  # the socket still answers
        after = await call(ws, "test.count", {}, "after")
        assert after.get("result") == ran + 1 or after["error"]["code"] == RATE_LIMITED


async def test_flood_close_waits_for_calls_in_flight(tmp_path: Path) -> None:
    async with running_api(tmp_path, rate_per_second=0.001, rate_burst=40) as api:
        release = asyncio.Event()

        async def slow(params: dict[str, Any], ctx: RpcContext) -> Any:
            await release.wait()
            return "fini"

        api.rpc.register("test.slow", slow)
        ws = await api.session()
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": "slow", "method": "test.slow"}))
        for i in range(400):  # far over the limit: refused, then the socket is closed for it
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": i, "method": "test.count"}))
        await asyncio.sleep(0.3)
        release.set()
        replies: list[Any] = []
        while True:
            msg = await ws.receive(timeout=10)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            replies.append(json.loads(msg.data))
        assert ws.close_code == 1008 and "trop de requetes" in msg.extra
        assert {"jsonrpc": "2.0", "id": "slow", "result": "fini"} in replies  # in flight: answered before the close
        answered = {r["id"] for r in replies if "result" in r and r["id"] != "slow"}
        assert len(answered) == api.counter.get("count", 0)
