"""The DMP stand-in as a sandbox plugin: `vigie run --sandbox` starts it; the product DMP plugin reads its
endpoint and settings from the profile and the structure certificate's passphrase from the keyring."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.hookspecs import hookimpl

if TYPE_CHECKING:
    from sandbox.supervisor import SandboxService


class DmpSandboxPlugin:
    @hookimpl
    def register_sandbox_services(self, register: Any) -> None:
        async def start() -> SandboxService:
            from sandbox.dmp.server import start_dmp_sandbox

            return (await start_dmp_sandbox()).as_service()

        register("dmp", start)
