"""DMP plugin hooks: thin wiring over `DmpService` (plugins/dmp/service.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.documents import ValidatedDocument
from agent.errors import PluginNotReady, RetryJobLater
from agent.hookspecs import hookimpl
from agent.logging import declare_personal_fields
from plugins.common.clinical.typecode import auto_type_code
from plugins.common.hooks import StoredPluginHooks
from plugins.dmp import repository
from plugins.dmp.api import SCHEMAS, DmpApi
from plugins.dmp.service import JOB, UPDATE_JOB, DmpService
from plugins.dmp.view import KIND, offer

if TYPE_CHECKING:
    from agent.context import PluginContext
    from agent.outbox import Job

declare_personal_fields({"content", "patient_ins", "patient"})  # "patient": the panel view's name
SEND_MAX_ATTEMPTS = 12
PANEL_METHODS = ("dmp.cancel", "dmp.mask", "dmp.send", "mss.messages")  # what the popup panel may call
JOB_CONCURRENCY = 16  # the service's own gate applies [plugins.dmp] concurrency


class DmpPlugin(StoredPluginHooks):
    """Registered as `dmp`; one instance per agent."""

    REPOSITORY = repository  # register_migrations, _setup_steps, _doctor_checks: plugins/common/hooks.py
    SETUP_STEP = "plugins.dmp.setup:DMP_STEP"
    DOCTOR = "plugins.dmp.doctor:DMP_DOCTOR"

    def __init__(self) -> None:
        self.service: DmpService | None = None
        self.api = DmpApi(self._service)

    def _service(self) -> DmpService:
        if self.service is None:
            raise PluginNotReady("module DMP non démarré")
        return self.service

    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        for name, handler in self.api.methods().items():
            register(name, handler, params=SCHEMAS[name], description=handler.__doc__ or "")

    @hookimpl
    def register_outbox_handlers(self, register: Any) -> None:
        register(JOB, self._send, concurrency=JOB_CONCURRENCY, max_attempts=SEND_MAX_ATTEMPTS + 1, base_delay=2.0,
                 max_delay=600.0)
        register(UPDATE_JOB, self._update, concurrency=2, max_attempts=SEND_MAX_ATTEMPTS, base_delay=2.0,
                 max_delay=600.0)

    async def _send(self, job: Job) -> None:
        if self.service is None:
            raise RetryJobLater("dmp plugin not started", retry_after=5.0, count_attempt=False)
        await self.service.run_send(job, SEND_MAX_ATTEMPTS)

    async def _update(self, job: Job) -> None:
        if self.service is None:
            raise RetryJobLater("dmp plugin not started", retry_after=5.0, count_attempt=False)
        await self.service.run_update(job)

    @hookimpl
    def document_type_code(self, document: ValidatedDocument) -> str | None:
        return auto_type_code(document.source_plugin, (document.metadata.get("dmp") or {}).get("kind"))

    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        from plugins.dmp.wiring import build_service

        self.service = await build_service(context)

    @hookimpl
    async def shutdown(self) -> None:
        service, self.service = self.service, None
        if service is not None:
            await service.stop()

    @hookimpl
    async def identity_updated(self, identity_id: str, status: str, insi_outcome: str | None) -> None:
        if self.service is not None:
            await self.service.identity_changed(identity_id, status)  # a qualified identity: its documents go

    @hookimpl
    async def document_validated(self, document: ValidatedDocument) -> None:
        await self._service().accept(document)

    @hookimpl
    async def acting_user_changed(self, user: Any) -> None:
        if self.service is not None:
            self.service.card_changed()
            if user is not None and getattr(user, "kind", "") == "cps":
                await self.service.card_available()

    @hookimpl
    def register_ui_panels(self, register: Any) -> None:
        register(KIND, view=self._panel_view, renderer="plugins.dmp.popup_panel:DocumentPanel",
                 title="Document à envoyer au DMP", queue_label="Documents DMP à regarder", methods=PANEL_METHODS)

    async def _panel_view(self, document_id: str) -> dict[str, Any] | None:
        return await self.service.document_view(document_id) if self.service is not None else None

    @hookimpl
    def popup_offer(self, kind: str, view: Mapping[str, Any]) -> str | None:
        return offer(view) if kind == KIND else None

    @hookimpl
    def register_tray_badges(self, register: Any) -> None:
        register("dmp_waiting", lambda: self.service.badge() if self.service else None)

    @hookimpl
    def register_status_providers(self, register: Any) -> None:
        register("dmp", lambda: {"services": {"dmp": self.service.status() if self.service else
                                              {"state": "non démarré"}}})
