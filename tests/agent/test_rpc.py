"""JSON-RPC 2.0 machinery (`agent.rpc`) without a network: registration, dispatch, errors, docs."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from agent.errors import RegistrationError, UserFacingError
from agent.hookspecs import RpcRegister
from agent.rpc import (
    FORBIDDEN,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcContext,
    RpcRegistry,
    documented_methods,
    dumps,
    is_allowed_code,
)
from tests.agent.api_fixtures import SECRET, make_registry
from tests.conftest import REPO

CTX = RpcContext(client="test", scopes=frozenset({"lgc"}), transport="ws", connection_id=1)
ADMIN = RpcContext(client="admin", scopes=frozenset({"lgc", "admin"}), transport="http", connection_id=2)


def req(method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params is not None:
        message["params"] = params
    return message


async def handler(params: dict[str, Any], ctx: RpcContext) -> Any:
    return params


@pytest.fixture
def counter() -> dict[str, int]:
    return {}


@pytest.fixture
def rpc(counter: dict[str, int]) -> RpcRegistry:
    return make_registry(counter)


# -- registration -----------------------------------------------------------------------------------


def test_registry_register_matches_hookspec_protocol() -> None:
    register: RpcRegister = RpcRegistry().register  # mypy checks the same in agent/rpc.py
    register("identity.submit", handler, params={"type": "object"}, scope="lgc", description="d")


@pytest.mark.parametrize("name", ["identity.submit", "sandbox.card_insert", "a1.b2"])
def test_registry_register_accepts_noun_verb(name: str) -> None:
    registry = RpcRegistry()
    registry.register(name, handler)
    assert registry.names() == [name]


@pytest.mark.parametrize("name", ["Identity.submit", "identity", "identity.sub.mit", "rpc.discover", "a.b-c",
                                  "", ".x", "x."])
def test_registry_register_refuses_bad_names(name: str) -> None:
    with pytest.raises(RegistrationError):
        RpcRegistry().register(name, handler)


def test_registry_register_accepts_three_parts_only_in_the_registering_plugins_namespace() -> None:
    registry = RpcRegistry()
    registry.register("mss.directory.search", handler, namespace="mss")
    assert registry.names() == ["mss.directory.search"]
    for name, namespace in (("mss.directory.search", None), ("mss.directory.search", "dmp"),
                            ("dmp.a.b.c", "dmp"), ("rpc.a.b", "rpc"), ("mss.Directory.search", "mss")):
        with pytest.raises(RegistrationError):
            RpcRegistry().register(name, handler, namespace=namespace)


def test_documented_methods_reads_three_part_headings(tmp_path: Any) -> None:
    doc = tmp_path / "api.md"
    doc.write_text("### identity.submit\n\n### `mss.directory.search`\n\n### not.a.real.one\n", encoding="utf-8")
    assert documented_methods(doc) == {"identity.submit", "mss.directory.search"}


def test_registry_register_refuses_duplicates() -> None:
    registry = RpcRegistry()
    registry.register("a.b", handler)
    with pytest.raises(RegistrationError, match="twice"):
        registry.register("a.b", handler)


def test_registry_register_refuses_invalid_schema_and_scope() -> None:
    with pytest.raises(RegistrationError, match="schema"):
        RpcRegistry().register("a.b", handler, params={"type": "nope"})
    with pytest.raises(RegistrationError, match="scope"):
        RpcRegistry().register("a.b", handler, scope="Not A Scope")


def test_registry_describe_lists_methods_sorted_with_schema(rpc: RpcRegistry) -> None:
    described = rpc.describe()
    assert [d["name"] for d in described] == rpc.names() == sorted(rpc.names())
    echo = next(d for d in described if d["name"] == "test.echo")
    assert echo["scope"] == "lgc" and echo["params"]["required"] == ["value"] and echo["description"]
    assert next(d for d in described if d["name"] == "test.count")["params"] == {"type": "object"}


# -- dispatch -----------------------------------------------------------------------------------------


async def test_handle_success_echoes_id(rpc: RpcRegistry) -> None:
    for request_id in (1, "abc", None, 2.5):
        reply = await rpc.handle(req("test.echo", {"value": "v"}, request_id), CTX)
        assert reply == {"jsonrpc": "2.0", "id": request_id,
                         "result": {"value": "v", "client": "test", "transport": "ws"}}


async def test_handle_params_omitted_means_empty_object(rpc: RpcRegistry) -> None:
    assert (await rpc.handle(req("test.count"), CTX))["result"] == 1  # type: ignore[index,call-overload]


async def test_handle_text_parse_error() -> None:
    registry = RpcRegistry()
    for text in ("{", "", "[1,", "NaN", '{"a": Infinity}', "1e400", "[" * 100_000):
        reply = json.loads(await registry.handle_text(text, CTX) or "null")
        assert reply["error"]["code"] == PARSE_ERROR and reply["id"] is None, text[:10]


@pytest.mark.parametrize(
    ("message", "echo"),
    [
        (1, None),
        ("x", None),
        ({"jsonrpc": "1.0", "method": "test.count", "id": 7}, 7),
        ({"method": "test.count", "id": 7}, 7),
        ({"jsonrpc": "2.0", "method": 1, "id": 7}, 7),
        ({"jsonrpc": "2.0", "id": 7}, 7),
        ({"jsonrpc": "2.0", "method": "test.count", "params": "bar", "id": 7}, 7),
        ({"jsonrpc": "2.0", "method": "test.count", "params": None, "id": 7}, 7),
        ({"jsonrpc": "2.0", "method": "test.count", "id": {"a": 1}}, None),
        ({"jsonrpc": "2.0", "method": "test.count", "id": True}, None),
        ({"jsonrpc": "2.0", "method": 1, "params": "bar"}, None),  # invalid even without id: answered
    ],
)
async def test_handle_invalid_request(rpc: RpcRegistry, counter: dict[str, int], message: Any, echo: Any
                                      ) -> None:
    reply = await rpc.handle(message, CTX)
    assert isinstance(reply, dict)
    assert reply["error"]["code"] == INVALID_REQUEST and reply["id"] == echo
    assert "result" not in reply
    assert counter == {}  # nothing ran


async def test_handle_positional_params_refused(rpc: RpcRegistry) -> None:
    reply = await rpc.handle(req("test.echo", ["v"]), CTX)
    assert reply["error"]["code"] == INVALID_PARAMS  # type: ignore[index,call-overload]


async def test_handle_unknown_method(rpc: RpcRegistry) -> None:
    reply = await rpc.handle(req("nope.nothing"), CTX)
    assert reply["error"]["code"] == METHOD_NOT_FOUND  # type: ignore[index,call-overload]
    assert "nope.nothing" in reply["error"]["message"]  # type: ignore[index,call-overload]


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({}, "params.value"),
        ({"value": 3}, "params.value"),
        ({"value": "x" * 51}, "params.value"),
        ({"value": "v", "extra": 1}, "params.extra"),
        ({"value": "v", "traits": {}}, "params.traits.birth_name"),
        ({"value": "v", "traits": {"birth_name": "X", "birth_date": "31/12/1999"}}, "params.traits.birth_date"),
    ],
)
async def test_handle_invalid_params_names_path_not_value(rpc: RpcRegistry, params: Any, path: str) -> None:
    reply = await rpc.handle(req("test.echo", params), CTX)
    error = reply["error"]  # type: ignore[index,call-overload]
    assert error["code"] == INVALID_PARAMS
    assert error["data"]["path"] == path
    assert error["message"].startswith("Paramètres invalides : ") and "Invalid params" in error["message"]
    assert path in error["message"]
    assert "31/12/1999" not in error["message"] and "xxxx" not in error["message"]
    assert "{" not in error["message"]  # no schema dump


async def test_handle_scope_not_granted(rpc: RpcRegistry) -> None:
    reply = await rpc.handle(req("test.admin_only"), CTX)
    assert reply["error"]["code"] == FORBIDDEN  # type: ignore[index,call-overload]
    assert (await rpc.handle(req("test.admin_only"), ADMIN))["result"] == "ok"  # type: ignore[index,call-overload]


async def test_handle_user_facing_error_passes_french_message(rpc: RpcRegistry) -> None:
    reply = await rpc.handle(req("test.refuse"), CTX)
    assert reply["error"] == {  # type: ignore[index,call-overload]
        "code": -32010, "message": "Les traits d'identité diffèrent de ceux de l'INSi",
        "data": {"fields": ["birth_name"]},
    }


async def test_handle_user_facing_error_out_of_range_code_becomes_application_error() -> None:
    registry = RpcRegistry()

    async def bad(params: dict[str, Any], ctx: RpcContext) -> Any:
        raise UserFacingError("Non", code=42, data={"x": object()})

    registry.register("a.bad", bad)
    reply = await registry.handle(req("a.bad"), CTX)
    assert reply["error"] == {"code": -32000, "message": "Non"}  # type: ignore[index,call-overload]


async def test_handle_internal_error_hides_exception(rpc: RpcRegistry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="agent.rpc")
    text = await rpc.handle_text(json.dumps(req("test.crash", {"nir": "184127512345678"})), CTX)
    assert text is not None
    assert json.loads(text)["error"] == {"code": INTERNAL_ERROR, "message": "Erreur interne"}
    for leak in ("Traceback", "RuntimeError", "boom", SECRET, "184127512345678"):
        assert leak not in text
    assert "test.crash" in caplog.text and "184127512345678" not in caplog.text  # method, never params


async def test_handle_unserialisable_result_is_internal_error(rpc: RpcRegistry) -> None:
    reply = await rpc.handle(req("test.unserialisable"), CTX)
    assert reply["error"]["code"] == INTERNAL_ERROR  # type: ignore[index,call-overload]


async def test_handle_notification_gets_no_reply_but_runs(rpc: RpcRegistry) -> None:
    assert await rpc.handle({"jsonrpc": "2.0", "method": "test.count"}, CTX) is None
    assert await rpc.handle({"jsonrpc": "2.0", "method": "test.crash"}, CTX) is None
    assert await rpc.handle({"jsonrpc": "2.0", "method": "nope.nothing"}, CTX) is None
    assert (await rpc.handle(req("test.count"), CTX))["result"] == 2  # type: ignore[index,call-overload]


async def test_handle_batch(rpc: RpcRegistry) -> None:
    reply = await rpc.handle(
        [req("test.echo", {"value": "a"}, 1), {"jsonrpc": "2.0", "method": "test.count"}, 5,
         req("nope.nothing", None, 3)],
        CTX,
    )
    assert isinstance(reply, list) and len(reply) == 3
    assert reply[0]["result"]["value"] == "a"
    assert reply[1] == {"jsonrpc": "2.0", "id": None, "error": reply[1]["error"]}
    assert reply[1]["error"]["code"] == INVALID_REQUEST
    assert reply[2]["id"] == 3 and reply[2]["error"]["code"] == METHOD_NOT_FOUND


async def test_handle_batch_empty_and_all_notifications(rpc: RpcRegistry) -> None:
    empty = await rpc.handle([], CTX)
    assert isinstance(empty, dict) and empty["error"]["code"] == INVALID_REQUEST and empty["id"] is None
    assert await rpc.handle([{"jsonrpc": "2.0", "method": "test.count"}] * 2, CTX) is None
    assert await rpc.handle_text('[{"jsonrpc": "2.0", "method": "test.count"}]', CTX) is None


def test_is_allowed_code() -> None:
    assert all(is_allowed_code(c) for c in (-32700, -32600, -32601, -32602, -32603, -32000, -32099))
    assert not any(is_allowed_code(c) for c in (-32100, -31999, 0, 1, True, "x", -32604))


# -- documentation ------------------------------------------------------------------------------------


def test_documented_methods_parses_headings(tmp_path: Any) -> None:
    doc = tmp_path / "api.md"
    doc.write_text("# T\n### a.b\ntext ### c.d\n### `e.f_g`\n#### h.i\n### Not.this\n## j.k\n", encoding="utf-8")
    assert documented_methods(doc) == {"a.b", "e.f_g"}


def test_documented_methods_cover_every_host_method() -> None:
    """Every method the host registers (server, admin, agent.info) has its heading in the docs."""
    from agent.admin import register_admin_methods
    from agent.client_registry import ClientRegistry
    from agent.config import ApiConfig
    from agent.events import EventBus
    from agent.pairing import PairingBroker
    from agent.server import ApiServer
    from agent.store import Store

    registry = RpcRegistry()
    clients = ClientRegistry(Store(":memory:"), [])
    pairing = PairingBroker(auto_accept=False, timeout=1.0, policy=lambda n, o: None, notify=lambda r: None)
    server = ApiServer(ApiConfig(port=0), rpc=registry, events=EventBus(), clients=clients, pairing=pairing,
                       version="t")
    register_admin_methods(registry, clients=clients, pairing=pairing, server=server)
    documented = documented_methods(REPO / "docs" / "local-api.md")
    expected = set(registry.names()) | {"agent.info"}
    assert expected <= documented, expected - documented
    assert {"session.open", "pairing.request", "pairing.list", "pairing.decide", "clients.list",
            "clients.revoke"} <= set(registry.names())


async def test_registry_response_text_is_the_json_of_the_response() -> None:
    """The result is serialised once (to check it) and that text is what goes out: it must be exactly
    the serialisation of the response object."""
    rpc = make_registry()
    for request_id in (1, "a\u00e9", None, 2.5, -7):
        message = {"jsonrpc": "2.0", "id": request_id, "method": "test.echo", "params": {"value": "é\"\\"}}
        response = await rpc.handle(message, CTX)
        assert isinstance(response, dict)
        assert dumps(response) == json.dumps(dict(response), ensure_ascii=False, separators=(",", ":"))
        assert json.loads(dumps(response)) == response


async def test_registry_empty_params_skip_the_validator_only_when_the_schema_allows_them() -> None:
    rpc = make_registry()
    assert (await rpc.handle({"jsonrpc": "2.0", "id": 1, "method": "test.count"}, CTX))["result"] == 1
    refused = await rpc.handle({"jsonrpc": "2.0", "id": 2, "method": "test.echo", "params": {}}, CTX)
    assert refused["error"]["code"] == INVALID_PARAMS
    assert refused["error"]["data"] == {"path": "params.value", "reason": "required"}
