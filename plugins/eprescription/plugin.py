"""E-prescription plugin hooks: thin wiring over `EprescriptionService` (plugins/eprescription/service.py)."""

from __future__ import annotations

import asyncio
import importlib
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import PluginNotReady
from agent.hookspecs import hookimpl
from agent.logging import declare_personal_fields
from plugins.eprescription import repository
from plugins.eprescription.scan import KIND, ScanParser
from plugins.eprescription.service import EprescriptionService
from plugins.eprescription.settings import DEFAULT_PATTERN, parse_settings

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.rpc import RpcContext

# The ordonnance is health data: masked wherever a trace would show it (hook and RPC debug logs).
declare_personal_fields({"prescription", "patient", "items", "comments", "signature_png", "pdf", "patient_ins"})

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


class EprescriptionPlugin:
    """Registered as `eprescription`; one instance per agent."""

    def __init__(self) -> None:
        self.service: EprescriptionService | None = None
        self.agent: Agent | None = None
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
        register("prescription.create", self.create, params=SCHEMAS["prescription.create"],
                 description="Validate, register with the téléservice, render (QR only on OK), keep, share.")
        register("prescription.print", self.print, params=SCHEMAS["prescription.print"])
        register("prescription.export", self.export, params=SCHEMAS["prescription.export"])
        register("prescription.get", self.get, params=SCHEMAS["prescription.get"])

    async def create(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await self._service().create(params["prescription"], print_now=bool(params.get("print")),
                                            printer=params.get("printer"))

    async def print(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await self._service().print(params["prescription_id"], params.get("printer"))

    async def export(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await self._service().export(params["prescription_id"], save=bool(params.get("save")))

    async def get(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await self._service().get(prescription_id=params.get("prescription_id"),
                                         identifier=params.get("identifier"))

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
    def register_cli_commands(self, register: Any) -> None:
        from plugins.eprescription.cli import configure, run

        register("prescription render", "produire une ordonnance PDF depuis un fichier JSON (-o sortie.pdf)",
                 configure, run)

    @hookimpl
    async def startup(self, agent: Agent) -> None:
        settings = parse_settings(agent.config.plugin_settings("eprescription"))
        self.scan_parser = ScanParser(settings.identifier_pattern)
        # reportlab and zxing-cpp take a few hundred ms to import: warm them up in the background rather
        # than delay the agent's start (the first ordonnance imports them itself if still needed).
        self._warmup = asyncio.ensure_future(asyncio.to_thread(importlib.import_module, "plugins.eprescription.render"))
        from plugins.eprescription.printing import system_printer
        from plugins.eprescription.teleservice import DisabledTeleservice, HttpTeleservice, Teleservice

        teleservice: Teleservice
        if settings.disabled_reason or not settings.url:
            teleservice = DisabledTeleservice(settings.disabled_reason or "Téléservice non configuré")
        else:
            # The TLS context reads the system CA store and the extra CA files: disk I/O, off the event loop.
            try:
                teleservice = await asyncio.to_thread(HttpTeleservice, settings.url, timeout=settings.timeout,
                                                      ca_files=settings.ca_files)
            except (OSError, ssl.SSLError) as exc:
                raise PluginNotReady("certificat d'autorité du téléservice e-prescription illisible "
                                     f"([plugins.eprescription] ca_files : {exc.strerror or type(exc).__name__})"
                                     ) from exc
        spool = Path(agent.config.store.path).parent / "print-spool"
        service = EprescriptionService(
            agent=agent, settings=settings, teleservice=teleservice,
            printer=system_printer(spool, settings.print_timeout))
        await service.start()
        self.agent, self.service = agent, service

    @hookimpl
    async def shutdown(self, agent: Agent) -> None:
        if self._warmup is not None and self._warmup.done() and not self._warmup.cancelled():
            self._warmup.exception()  # retrieved: a failed warm-up is retried by the first render
        if self.service is not None:
            await self.service.close()
            self.service = None
