"""The scanner plugin's local-API methods: schemas and thin adapters to `ScanService` (docs/local-api.md)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.errors import UserFacingError
from agent.hookspecs import RpcHandler
from agent.rpc import FORBIDDEN, INVALID_PARAMS

if TYPE_CHECKING:
    from agent.rpc import RpcContext
    from plugins.scanner.service import ScanService

MAX_TEXT = 4096
SCHEMAS: dict[str, dict[str, Any]] = {
    "scan.submit": {
        "type": "object", "additionalProperties": False,
        "properties": {"data": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
                       "data_base64": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT * 2},
                       "source": {"enum": ["lgc", "popup"]}},
        "oneOf": [{"required": ["data"]}, {"required": ["data_base64"]}],
    },
    "scan.image": {
        "type": "object", "additionalProperties": False,
        "properties": {"data_base64": {"type": "string", "minLength": 4, "maxLength": 1_000_000},
                       "path": {"type": "string", "minLength": 1, "maxLength": 4096}},
        "oneOf": [{"required": ["data_base64"]}, {"required": ["path"]}],
    },
}


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UserFacingError("Paramètres invalides : data_base64 n'est pas du base64.", code=INVALID_PARAMS) from exc


def rpc_methods(service: Callable[[], ScanService]) -> list[tuple[str, RpcHandler, dict[str, Any]]]:
    """(name, handler, register options); `service()` raises `PluginNotReady` before startup."""

    async def submit(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        data = params["data"].encode("utf-8") if "data" in params else _b64(params["data_base64"])
        return await service().submit(data, params.get("source", "lgc"))

    async def image(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        if "path" in params:
            if "admin" not in ctx.scopes:  # a web page must not make the agent open local files
                raise UserFacingError("Accès refusé : seul un client administrateur peut désigner un fichier.",
                                      code=FORBIDDEN)
            return await service().scan_file(params["path"])
        return await service().scan_bytes(_b64(params["data_base64"]))

    return [
        ("scan.submit", submit, {"params": SCHEMAS["scan.submit"],
                                 "description": "A code typed by a keyboard-wedge scanner into the LGC or the popup."}),
        ("scan.image", image, {"params": SCHEMAS["scan.image"],
                               "description": "Decode the 2D codes of a PNG/JPEG/PDF and route each like a scan."}),
    ]
