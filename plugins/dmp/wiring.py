"""Build the DMP service from the host's `PluginContext` (agent/context.py): the ports it needs, nothing more."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from plugins.dmp import view
from plugins.dmp.service import EVENT, DmpService, Ports
from plugins.dmp.settings import PKCS12_SECRET, parse_settings

if TYPE_CHECKING:
    from agent.context import PluginContext
    from agent.documents import ValidatedDocument


def _qualified_ins(conn: sqlite3.Connection, identity_id: str) -> dict[str, str] | None | bool:
    """The INS plugin's read API; False when the identity (or the INS plugin's table) is unknown."""
    from plugins.ins.repository import qualified_ins

    try:
        return qualified_ins(conn, identity_id)
    except sqlite3.OperationalError:  # INS plugin disabled: its table does not exist
        return False


def _traits(conn: sqlite3.Connection, identity_id: str) -> dict[str, object] | None:
    """The identity's traits as the INS plugin keeps them (birth_name, first_names, sex, birth_date...)."""
    from plugins.ins.repository import get

    try:
        row = get(conn, identity_id)
    except sqlite3.OperationalError:
        return None
    return {**row.traits, "identity_id": identity_id} if row is not None else None


async def build_service(context: PluginContext) -> DmpService:
    settings = parse_settings(dict(context.settings))

    def type_code(document: ValidatedDocument) -> str | None:
        result: str | None = context.decisions.decide("document_type_code", document=document)
        return result

    acting = context.acting
    emitter = context.emitter

    def emit(name: str, params: dict[str, object]) -> None:
        emitter.publish(name, params)
        if name == EVENT:  # the popup's documents panel shows this document: the host asks its view again
            context.spawn(emitter.emit("panel_changed", kind=view.KIND, key=str(params["document_id"])))

    ports = Ports(store=context.store, outbox=context.outbox, emit=emit,
                  current_signer=lambda: acting.card_signer, acting_user=lambda: acting.current,
                  qualified_ins=_qualified_ins, traits=_traits, spawn=context.spawn)
    service = DmpService(settings, ports, passphrase=context.secrets.get(PKCS12_SECRET), type_code=type_code)
    await service.start()
    return service
