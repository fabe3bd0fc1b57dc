"""Scanner plugin hooks: thin wiring over `ScanService` (plugins/scanner/service.py)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.errors import ConfigError, PluginNotReady, UserFacingError
from agent.hookspecs import hookimpl
from agent.logging import declare_personal_fields
from agent.rpc import FORBIDDEN, INVALID_PARAMS
from plugins.scanner import datamatrix
from plugins.scanner.settings import parse_settings

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.rpc import RpcContext
    from plugins.scanner.service import ScanService

# A scan's raw bytes and parsed content are a patient's identity: masked in hook traces and structured logs.
declare_personal_fields({"data", "data_base64", "content"})

MAX_TEXT = 4096
SCHEMAS: dict[str, dict[str, Any]] = {
    "scan.submit": {
        "type": "object", "additionalProperties": False,
        "properties": {"data": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
                       "data_base64": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT * 2},
                       "source": {"enum": ["lgc", "popup"]}},
        "oneOf": [{"required": ["data"]}, {"required": ["data_base64"]}],
    },
    "scan.image": {
        "type": "object", "additionalProperties": False,
        "properties": {"data_base64": {"type": "string", "minLength": 4, "maxLength": 1_000_000},
                       "path": {"type": "string", "minLength": 1, "maxLength": 4096}},
        "oneOf": [{"required": ["data_base64"]}, {"required": ["path"]}],
    },
}


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UserFacingError("Paramètres invalides : data_base64 n'est pas du base64.", code=INVALID_PARAMS) from exc


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
        register("scan.submit", self.submit, params=SCHEMAS["scan.submit"],
                 description="A code typed by a keyboard-wedge scanner into the LGC or the popup.")
        register("scan.image", self.image, params=SCHEMAS["scan.image"],
                 description="Decode the 2D codes of a PNG/JPEG/PDF and route each like a scan.")

    async def submit(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        data = params["data"].encode("utf-8") if "data" in params else _b64(params["data_base64"])
        return await self._service().submit(data, params.get("source", "lgc"))

    async def image(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        if "path" in params:
            if "admin" not in ctx.scopes:  # a web page must not make the agent open local files
                raise UserFacingError("Accès refusé : seul un client administrateur peut désigner un fichier.",
                                      code=FORBIDDEN)
            return await self._service().scan_file(params["path"])
        return await self._service().scan_bytes(_b64(params["data_base64"]))

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
    async def startup(self, agent: Agent) -> None:
        from plugins.scanner.service import ScanService

        try:
            settings = parse_settings(agent.config.plugin_settings("scanner"))
        except ConfigError as exc:
            raise PluginNotReady(f"configuration du scanner invalide ({exc.key} : {exc.message_fr})") from exc
        service = ScanService(agent=agent, settings=settings)
        await service.start()
        self.service = service

    @hookimpl
    async def shutdown(self, agent: Agent) -> None:
        if self.service is not None:
            await self.service.close()
            self.service = None
