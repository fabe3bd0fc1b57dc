"""The INS plugin's local-API methods: thin adapters from JSON-RPC params to `InsService` (schemas in
plugins/ins/schemas.py). Each name, schema and scope is documented in docs/local-api.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.hookspecs import RpcHandler
from plugins.ins.schemas import SCHEMAS

if TYPE_CHECKING:
    from agent.rpc import RpcContext
    from plugins.ins.service import InsService

Params = dict[str, Any]


def rpc_methods(service: Callable[[], InsService]) -> list[tuple[str, RpcHandler, dict[str, Any]]]:
    """(name, handler, register options); `service()` raises `PluginNotReady` before startup."""

    async def submit(params: Params, ctx: RpcContext) -> Params:
        return await service().submit(params["traits"], local_id=params.get("local_id"), source="lgc")

    async def get(params: Params, ctx: RpcContext) -> Params:
        return await service().get(params["identity_id"])

    async def view(params: Params, ctx: RpcContext) -> Params:
        return await service().view(params["identity_id"])

    async def qualify(params: Params, ctx: RpcContext) -> Params:
        return await service().qualify(params["identity_id"], params["method"], params.get("document_type"))

    async def batch(params: Params, ctx: RpcContext) -> Params:
        return await service().batch(params["patients"])

    async def relaunch(params: Params, ctx: RpcContext) -> Params:
        return await service().relaunch(params["identity_id"])

    async def datamatrix(params: Params, ctx: RpcContext) -> Params:
        return await service().datamatrix(params["identity_id"])

    async def audit(params: Params, ctx: RpcContext) -> Params:
        return {"entries": await service().audit(params["identity_id"])}

    async def batch_csv(params: Params, ctx: RpcContext) -> Params:
        return await service().batch_csv(params["csv"], params.get("name"))

    async def batch_file(params: Params, ctx: RpcContext) -> Params:
        return await service().batch_from_file()

    async def batch_status(params: Params, ctx: RpcContext) -> Params:
        return await service().batch_status(params.get("batch_id"))

    async def journal(params: Params, ctx: RpcContext) -> Params:
        from plugins.ins.journal import to_csv

        items = await service().journal(params["day"], only_qualifications=params.get("only_qualifications", True))
        return {"day": params["day"], "entries": items, "csv": to_csv(items),
                "filename": f"journal-qualifications-{params['day']}.csv"}

    return [
        ("identity.submit", submit, {"params": SCHEMAS["identity.submit"],
                                     "description": "Record opened in the LGC: INSi is called in the background."}),
        ("identity.get", get, {"params": SCHEMAS["identity.get"]}),
        ("identity.view", view, {"params": SCHEMAS["identity.view"],
                                 "description": "Everything a UI needs to render the qualification panel."}),
        ("identity.qualify", qualify, {"params": SCHEMAS["identity.qualify"]}),
        ("identity.batch", batch, {"params": SCHEMAS["identity.batch"]}),
        ("identity.relaunch", relaunch, {
            "params": SCHEMAS["identity.get"],
            "description": "Relancer la recherche INSi (panel button) after a final answer."}),
        ("ins.datamatrix", datamatrix, {
            "params": SCHEMAS["identity.get"],
            "description": "INS Datamatrix (PNG, SVG) of a qualified identity, for the LGC's documents."}),
        ("identity.audit", audit, {"params": SCHEMAS["identity.audit"], "scope": "admin",
                                   "description": "Audit trail of one identity (identitovigilance cell)."}),
        ("identity.batch_csv", batch_csv, {
            "params": SCHEMAS["identity.batch_csv"],
            "description": "Start-of-day batch from the CSV text the LGC exported (batch page)."}),
        ("identity.batch_file", batch_file, {
            "params": SCHEMAS["identity.batch_file"],
            "description": "Start-of-day batch from the configured day file ([plugins.ins] batch_file)."}),
        ("identity.batch_status", batch_status, {
            "params": SCHEMAS["identity.batch_status"],
            "description": "Counts, remaining time and the lines to look at, of one batch (the latest)."}),
        ("identity.journal", journal, {
            "params": SCHEMAS["identity.journal"], "scope": "admin",
            "description": "Journal des qualifications of one day (audit trail), with its CSV export."}),
    ]
