"""Cards plugin hooks: thin wiring over `CardService` (plugins/cards/service.py) and the sandbox bench."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any

from agent.errors import PluginNotReady, UserFacingError
from agent.hookspecs import hookimpl
from agent.rpc import INVALID_PARAMS
from hardware.atr import ATR_TABLE, classify, compile_table
from plugins.cards.settings import CardSettings, parse_settings

if TYPE_CHECKING:
    from agent.context import PluginContext
    from agent.rpc import RpcContext
    from plugins.cards.service import CardService
    from sandbox.cards.bench import CardBench
    from sandbox.supervisor import SandboxService

INSERT_SCHEMA = {
    "type": "object", "required": ["kind"], "additionalProperties": False,
    "properties": {"kind": {"enum": ["vitale", "cps", "unknown", "vanishing"]},
                   "name": {"type": ["string", "null"], "maxLength": 32},
                   "slot": {"type": ["integer", "null"], "minimum": 0, "maximum": 1}},
}
REMOVE_SCHEMA = {"type": "object", "additionalProperties": False,
                 "properties": {"slot": {"type": ["integer", "null"], "minimum": 0, "maximum": 1}}}


class CardsPlugin:
    """Registered as `cards`; one instance per agent."""

    def __init__(self) -> None:
        self.service: CardService | None = None
        self.settings = CardSettings()
        self.bench: CardBench | None = None
        self._table = compile_table(ATR_TABLE)
        self._context: PluginContext | None = None

    @hookimpl
    def classify_card(self, atr: str) -> str | None:
        return classify(atr, self._table)

    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        self._context = context
        self.settings = parse_settings(dict(context.settings), sandbox=context.sandbox)
        self._table = compile_table({**self.settings.atr, **ATR_TABLE})  # configured patterns first
        try:
            await asyncio.to_thread(__import__, "smartcard.scard")
        except ImportError:
            raise PluginNotReady("pyscard non installé : lecture des cartes indisponible", retry_after=3600) from None
        # Imported off the event loop, which is already answering the local API.
        module = await asyncio.to_thread(importlib.import_module, "plugins.cards.service")
        service: CardService = module.CardService(self.settings, emitter=context.emitter, decisions=context.decisions,
                                                  acting=context.acting, status=context.status)
        await service.start()
        self.service = service

    @hookimpl
    async def shutdown(self) -> None:
        # The service first: the host gives each plugin 0.5 s, and logging the CPS out matters more than
        # unplugging the sandbox's virtual cards (which go with the process anyway).
        service, self.service = self.service, None
        try:
            if service is not None:
                await service.stop()
        finally:
            if self.bench is not None:
                await asyncio.to_thread(self.bench.remove)

    @hookimpl
    def register_status_providers(self, register: Any) -> None:
        register("cards", lambda: self.service.status() if self.service else
                 {"services": {"pcsc": {"state": "non démarré"}}})

    # -- sandbox: virtual cards ----------------------------------------------------------------
    def _bench(self) -> CardBench:
        if self._context is None or not self._context.sandbox:
            raise UserFacingError("Cartes de test disponibles seulement avec « vigie run --sandbox ».")
        if self.bench is None:
            from sandbox.cards.bench import CardBench

            self.bench = CardBench(self.settings.vpcd_port)
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
        from plugins.cards.cli import configure, run

        register("sandbox card", "cartes de test : insert vitale ADRTROIS | insert cps | remove", configure, run)

    @hookimpl
    def register_sandbox_services(self, register: Any) -> None:
        async def start() -> SandboxService:
            from sandbox.cards.service import start_card_sandbox

            return await start_card_sandbox()

        register("pcsc", start)

