"""Administration methods of the local API (scope `admin`: config tokens only, never paired LGCs).

Used by the tray, the `vigie` CLI and tests: pending pairing requests and their decision, paired
clients and their revocation.
"""

from __future__ import annotations

from typing import Any

from agent.client_registry import ClientRegistry
from agent.errors import UserFacingError
from agent.pairing import PairingBroker
from agent.rpc import NOT_FOUND, RpcContext, RpcRegistry
from agent.server import ApiServer

MAX_ID = 2**63 - 1


def register_admin_methods(
    rpc: RpcRegistry, *, clients: ClientRegistry, pairing: PairingBroker, server: ApiServer
) -> None:
    """Methods for the tray, `vigie` CLI and tests: scope `admin` (config tokens only)."""

    async def pairing_list(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return {"requests": [
            {"request_id": r.id, "client_name": r.client_name, "origin": r.origin,
             "created_at": r.created_at, "prompt": r.prompt}
            for r in pairing.pending()
        ]}

    async def pairing_decide(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        if not pairing.decide(params["request_id"], params["accept"]):
            raise UserFacingError("Demande d'appairage introuvable ou déjà traitée", code=NOT_FOUND)
        return {"request_id": params["request_id"], "accepted": params["accept"]}

    async def clients_list(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return {"clients": await clients.list()}

    async def clients_revoke(params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        client_id = params["client_id"]
        if not await clients.revoke(client_id):
            raise UserFacingError("Client introuvable ou déjà révoqué", code=NOT_FOUND)
        disconnected = await server.disconnect_client(client_id)
        return {"client_id": client_id, "revoked": True, "disconnected": disconnected}

    empty = {"type": "object", "additionalProperties": False}

    def by_id(key: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        # Bounded like the SQLite INTEGER it is compared with: 2**64 would overflow there (-32603).
        props: dict[str, Any] = {key: {"type": "integer", "minimum": 1, "maximum": MAX_ID}, **(extra or {})}
        return {"type": "object", "required": sorted(props), "properties": props, "additionalProperties": False}

    rpc.register("pairing.list", pairing_list, params=empty, scope="admin",
                 description="Pending pairing requests.")
    rpc.register("pairing.decide", pairing_decide, params=by_id("request_id", {"accept": {"type": "boolean"}}),
                 scope="admin", description="Accept or refuse a pending pairing request.")
    rpc.register("clients.list", clients_list, params=empty, scope="admin",
                 description="Paired clients (never their tokens).")
    rpc.register("clients.revoke", clients_revoke, params=by_id("client_id"), scope="admin",
                 description="Revoke a paired client's token and close its sockets.")
