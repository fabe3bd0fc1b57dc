"""Scanner plugin hooks: thin wiring over `ScanService` (plugins/scanner/service.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.errors import ConfigError, PluginNotReady
from agent.hookspecs import hookimpl
from agent.logging import declare_personal_fields
from plugins.scanner import datamatrix
from plugins.scanner.rpc import rpc_methods
from plugins.scanner.settings import parse_settings

if TYPE_CHECKING:
    from agent.context import PluginContext
    from plugins.scanner.service import ScanService

# A scan's raw bytes and parsed content are a patient's identity: masked in hook traces and structured logs.
declare_personal_fields({"data", "data_base64", "content"})


class ScannerPlugin:
    """Registered as `scanner`; one instance per agent."""

    def __init__(self) -> None:
        self.service: ScanService | None = None

    def _service(self) -> ScanService:
        if self.service is None:
            raise PluginNotReady("module scanner non démarré")
        return self.service

    # -- decisions ------------------------------------------------------------------------------
    @hookimpl
    def parse_scan(self, data: bytes) -> Mapping[str, Any] | None:
        parsed = datamatrix.parse(data)
        if parsed is None:
            return None
        if parsed.value is None:
            return {"kind": datamatrix.KIND, "errors": [e.as_dict() for e in parsed.errors]}
        return {"kind": datamatrix.KIND, "content": parsed.value.content()}

    # -- local API --------------------------------------------------------------------------------
    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        for name, handler, options in rpc_methods(self._service):
            register(name, handler, **options)

    @hookimpl
    def register_status_providers(self, register: Any) -> None:
        register("scanner", lambda: {"services": {"scanner": self.service.status() if self.service else
                                                  {"state": "non démarré"}}})

    # -- CLI ------------------------------------------------------------------------------------------
    @hookimpl
    def register_cli_commands(self, register: Any) -> None:
        from plugins.scanner import cli

        register("scan", "décoder le Datamatrix INS d'une image ou d'un PDF (vigie scan FICHIER)",
                 cli.configure_scan, cli.run_scan)

    # -- lifecycle ------------------------------------------------------------------------------------
    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        from plugins.scanner.service import ScanService

        try:
            settings = parse_settings(dict(context.settings))
        except ConfigError as exc:
            raise PluginNotReady(f"configuration du scanner invalide ({exc.key} : {exc.message_fr})") from exc
        service = ScanService(decisions=context.decisions, emitter=context.emitter, settings=settings)
        await service.start()
        self.service = service

    @hookimpl
    async def shutdown(self) -> None:
        if self.service is not None:
            await self.service.close()
            self.service = None
