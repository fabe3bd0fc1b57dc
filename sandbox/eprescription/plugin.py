"""The e-prescription téléservice stand-in as a sandbox plugin.

In the supervisor it starts the stand-in (HTTPS, 300 ms, like the real service); in the sandbox's agent it
adds `sandbox.eprescription_mode`, which sets how the stand-in answers (OK, KO, no answer) through the
stand-in's own admin endpoint: the demo page picks the outcome there, and the product's
`prescription.create` and téléservice client stay exactly as in a practice.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

from agent.errors import UserFacingError
from agent.hookspecs import hookimpl

if TYPE_CHECKING:
    from agent.context import PluginContext
    from agent.rpc import RpcContext
    from sandbox.supervisor import SandboxService

SETTINGS = "sandbox-eprescription"  # `[plugins.sandbox-eprescription]`: admin_url, ca_file
ADMIN_TIMEOUT = 5.0
MODE_SCHEMA = {"type": "object", "required": ["mode"], "additionalProperties": False,
               "properties": {"mode": {"enum": ["ok", "ko", "timeout"]},
                              "latency": {"type": "number", "minimum": 0, "maximum": 60}}}


class EprescriptionSandboxPlugin:
    def __init__(self) -> None:
        self._settings: dict[str, Any] = {}
        self._ssl: ssl.SSLContext | None = None

    @hookimpl
    def register_sandbox_services(self, register: Any) -> None:
        async def start() -> SandboxService:
            from sandbox.eprescription.server import start_eprescription_sandbox

            # HTTPS like the real service; 300 ms: a realistic answer time, visible in the demo.
            sandbox = await start_eprescription_sandbox(latency=0.3, tls=True)
            return sandbox.as_service()

        register("eprescription", start)

    @hookimpl
    def startup(self, context: PluginContext) -> None:
        self._settings = dict(context.settings)

    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        register("sandbox.eprescription_mode", self.set_mode, params=MODE_SCHEMA,
                 description="Sandbox only: how the e-prescription stand-in answers from now on.")

    async def set_mode(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        import aiohttp

        url = self._settings.get("admin_url")
        if not url:
            raise UserFacingError("Téléservice e-prescription simulé absent : lancez « vigie run --sandbox ».")
        if self._ssl is None and self._settings.get("ca_file"):
            # Reads the stand-in's throwaway certificate: disk I/O, off the event loop.
            self._ssl = await asyncio.to_thread(ssl.create_default_context, cafile=self._settings["ca_file"])
        try:
            async with asyncio.timeout(ADMIN_TIMEOUT), aiohttp.ClientSession() as session, session.post(
                    f"{url}/mode", json=params, ssl=self._ssl if self._ssl is not None else True) as resp:
                body: dict[str, Any] = await resp.json(content_type=None)
                if resp.status != 200:
                    raise UserFacingError(f"Téléservice simulé : {body.get('error', f'HTTP {resp.status}')}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UserFacingError("Téléservice e-prescription simulé injoignable : relancez « vigie run --sandbox ».",
                                  ) from exc
        return {"mode": body.get("mode"), "latency": body.get("latency")}
