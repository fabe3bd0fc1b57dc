"""The scanner emulator as a sandbox plugin: a serial pty and a HID POS socket the agent reads as scanners.

In the supervisor it starts the emulator (`register_sandbox_services`: its `[plugins.scanner]` settings
point the product scanner plugin at the pty and the HID socket); in the sandbox's agent it adds the tray's
"Scanner un Datamatrix INS de test" and `vigie sandbox scan ...`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.errors import UserFacingError
from agent.hookspecs import hookimpl

if TYPE_CHECKING:
    from agent.context import PluginContext
    from sandbox.supervisor import SandboxService


class ScannerSandboxPlugin:
    def __init__(self) -> None:
        self._context: PluginContext | None = None

    @hookimpl
    def register_sandbox_services(self, register: Any) -> None:
        async def start() -> SandboxService:
            from sandbox.scanner.emulator import start_scanner_emulator

            emulator = await start_scanner_emulator()
            service: SandboxService = emulator.as_service()
            return service

        register("scanner", start)

    @hookimpl
    def register_cli_commands(self, register: Any) -> None:
        from sandbox.scanner import cli

        register("sandbox scan", "simuler une douchette : vigie sandbox scan ins ADRTROIS",
                 cli.configure_sandbox_scan, cli.run_sandbox_scan)

    @hookimpl
    def startup(self, context: PluginContext) -> None:
        self._context = context

    @hookimpl
    def register_tray_items(self, register: Any) -> None:
        register("Scanner un Datamatrix INS de test", self._tray_test_scan, section="sandbox")

    async def _tray_test_scan(self) -> None:
        from sandbox.scanner.emulator import EmulatorError, send_to_emulator

        url = self._context.services.get("scanner") if self._context is not None else None
        if not url:
            raise UserFacingError("Émulateur de douchette absent : lancez « vigie run --sandbox ».")
        try:
            await send_to_emulator(url, identity="ADRTROIS", via="serial")
        except EmulatorError as exc:  # said to the user in French, not "the action failed, see the log"
            raise UserFacingError(f"Émulateur de douchette : {exc}") from exc
        except (OSError, TimeoutError) as exc:
            raise UserFacingError("Émulateur de douchette injoignable : relancez « vigie run --sandbox ».") from exc
