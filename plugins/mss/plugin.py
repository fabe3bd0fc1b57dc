"""MSSanté plugin hooks: thin wiring over `MssService` (plugins/mss/service.py)."""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
from typing import TYPE_CHECKING, Any

from agent.errors import PluginNotReady, UserFacingError
from agent.hookspecs import hookimpl
from agent.logging import declare_personal_fields
from agent.panels import notify_user
from plugins.common.hooks import StoredPluginHooks
from plugins.mss import repository
from plugins.mss.jobs import JOB_DELIVER, JOB_DOCUMENT
from plugins.mss.settings import parse_settings

if TYPE_CHECKING:
    from agent.context import PluginContext
    from agent.documents import ValidatedDocument
    from agent.outbox import Job
    from agent.rpc import RpcContext
    from plugins.mss.service import MssService

declare_personal_fields({"recipients", "address", "sender", "mailbox", "name"})
INBOX_TRAY_LABEL = "Messages MSSanté reçus"
INBOX_KIND = "mss.inbox"  # not a popup panel: its panel_changed only redraws the tray

_ID = {"type": "string", "minLength": 1, "maxLength": 200}
_RECIPIENT = {"type": "object", "required": ["address"], "additionalProperties": False,
              "properties": {"address": {"type": "string", "maxLength": 320},
                             "name": {"type": "string", "maxLength": 200},
                             "role": {"enum": ["treating", "prescriber", "professional"]}}}
SCHEMAS: dict[str, dict[str, Any]] = {
    "mss.send": {"type": "object", "required": ["document_id"], "additionalProperties": False,
                 "properties": {"document_id": _ID,
                                "recipients": {"type": "array", "items": _RECIPIENT, "maxItems": 20},
                                "to_patient": {"type": "boolean"}, "to_treating": {"type": "boolean"},
                                "block_replies": {"type": "boolean"}}},
    "mss.messages": {"type": "object", "additionalProperties": False,
                     "properties": {"identity_id": _ID, "document_id": _ID,
                                    "limit": {"type": "integer", "minimum": 1, "maximum": 500}}},
    "mss.get": {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
                "properties": {"message_id": _ID, "inbox_id": {"type": "integer", "minimum": 1}}},
    "mss.end_conversation": {"type": "object", "required": ["identity_id"], "additionalProperties": False,
                             "properties": {"identity_id": _ID}},
    "mss.directory.search": {"type": "object", "additionalProperties": False, "minProperties": 1,
                             "properties": {"name": {"type": "string", "minLength": 2, "maxLength": 100},
                                            "rpps": {"type": "string", "pattern": "^[0-9]{11}$"},
                                            "address": {"type": "string", "minLength": 3, "maxLength": 320}}},
    "mss.mark_seen": {"type": "object", "required": ["inbox_id"], "additionalProperties": False,
                      "properties": {"inbox_id": {"type": "integer", "minimum": 1}}},
    "mss.opposition": {"type": "object", "required": ["identity_id", "opposed"], "additionalProperties": False,
                       "properties": {"identity_id": _ID, "opposed": {"type": "boolean"}}},
}


def _qualified_ins(conn: sqlite3.Connection, identity_id: str) -> dict[str, str] | None | bool:
    from plugins.ins.repository import qualified_ins

    try:
        return qualified_ins(conn, identity_id)
    except sqlite3.OperationalError:  # INS plugin disabled: its table does not exist
        return False


async def inbox_changed(emitter: Any, inbox_id: int, arrived: bool) -> None:
    """The tray entry's count moved: `panel_changed` for a kind no panel has redraws the tray; an arrival
    is also said (no sender, no patient: a notice may be read by anyone at the desk)."""
    await emitter.emit("panel_changed", kind=INBOX_KIND, key=str(inbox_id))
    if arrived:
        await notify_user(emitter, f"Nouveau message MSSanté reçu : menu Vigie, « {INBOX_TRAY_LABEL} ».",
                          topic="mss.received")


class MssPlugin(StoredPluginHooks):
    """Registered as `mss`; one instance per agent."""

    REPOSITORY = repository  # register_migrations, _setup_steps, _doctor_checks: plugins/common/hooks.py
    SETUP_STEP = "plugins.mss.setup:MSS_STEP"
    DOCTOR = "plugins.mss.doctor:MSS_DOCTOR"

    def __init__(self) -> None:
        self.service: MssService | None = None
        self.unconfigured: str | None = None
        self._context: PluginContext | None = None

    def _service(self) -> MssService:
        if self.service is None:
            if self.unconfigured:
                raise UserFacingError(f"Messagerie sécurisée non configurée : {self.unconfigured}.")
            raise PluginNotReady("messagerie sécurisée non démarrée")
        return self.service

    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        for name, handler, what in (
                ("mss.send", self.send, "Mail a validated document (again) to chosen recipients, in the background."),
                ("mss.messages", self.messages, "Sent messages (per identity or document) and the inbox."),
                ("mss.get", self.get, "One sent or received message, with its recipients' states."),
                ("mss.end_conversation", self.end_conversation, "Send the exact [FIN] subject to the patient."),
                ("mss.directory.search", self.search, "Annuaire Santé: MSSanté addresses by name, RPPS or address."),
                ("mss.opposition", self.opposition, "Record (or lift) the patient's opposition to MSSanté mail."),
                ("mss.mark_seen", self.mark_seen, "Mark a received message as seen (the tray's unread count).")):
            register(name, handler, params=SCHEMAS[name], description=what)

    async def send(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        options = {k: v for k, v in params.items() if k != "document_id"}
        return await self._service().resend(params["document_id"], options)

    async def messages(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await self._service().messages(params.get("identity_id"), params.get("document_id"),
                                              int(params.get("limit", 100)))

    async def get(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await self._service().get(params.get("message_id"), params.get("inbox_id"))

    async def end_conversation(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await self._service().end_conversation(params["identity_id"])

    async def search(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        found = await self._service().directory.search(name=params.get("name"), rpps=params.get("rpps"),
                                                       address=params.get("address"))
        return {"results": [{"name": e.name, "rpps": e.rpps, "mailbox": e.mailbox, "type": e.mailbox_type}
                            for e in found]}

    async def mark_seen(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await self._service().mark_seen(int(params["inbox_id"]))

    async def opposition(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        await self._service().record_opposition(params["identity_id"], bool(params["opposed"]), ctx.client)
        return {"identity_id": params["identity_id"], "opposed": bool(params["opposed"])}

    @hookimpl
    def register_outbox_handlers(self, register: Any) -> None:
        # Building the CDA, the XDM and the MIME message is CPU-bound Python (the GIL): one at a time keeps
        # the event loop responsive; the network part (mss.deliver) runs two at once.
        register(JOB_DOCUMENT, self._document_job, concurrency=1, max_attempts=20, base_delay=2.0, max_delay=600.0)
        register(JOB_DELIVER, self._deliver_job, concurrency=2, max_attempts=30, base_delay=2.0, max_delay=600.0)

    async def _document_job(self, job: Job) -> None:
        await self._service().run_document_job(job)

    async def _deliver_job(self, job: Job) -> None:
        await self._service().run_deliver_job(job)

    @hookimpl
    async def document_validated(self, document: ValidatedDocument) -> None:
        if self.service is None and self.unconfigured:
            return  # nothing to mail with (see startup)
        service = self._service()
        if service.wants(document):
            await service.enqueue_document(document)

    @hookimpl
    def register_tray_items(self, register: Any) -> None:
        register(INBOX_TRAY_LABEL, self._open_inbox, detail=lambda: self.service.unseen_detail() if self.service
                 else None)

    async def _open_inbox(self) -> None:
        if self._context is None or self._context.open_page is None:
            raise UserFacingError(f"{INBOX_TRAY_LABEL} : l'agent ne sert pas ses pages ici.")
        self._service()  # not configured / not started: say so rather than open an empty page
        await self._context.open_page("messages.html")

    @hookimpl
    def register_status_providers(self, register: Any) -> None:
        register("mss", lambda: {"services": {"mss": self.service.status() if self.service else
                                              {"state": "non configuré" if self.unconfigured else "non démarré",
                                               "reason": self.unconfigured}}})

    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        self._context = context
        settings = parse_settings(dict(context.settings))
        if settings.missing:
            # Not configured: the plugin runs idle (documents are not mailed) rather than degraded, since a
            # degraded consumer would hold every validated document back, the DMP feed included.
            self.unconfigured = settings.missing
            return
        # The mail stack, lxml and cryptography: imported once configured, off the event loop.
        module = await asyncio.to_thread(importlib.import_module, "plugins.mss.service")
        Ports, MssService, AuthFailed = module.Ports, module.MssService, module.AuthFailed
        ports = Ports(store=context.store, outbox=context.outbox, events=context.emitter, secret=context.secrets.get,
                      qualified_ins=_qualified_ins, inbox_changed=lambda inbox_id, arrived: context.spawn(
                          inbox_changed(context.emitter, inbox_id, arrived)))
        service = MssService(ports, settings)
        try:
            await service.start()
        except AuthFailed as exc:
            raise PluginNotReady(exc.message) from None
        except UserFacingError as exc:
            raise PluginNotReady(exc.message) from None
        self.service = service

    @hookimpl
    async def shutdown(self, context: PluginContext) -> None:
        if self.service is not None:
            await self.service.close()
            self.service = None
