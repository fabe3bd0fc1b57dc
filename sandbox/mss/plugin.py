"""The MSSanté stand-in as a sandbox plugin: the embedded operator, PSC and Annuaire Santé (server.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.hookspecs import hookimpl

if TYPE_CHECKING:
    from sandbox.supervisor import SandboxService


class MssSandboxPlugin:
    @hookimpl
    def register_sandbox_services(self, register: Any) -> None:
        async def start() -> SandboxService:
            from sandbox.mss.server import start_mss_sandbox

            sandbox = await start_mss_sandbox()
            return sandbox.as_service()

        register("mss", start)
