"""Build the DMP service from the agent: the only place that knows the Agent's shape.

When the host passes a narrow `PluginContext` (agent/context.py, redesign in progress) this is the one
function to adapt: the service itself takes `Ports`.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from plugins.dmp.service import DmpService, Ports
from plugins.dmp.settings import PKCS12_SECRET, parse_settings

if TYPE_CHECKING:
    from agent.app import Agent
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


async def build_service(agent: Agent) -> DmpService:
    settings = parse_settings(agent.config.plugin_settings("dmp"))
    if settings.sandbox_passphrase and agent.config.sandbox:
        agent.secrets.set(PKCS12_SECRET, settings.sandbox_passphrase)

    def type_code(document: ValidatedDocument) -> str | None:
        result: str | None = agent.plugins.hook.document_type_code(document=document)
        return result

    ports = Ports(store=agent.store, outbox=agent.outbox, emit=agent.events.publish,
                  current_signer=lambda: agent.card_signer, acting_user=lambda: agent.acting_user,
                  qualified_ins=_qualified_ins, traits=_traits)
    service = DmpService(settings, ports, passphrase=agent.secrets.get(PKCS12_SECRET), type_code=type_code)
    await service.start()
    return service
