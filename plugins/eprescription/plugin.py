"""E-prescription plugin hooks: thin wiring over `EprescriptionService` (plugins/eprescription/service.py)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.errors import PluginNotReady
from agent.hookspecs import hookimpl
from agent.logging import declare_personal_fields
from plugins.eprescription import repository
from plugins.eprescription.rpc import rpc_methods
from plugins.eprescription.scan import KIND, ScanParser
from plugins.eprescription.service import EprescriptionService
from plugins.eprescription.settings import DEFAULT_PATTERN, parse_settings

if TYPE_CHECKING:
    from agent.context import PluginContext

# The ordonnance is health data: masked wherever a trace would show it (hook and RPC debug logs).
declare_personal_fields({"prescription", "patient", "items", "comments", "signature_png", "pdf", "patient_ins"})

class EprescriptionPlugin:
    """Registered as `eprescription`; one instance per agent."""

    def __init__(self) -> None:
        self.service: EprescriptionService | None = None
        self.scan_parser = ScanParser(DEFAULT_PATTERN)
        self._warmup: asyncio.Future[Any] | None = None

    def _service(self) -> EprescriptionService:
        if self.service is None:
            raise PluginNotReady("module e-prescription non démarré")
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
    def parse_scan(self, data: bytes) -> Mapping[str, Any] | None:
        return self.scan_parser.parse(data)

    @hookimpl
    async def scan_received(self, kind: str, content: Mapping[str, Any], source: str) -> None:
        if kind == KIND and self.service is not None:
            await self.service.scanned(str(content.get("identifier", "")), source)

    @hookimpl
    def register_status_providers(self, register: Any) -> None:
        register("eprescription", lambda: {"services": {"eprescription": self.service.status() if self.service else
                                                        {"state": "non démarré"}}})

    @hookimpl
    def register_setup_steps(self, register: Any) -> None:
        from plugins.eprescription.setup import (
            EPRESCRIPTION_STEP,  # imported here: the certificate code is not needed to run
        )

        register(EPRESCRIPTION_STEP)

    @hookimpl
    def register_cli_commands(self, register: Any) -> None:
        from plugins.eprescription.cli import configure, run

        register("prescription render", "produire une ordonnance PDF depuis un fichier JSON (-o sortie.pdf)",
                 configure, run)

    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        settings = parse_settings(dict(context.settings))
        self.scan_parser = ScanParser(settings.identifier_pattern)
        # reportlab and zxing-cpp take a few hundred ms to import: warm them up in the background rather
        # than delay the agent's start (the first ordonnance imports them itself if still needed).
        self._warmup = asyncio.ensure_future(asyncio.to_thread(importlib.import_module, "plugins.eprescription.render"))
        from plugins.eprescription.printing import system_printer
        from plugins.eprescription.teleservice import open_teleservice

        teleservice = await open_teleservice(settings)
        service = EprescriptionService(
            store=context.store, emitter=context.emitter, documents=context, settings=settings,
            teleservice=teleservice, printer=system_printer(context.data_dir / "print-spool", settings.print_timeout),
            spool=context.spool.spool if context.spool is not None else None)
        await service.start()
        self.service = service
        if context.spool is not None:  # ordonnances made while the practice database was away
            from plugins.eprescription import offline

            context.spool.register(offline.SPOOL_KIND, offline.merge)

    @hookimpl
    async def shutdown(self) -> None:
        if self._warmup is not None and self._warmup.done() and not self._warmup.cancelled():
            self._warmup.exception()  # retrieved: a failed warm-up is retried by the first render
        if self.service is not None:
            await self.service.close()
            self.service = None
