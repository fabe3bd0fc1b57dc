"""INS plugin hooks: thin wiring over `InsService` (plugins/ins/service.py)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.acting import ActingUser
from agent.errors import PluginNotReady, UserFacingError
from agent.hookspecs import hookimpl
from agent.logging import declare_personal_fields
from plugins.ins import offer, repository
from plugins.ins.display import load_communes, scan_message
from plugins.ins.practice import PracticeWaiting
from plugins.ins.rpc import rpc_methods
from plugins.ins.settings import LOOKUP_ATTEMPTS, parse_settings

BATCH_TRAY_LABEL = "Lancer le lot du début de journée"
PANEL_METHODS = ("identity.view", "identity.qualify", "identity.relaunch")
JOURNAL_TRAY_LABEL = "Journal des qualifications"
CLAIM_LIMIT = 128  # jobs the outbox may hand over at once; the configured concurrencies are lower

if TYPE_CHECKING:
    from agent.context import PluginContext
    from hardware.ports import VitaleCard
    from plugins.ins.service import InsService

# The panel view model (popup_offer, hook tracing) carries traits under these keys too.
declare_personal_fields({"local_traits", "insi_traits", "returned", "expected_ins", "fields", "rows", "changes",
                         "former_ins"})


class InsPlugin:
    """Registered as `ins`; one instance per agent."""

    def __init__(self) -> None:
        self.service: InsService | None = None
        self._context: PluginContext | None = None
        self.practice: PracticeWaiting | None = None  # the practice-wide count (shared store only)

    def _service(self) -> InsService:
        if self.service is None:  # the host refuses calls before startup; this is a safety net
            raise PluginNotReady("module INS non démarré")
        return self.service

    @hookimpl
    def register_migrations(self, register: Any) -> None:
        for version, sql in repository.MIGRATIONS.items():
            register(repository.NAMESPACE, version, sql)

    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        for name, handler, options in rpc_methods(self._service):
            register(name, handler, **options)

    @hookimpl
    def register_outbox_handlers(self, register: Any) -> None:
        # Record opened, card inserted, Datamatrix scanned: the practitioner is waiting for the popup.
        # Registration comes before the configuration is read: the outbox may claim up to CLAIM_LIMIT jobs,
        # the service lets `lookup_concurrency` / `batch_concurrency` of them reach INSi (semaphores).
        register("ins.lookup", self._lookup_job, concurrency=CLAIM_LIMIT, max_attempts=LOOKUP_ATTEMPTS,
                 base_delay=20.0, max_delay=300.0)
        # Start-of-day batch: bounded concurrency and a rate limit (service.py).
        register("ins.batch_lookup", self._lookup_job, concurrency=CLAIM_LIMIT, max_attempts=LOOKUP_ATTEMPTS,
                 base_delay=30.0, max_delay=600.0)

    async def _lookup_job(self, job: Any) -> None:
        await self._service().run_lookup(job)

    @hookimpl
    async def vitale_card_read(self, reader: str, card: VitaleCard) -> None:
        if self.service is not None:
            await self.service.card_read(reader, card)

    @hookimpl
    async def scan_received(self, kind: str, content: Mapping[str, Any], source: str) -> dict[str, Any] | None:
        if kind != "ins_datamatrix" or self.service is None:
            return None
        try:
            result = await self.service.datamatrix_scanned(dict(content), source)
        except UserFacingError as exc:  # traits INSi cannot take: say so to the scanner, stay healthy
            return {"message": exc.message}
        return {**result, "message": scan_message(result["status"])}

    # -- the popup's qualification panel (agent/panels.py, docs/ui.md) --------------------------------
    @hookimpl
    def register_ui_panels(self, register: Any) -> None:
        register(offer.KIND, view=self._panel_view, renderer="plugins.ins.popup_panel:IdentityPanel",
                 title="Identité à qualifier", queue_label="Qualifications en attente", methods=PANEL_METHODS)

    async def _panel_view(self, identity_id: str) -> dict[str, Any] | None:
        try:
            return await self._service().view(identity_id)
        except (UserFacingError, PluginNotReady):  # gone, or the module stopped: nothing to show
            return None

    @hookimpl
    def popup_offer(self, kind: str, view: Mapping[str, Any]) -> str | None:
        return offer.offer(view) if kind == offer.KIND else None

    @hookimpl
    async def identity_updated(self, identity_id: str, status: str, insi_outcome: str | None) -> None:
        if self._context is not None and self._seen_here(identity_id):
            await self._context.emitter.emit("panel_changed", kind=offer.KIND, key=identity_id)
        self._recount()

    def _seen_here(self, identity_id: str) -> bool:
        """Whether this workstation's popup cares: always with one workstation; with the shared store, only
        for patients submitted here (record opened, card, scan, batch started here). Another workstation's
        lookup may run here (shared outbox) and must not raise this popup; a patient open here that another
        workstation changed (the reception scanned his Datamatrix) must."""
        if self.practice is None or not self.practice.shared or self.service is None:
            return True
        return self.service.identities.seen_here(identity_id)

    @hookimpl
    def practice_fact_received(self, workstation: str, event: str, params: Mapping[str, Any]) -> None:
        if event == "identity.updated":  # another workstation looked up or qualified a patient
            self._recount()
            identity_id = str(params.get("identity_id") or "")
            if self._context is not None and self.practice is not None and self.practice.shared \
                    and self._seen_here(identity_id):
                self._context.spawn(self._context.emitter.emit("panel_changed", kind=offer.KIND, key=identity_id))

    @hookimpl
    def register_tray_badges(self, register: Any) -> None:
        register("ins.practice", lambda: self.practice.badge() if self.practice is not None else None)

    def _recount(self) -> None:
        if self._context is not None and self.practice is not None and self.practice.shared:
            self._context.spawn(self.practice.refresh())

    @hookimpl
    def register_status_providers(self, register: Any) -> None:
        register("ins", lambda: {"services": {"insi": self.service.status() if self.service else
                                              {"state": "non démarré"}}})

    @hookimpl
    def register_tray_items(self, register: Any) -> None:
        register(BATCH_TRAY_LABEL, self._tray_batch)
        register(JOURNAL_TRAY_LABEL, self._tray_journal)

    async def _tray_batch(self) -> dict[str, Any] | None:
        """The configured day file, when there is one, runs at once; the batch page shows its progress (and,
        without a configured file, lets the secretary choose the day's CSV: no configuration to edit)."""
        service = self._service()
        result = await service.batch_from_file() if service.settings.batch_file is not None else None
        if self._context is None or self._context.open_page is None:
            return result if result is not None else await service.batch_from_file()  # says what to configure
        try:
            await self._context.open_page("batch.html")
        except UserFacingError:
            if result is None:
                raise  # no browser and nothing started: say where the page is
        return result

    async def _tray_journal(self) -> None:
        if self._context is None or self._context.open_page is None:
            raise UserFacingError("Journal des qualifications indisponible : l'agent ne sert pas ses pages ici.")
        await self._context.open_page("journal.html")

    @hookimpl
    def register_doctor_checks(self, register: Any) -> None:
        from plugins.ins.doctor import INS_DOCTOR  # imported here: only `vigie doctor` needs it

        register(INS_DOCTOR)

    @hookimpl
    def register_setup_steps(self, register: Any) -> None:
        from plugins.ins.setup import INS_STEP  # imported here: the certificate code is not needed to run

        register(INS_STEP)

    @hookimpl
    def register_cli_commands(self, register: Any) -> None:
        from plugins.ins.cli import configure_batch, run_batch

        register("ins", "INS : lot du début de journée (vigie ins batch FICHIER.csv)", configure_batch, run_batch)

    @hookimpl
    async def acting_user_changed(self, user: ActingUser) -> None:
        context = self._context
        if self.service is None:
            # CPS mode waits for the card: retry the start as soon as one is read.
            if context is not None and context.acting.card_signer is not None:
                context.retry_soon()
        elif self.service.client is not None:
            self.service.client.forget_assertion()
            if context is not None and context.acting.card_signer is not None:
                await self.service.resume_waiting_lookups()  # the lookups that waited for a card

    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        self._context = context
        settings = parse_settings(dict(context.settings))
        u = settings.user
        if u.kind != "unknown" or u.name:  # shown in agent.info while no card is in
            context.acting.set_default(ActingUser(kind="configured", name=u.name or None,
                                                  national_id=u.national_id, profession=u.profession))
        if not settings.configured:
            raise PluginNotReady("INSi non configuré : renseignez [plugins.ins] url, idam et ca_files")
        # lxml, signxml and cryptography take a few hundred ms to import: not on the event loop, which is
        # already answering the local API.
        await asyncio.to_thread(load_communes)  # the COG table the panels name birth places with
        module = await asyncio.to_thread(importlib.import_module, "plugins.ins.service")
        service: InsService = module.InsService(
            store=context.store, outbox=context.outbox, emitter=context.emitter, secrets=context.secrets,
            acting=context.acting, settings=settings, spool=context.spool.spool if context.spool else None)
        await service.start()  # raises PluginNotReady when INSi is not configured or reachable yet
        self.service = service
        if context.spool is not None and service.offline is not None:
            context.spool.register(module.SPOOL_KIND, service.offline.merge)
            context.spool.register(module.BATCH_KIND, service.offline.merge_batch)
        self.practice = PracticeWaiting(context.store)
        self._recount()

    @hookimpl
    async def shutdown(self) -> None:
        if self.service is not None:
            await self.service.close()
            self.service = None
