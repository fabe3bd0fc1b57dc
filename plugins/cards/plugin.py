"""Cards plugin hooks: thin wiring over `CardService` (plugins/cards/service.py)."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any

from agent.errors import PluginNotReady
from agent.hookspecs import hookimpl
from hardware.atr import ATR_TABLE, classify, compile_table
from plugins.cards.settings import CardSettings, parse_settings

if TYPE_CHECKING:
    from agent.context import PluginContext
    from plugins.cards.service import CardService


class CardsPlugin:
    """Registered as `cards`; one instance per agent."""

    def __init__(self) -> None:
        self.service: CardService | None = None
        self.settings = CardSettings()
        self._table = compile_table(ATR_TABLE)

    @hookimpl
    def classify_card(self, atr: str) -> str | None:
        return classify(atr, self._table)

    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        self.settings = parse_settings(dict(context.settings))
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
        service, self.service = self.service, None
        if service is not None:
            await service.stop()

    @hookimpl
    def register_status_providers(self, register: Any) -> None:
        register("cards", lambda: self.service.status() if self.service else
                 {"services": {"pcsc": {"state": "non démarré"}}})
