"""The card stand-in as a sandbox plugin: a private pcscd with vpcd slots, and the bench of virtual cards.

In the supervisor it starts the PC/SC stand-in (`register_sandbox_services`); in the sandbox's agent it
holds the bench (a virtual card stays in only while its socket is open, so in the agent's process) and
drives it from `sandbox.card_insert` / `sandbox.card_remove`, the tray's sandbox entries and `vigie
sandbox card ...`. The product cards plugin reads the stand-in's readers like any others.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from agent.errors import UserFacingError
from agent.hookspecs import hookimpl
from agent.rpc import INVALID_PARAMS

if TYPE_CHECKING:
    from agent.context import PluginContext
    from agent.rpc import RpcContext
    from sandbox.cards.bench import CardBench
    from sandbox.supervisor import SandboxService

SETTINGS = "sandbox-cards"  # `[plugins.sandbox-cards]`: vpcd_port (the first virtual slot's port)
DEFAULT_VPCD_PORT = 0x8C7B  # vsmartcard's default

INSERT_SCHEMA = {
    "type": "object", "required": ["kind"], "additionalProperties": False,
    "properties": {"kind": {"enum": ["vitale", "cps", "unknown", "vanishing"]},
                   "name": {"type": ["string", "null"], "maxLength": 32},
                   "slot": {"type": ["integer", "null"], "minimum": 0, "maximum": 1}},
}
REMOVE_SCHEMA = {"type": "object", "additionalProperties": False,
                 "properties": {"slot": {"type": ["integer", "null"], "minimum": 0, "maximum": 1}}}


def vpcd_port(raw: dict[str, Any]) -> int:
    port = raw.get("vpcd_port", DEFAULT_VPCD_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65535:
        from agent.errors import ConfigError

        raise ConfigError(f"plugins.{SETTINGS}.vpcd_port", "un port est attendu", "a port is expected")
    return port


class CardsSandboxPlugin:
    def __init__(self) -> None:
        self.bench: CardBench | None = None
        self._context: PluginContext | None = None

    @hookimpl
    def register_sandbox_services(self, register: Any) -> None:
        async def start() -> SandboxService:
            from sandbox.cards.service import start_card_sandbox

            return await start_card_sandbox()

        register("pcsc", start)

    @hookimpl
    def startup(self, context: PluginContext) -> None:
        self._context = context

    @hookimpl
    async def shutdown(self) -> None:
        # Registered before the product plugins, so stopped after them: the cards service logs the CPS
        # out first, then the virtual cards are pulled (they would go with the process anyway).
        if self.bench is not None:
            await asyncio.to_thread(self.bench.remove)

    def _bench(self) -> CardBench:
        if self._context is None or not self._context.sandbox:
            raise UserFacingError("Cartes de test disponibles seulement avec « vigie run --sandbox ».")
        if self.bench is None:
            from sandbox.cards.bench import CardBench

            self.bench = CardBench(vpcd_port(dict(self._context.settings)))
        return self.bench

    async def insert(self, params: dict[str, Any], ctx: RpcContext | None = None) -> dict[str, Any]:
        from sandbox.cards.bench import BenchError

        bench = self._bench()
        try:
            slot = await asyncio.to_thread(bench.insert, params["kind"], params.get("name"), params.get("slot"))
        except BenchError as exc:
            raise UserFacingError(str(exc), code=INVALID_PARAMS) from None
        return {"slot": slot}

    async def remove(self, params: dict[str, Any], ctx: RpcContext | None = None) -> dict[str, Any]:
        bench = self._bench()
        return {"removed": await asyncio.to_thread(bench.remove, params.get("slot"))}

    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        register("sandbox.card_insert", self.insert, params=INSERT_SCHEMA, scope="admin",
                 description="Sandbox only: plug a virtual card into a vpcd slot.")
        register("sandbox.card_remove", self.remove, params=REMOVE_SCHEMA, scope="admin",
                 description="Sandbox only: pull the virtual card(s) out.")

    @hookimpl
    def register_tray_items(self, register: Any) -> None:
        async def vitale() -> None:
            await self.insert({"kind": "vitale", "name": "ADRTROIS"})

        async def cps() -> None:
            await self.insert({"kind": "cps"})

        async def remove() -> None:
            await self.remove({})

        register("Insérer une carte Vitale de test", vitale, section="sandbox")
        register("Insérer une carte CPS de test", cps, section="sandbox")
        register("Retirer la carte de test", remove, section="sandbox")

    @hookimpl
    def register_cli_commands(self, register: Any) -> None:
        from sandbox.cards.cli import configure, run

        register("sandbox card", "cartes de test : insert vitale ADRTROIS | insert cps | remove", configure, run)
