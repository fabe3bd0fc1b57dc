"""JSON-RPC 2.0 for the local API: method registry, schema-checked params, errors the LGC can show.

Transport-agnostic: `agent.server` feeds it text from websocket frames and HTTP bodies. The rules
that matter to the practice: an error never carries a traceback or exception text (they may hold
patient data), invalid params are named by path only (never by value), and logs name the method,
never the params.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from agent.errors import RegistrationError, UserFacingError
from agent.hookspecs import RpcHandler

if TYPE_CHECKING:
    from agent.hookspecs import RpcRegister

log = logging.getLogger(__name__)

# Standard JSON-RPC 2.0 codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Vigie's application codes (-32000..-32099; docs/local-api.md has the table).
APPLICATION_ERROR = -32000
SESSION_NOT_OPEN = -32001
INVALID_TOKEN = -32002
FORBIDDEN = -32003
PLUGIN_NOT_READY = -32004  # raised by the host (agent.app) when a plugin's method is called too early
RATE_LIMITED = -32005
CONFLICT = -32006
NOT_FOUND = -32007
STANDARD_CODES = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR})

# `<noun>.<verb>`; or `<plugin>.<noun>.<verb>`, a plugin's sub-object (`mss.directory.search`), accepted only
# from that plugin (`namespace`): a three-part name cannot squat another plugin's namespace.
METHOD_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
NAMESPACED_METHOD_NAME = re.compile(r"^([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
SCOPE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DOC_HEADING = re.compile(r"^###\s+`?([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){1,2})`?\s*$", re.MULTILINE)
_ANY_OBJECT: Mapping[str, Any] = {"type": "object"}


def is_allowed_code(code: object) -> bool:
    """True for the codes Vigie may put on the wire: the standard five and -32000..-32099."""
    return isinstance(code, int) and (code in STANDARD_CODES or -32099 <= code <= -32000)


def _valid_name(name: object, namespace: str | None) -> bool:
    if not isinstance(name, str) or name.startswith("rpc."):
        return False
    if METHOD_NAME.match(name):
        return True
    namespaced = NAMESPACED_METHOD_NAME.match(name)
    return bool(namespaced and namespace and namespaced.group(1) == namespace)


class RpcError(Exception):
    """A JSON-RPC error raised inside the machinery (or by the server); `message` is French."""

    def __init__(self, code: int, message: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class InvalidRequest(RpcError):
    """The message is not a JSON-RPC request object; `request_id` is echoed when readable."""

    def __init__(self, message: str, request_id: Any = None) -> None:
        super().__init__(INVALID_REQUEST, f"Requête invalide : {message}")
        self.request_id = request_id


@dataclass(frozen=True)
class RpcContext:
    """Who is calling: handed to every handler (scopes are already checked by the registry)."""

    client: str
    scopes: frozenset[str]
    transport: str  # "ws" | "http"
    connection_id: int


@dataclass(frozen=True)
class Call:
    """A structurally valid request. `params` may still be a list (refused later with -32602)."""

    method: str
    params: Any
    id: Any
    notification: bool


@dataclass(frozen=True)
class _Method:
    name: str
    handler: RpcHandler
    scope: str
    description: str
    schema: Mapping[str, Any]
    validator: Draft202012Validator
    empty_ok: bool  # `{}` fits the schema: the params of most calls (agent.info...) need no validation


class Response(dict[str, Any]):
    """A success response that already knows its JSON text (`dumps` returns it): the result was
    serialised once to check it, not twice."""

    text: str


# ---------------------------------------------------------------- wire helpers


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses to inf, which cannot be echoed back as JSON
        raise ValueError("non-finite number")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# A `\uD800`..`\uDFFF` escape: JSON text may spell a lone UTF-16 surrogate, which no UTF-8 reply can carry.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def loads(text: str | bytes) -> Any:
    """Parse one frame/body; raises `RpcError(PARSE_ERROR)` (NaN, Infinity, deep nesting and lone
    surrogates too: an id or method holding one could be neither echoed nor logged as UTF-8)."""
    try:
        message = json.loads(text, parse_float=_finite_float, parse_constant=_refuse_constant)
    except (ValueError, RecursionError, TypeError):
        raise RpcError(PARSE_ERROR, "Erreur d'analyse : JSON invalide") from None
    if isinstance(text, bytes):
        suspect = _SURROGATE_ESCAPE_BYTES.search(text) is not None
    else:
        suspect = _SURROGATE_ESCAPE.search(text) is not None
    if suspect and not _encodable(message):
        raise RpcError(PARSE_ERROR, "Erreur d'analyse : caractère Unicode isolé (surrogate) / lone surrogate")
    return message


def _encodable(value: Any) -> bool:
    """True when `value` can be written as UTF-8 JSON (surrogate pairs were joined by the parser)."""
    try:
        dumps(value).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


def dumps(message: Any) -> str:
    if type(message) is Response:
        return message.text
    return json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def error_response(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def result_response(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return value is None or isinstance(value, str | int | float)


def readable_id(message: Any) -> tuple[bool, Any]:
    """(is a request expecting an answer, id to echo). Used to answer without executing."""
    if not isinstance(message, dict) or "id" not in message:
        return (not isinstance(message, dict), None)
    value = message["id"]
    return (True, value if _valid_id(value) else None)


def parse_call(message: Any) -> Call:
    """Check the request object's structure (not the method nor the params' content)."""
    if not isinstance(message, dict):
        raise InvalidRequest("un objet JSON est attendu / a JSON object is expected")
    notification = "id" not in message
    request_id = message.get("id")
    if not _valid_id(request_id):
        raise InvalidRequest("id doit être une chaîne, un nombre ou null / id must be a string, number or null")
    if message.get("jsonrpc") != "2.0":
        raise InvalidRequest('jsonrpc doit valoir "2.0" / jsonrpc must be "2.0"', request_id)
    method = message.get("method")
    if not isinstance(method, str):
        raise InvalidRequest("method doit être une chaîne / method must be a string", request_id)
    params = message.get("params", {})
    if not isinstance(params, dict | list):
        raise InvalidRequest("params doit être un objet / params must be an object", request_id)
    return Call(method=method, params=params, id=request_id, notification=notification)


def answer_without_running(message: Any, code: int, text: str) -> dict[str, Any] | list[Any] | None:
    """The same error for every request in `message` (single or batch), notifications skipped."""
    items = message if isinstance(message, list) and message else [message]
    out = []
    for item in items:
        wants_answer, request_id = readable_id(item)
        if wants_answer:
            out.append(error_response(request_id, code, text))
    if not isinstance(message, list):
        return out[0] if out else None
    return out or None


# ---------------------------------------------------------------- invalid params, named by path

_REASONS: dict[str, tuple[str, str]] = {
    "type": ("type incorrect", "wrong type"),
    "enum": ("valeur non autorisée", "value not allowed"),
    "const": ("valeur non autorisée", "value not allowed"),
    "format": ("format invalide", "invalid format"),
    "pattern": ("format invalide", "invalid format"),
    "minLength": ("trop court", "too short"),
    "maxLength": ("trop long", "too long"),
    "minimum": ("trop petit", "too small"),
    "exclusiveMinimum": ("trop petit", "too small"),
    "maximum": ("trop grand", "too large"),
    "exclusiveMaximum": ("trop grand", "too large"),
    "minItems": ("pas assez d'éléments", "too few items"),
    "maxItems": ("trop d'éléments", "too many items"),
    "additionalProperties": ("champ non autorisé", "field not allowed"),
    "unevaluatedProperties": ("champ non autorisé", "field not allowed"),
}


def _path(parts: Any) -> str:
    out = "params"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{str(part)[:64]}"
    return out


def _describe_error(error: ValidationError) -> tuple[str, dict[str, Any]]:
    """A short bilingual message naming where params are wrong; never echoes a value."""
    parts = list(error.absolute_path)
    reason = _REASONS.get(str(error.validator), ("valeur invalide", "invalid value"))
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        required: Any = error.validator_value
        missing = [k for k in required if k not in instance]
        parts.append(missing[0] if missing else "?")
        reason = ("champ obligatoire manquant", "missing required field")
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        extra = sorted(str(k) for k in instance if k not in allowed)
        if extra:
            parts.append(extra[0])
    elif error.validator == "type":
        expected = error.validator_value
        expected_text = "|".join(expected) if isinstance(expected, list) else str(expected)
        reason = (f"type incorrect ({expected_text} attendu)", f"wrong type ({expected_text} expected)")
    path = _path(parts)
    message = f"Paramètres invalides : {path} : {reason[0]} / Invalid params: {path}: {reason[1]}"
    return message, {"path": path, "reason": str(error.validator)}


# ---------------------------------------------------------------- the registry


class RpcRegistry:
    """Methods by name; `register` is what `register_rpc_methods` hands to plugins."""

    def __init__(self) -> None:
        self._methods: dict[str, _Method] = {}

    def register(
        self,
        name: str,
        handler: RpcHandler,
        *,
        params: Mapping[str, Any] | None = None,
        scope: str = "lgc",
        description: str = "",
        namespace: str | None = None,
    ) -> None:
        if not _valid_name(name, namespace):
            raise RegistrationError(f"RPC method name must be <noun>.<verb> (or <plugin>.<noun>.<verb> from that "
                                    f"plugin) in lowercase: {name!r}")
        if name in self._methods:
            raise RegistrationError(f"RPC method {name} registered twice")
        if not callable(handler):
            raise RegistrationError(f"RPC method {name}: handler is not callable")
        if not isinstance(scope, str) or not SCOPE_NAME.match(scope):
            raise RegistrationError(f"RPC method {name}: invalid scope {scope!r}")
        schema = dict(params) if params is not None else dict(_ANY_OBJECT)
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise RegistrationError(f"RPC method {name}: invalid params schema: {exc.message}") from None
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        self._methods[name] = _Method(name, handler, scope, description, schema, validator,
                                      empty_ok=validator.is_valid({}))

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def names(self) -> list[str]:
        return sorted(self._methods)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"name": m.name, "scope": m.scope, "description": m.description, "params": m.schema}
            for m in sorted(self._methods.values(), key=lambda m: m.name)
        ]

    def validate(self, name: str, params: Any) -> None:
        """Raise `RpcError(INVALID_PARAMS)` unless `params` fits the schema of method `name`."""
        method = self._methods[name]
        if not isinstance(params, dict):
            raise RpcError(
                INVALID_PARAMS,
                "Paramètres invalides : params doit être un objet nommé / Invalid params: "
                "params must be an object (by-name)",
                {"path": "params", "reason": "type"},
            )
        if not params and method.empty_ok:
            return
        try:
            if method.validator.is_valid(params):  # stops at the first error; errors are sorted only when shown
                return
            error = next(iter(sorted(method.validator.iter_errors(params), key=_error_rank)), None)
        except RecursionError:  # absurdly deep params: refuse rather than crash
            raise RpcError(INVALID_PARAMS, "Paramètres invalides / Invalid params") from None
        if error is not None:
            message, data = _describe_error(error)
            raise RpcError(INVALID_PARAMS, message, data)

    async def handle(self, message: Any, ctx: RpcContext) -> dict[str, Any] | list[Any] | None:
        """One request, notification or batch (already parsed) -> the response to send, if any."""
        if isinstance(message, list):
            if not message:
                return error_response(None, INVALID_REQUEST, "Requête invalide : lot vide / empty batch")
            responses = [await self._handle_one(item, ctx) for item in message]
            return [r for r in responses if r is not None] or None
        return await self._handle_one(message, ctx)

    async def handle_text(self, text: str, ctx: RpcContext) -> str | None:
        try:
            message = loads(text)
        except RpcError as exc:
            return dumps(error_response(None, exc.code, exc.message))
        response = await self.handle(message, ctx)
        return None if response is None else dumps(response)

    async def _handle_one(self, message: Any, ctx: RpcContext) -> dict[str, Any] | None:
        try:
            call = parse_call(message)
        except InvalidRequest as exc:
            return error_response(exc.request_id, exc.code, exc.message)
        try:
            result, text = await self._run(call, ctx)
        except RpcError as exc:
            response = error_response(call.id, exc.code, exc.message, exc.data)
        except UserFacingError as exc:
            response = _user_error(call, exc)
        except Exception:
            # Name the method only: params and the exception text may carry patient data.
            log.exception("RPC method %s failed", call.method[:64])
            response = error_response(call.id, INTERNAL_ERROR, "Erreur interne")
        else:
            response = Response(result_response(call.id, result))
            response.text = f'{{"jsonrpc":"2.0","id":{dumps(call.id)},"result":{text}}}'
        return None if call.notification else response

    async def _run(self, call: Call, ctx: RpcContext) -> tuple[Any, str]:
        method = self._methods.get(call.method)
        if method is None:
            raise RpcError(METHOD_NOT_FOUND, f"Méthode inconnue : {call.method[:64]}")
        if method.scope not in ctx.scopes:
            raise RpcError(FORBIDDEN, f"Accès refusé : droit « {method.scope} » requis")
        self.validate(call.method, call.params)
        result = method.handler(call.params, ctx)
        if inspect.isawaitable(result):
            result = await result
        try:
            text = dumps(result)
            text.encode("utf-8")  # a lone surrogate fails here, not later in a socket's writer
        except (TypeError, ValueError, RecursionError):
            log.error("RPC method %s returned a result that is not JSON-serialisable", method.name)
            raise RpcError(INTERNAL_ERROR, "Erreur interne") from None
        return result, text


def _error_rank(error: ValidationError) -> tuple[int, int]:
    # Shallowest first, "required" before type details: the most useful single line for the LGC.
    return (len(error.absolute_path), 0 if error.validator == "required" else 1)


def _user_error(call: Call, exc: UserFacingError) -> dict[str, Any]:
    code = exc.code if is_allowed_code(exc.code) else APPLICATION_ERROR
    data: Any = exc.data
    if data is not None:
        try:
            dumps(data)
        except (TypeError, ValueError, RecursionError):
            log.error("RPC method %s raised UserFacingError with unserialisable data", call.method[:64])
            data = None
    message = exc.message if isinstance(exc.message, str) else "Erreur"
    return error_response(call.id, code, message, data)


def documented_methods(path: Path | str) -> set[str]:
    """Method names from the `### <noun.verb>` headings of docs/local-api.md."""
    return set(_DOC_HEADING.findall(Path(path).read_text(encoding="utf-8")))


if TYPE_CHECKING:  # `RpcRegistry.register` is the `register` plugins receive: keep them in step.
    _register_is_rpc_register: RpcRegister = RpcRegistry().register


__all__ = [
    "APPLICATION_ERROR", "CONFLICT", "FORBIDDEN", "INTERNAL_ERROR", "INVALID_PARAMS", "INVALID_REQUEST",
    "INVALID_TOKEN", "METHOD_NOT_FOUND", "NOT_FOUND", "PARSE_ERROR", "PLUGIN_NOT_READY", "RATE_LIMITED",
    "SESSION_NOT_OPEN",
    "Call", "InvalidRequest", "RpcContext", "RpcError", "RpcRegistry", "answer_without_running",
    "documented_methods", "dumps", "error_response", "is_allowed_code", "loads", "parse_call",
    "readable_id", "result_response",
]
