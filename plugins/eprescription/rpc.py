"""The e-prescription plugin's local-API methods: schemas and thin adapters to `EprescriptionService`
(docs/local-api.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.hookspecs import RpcHandler

if TYPE_CHECKING:
    from agent.rpc import RpcContext
    from plugins.eprescription.service import EprescriptionService

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
SCHEMAS: dict[str, dict[str, Any]] = {
    "prescription.create": {
        "type": "object", "required": ["prescription"], "additionalProperties": False,
        "properties": {
            # Checked field by field by plugins/eprescription/validation.py, with French messages.
            "prescription": {"type": "object"},
            "print": {"type": "boolean"},
            "printer": {"type": ["string", "null"], "maxLength": 128},
        },
    },
    "prescription.print": {"type": "object", "required": ["prescription_id"], "additionalProperties": False,
                           "properties": {"prescription_id": _ID,
                                          "printer": {"type": ["string", "null"], "maxLength": 128}}},
    "prescription.export": {"type": "object", "required": ["prescription_id"], "additionalProperties": False,
                            "properties": {"prescription_id": _ID, "save": {"type": "boolean"}}},
    "prescription.get": {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
                         "properties": {"prescription_id": _ID, "identifier": {"type": "string", "minLength": 1,
                                                                               "maxLength": 512}}},
}


def rpc_methods(service: Callable[[], EprescriptionService]) -> list[tuple[str, RpcHandler, dict[str, Any]]]:
    """(name, handler, register options); `service()` raises `PluginNotReady` before startup."""

    async def create(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await service().create(params["prescription"], print_now=bool(params.get("print")),
                                      printer=params.get("printer"))

    async def print_(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await service().print(params["prescription_id"], params.get("printer"))

    async def export(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await service().export(params["prescription_id"], save=bool(params.get("save")))

    async def get(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await service().get(prescription_id=params.get("prescription_id"), identifier=params.get("identifier"))

    return [
        ("prescription.create", create, {
            "params": SCHEMAS["prescription.create"],
            "description": "Validate, register with the téléservice, render (QR only on OK), keep, share."}),
        ("prescription.print", print_, {"params": SCHEMAS["prescription.print"]}),
        ("prescription.export", export, {"params": SCHEMAS["prescription.export"]}),
        ("prescription.get", get, {"params": SCHEMAS["prescription.get"]}),
    ]
