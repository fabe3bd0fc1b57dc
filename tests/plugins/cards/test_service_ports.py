"""The card coordinator built from ports, without an agent: monitor events in, hooks then events out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.hookspecs import hookimpl
from hardware.atr import ATR_TABLE, classify, compile_table
from hardware.pcsc import monitor as mon
from plugins.cards import notices
from plugins.cards.service import CardService
from plugins.cards.settings import parse_settings
from tests.plugins.cards.conftest import TEST_PIN, Recorder
from tests.plugins.ports import ports

READER = "Virtual PCD 00 00"


class Classifier:
    def __init__(self) -> None:
        self.table = compile_table(ATR_TABLE)

    @hookimpl
    def classify_card(self, atr: str) -> str | None:
        return classify(atr, self.table)


async def test_cards_service_from_ports_reports_readers_cards_and_the_pcsc_service(tmp_path: Path) -> None:
    async with ports(tmp_path) as p:
        recorder = Recorder()
        p.add_plugin(recorder, "recorder")
        p.add_plugin(Classifier(), "classifier")
        p.add_plugin(object(), "cards")
        service = CardService(parse_settings({"vitale_reader": "apdu"}), emitter=p.emitter, decisions=p.decisions,
                              acting=p.acting, status=p.status("cards"))
        try:
            for event in (mon.MonitorEvent(mon.READER_ADDED, reader=READER),
                          mon.MonitorEvent(mon.CARD_INSERTED, reader=READER, atr="3B0F0102030405"),
                          mon.MonitorEvent(mon.CARD_REMOVED, reader=READER)):
                await service._dispatch(event)
            await asyncio.gather(*service._chains.values())
            assert recorder.calls == [("reader_added", {"reader": READER}),
                                      ("card_inserted", {"reader": READER, "atr": "3B0F0102030405", "kind": "unknown"}),
                                      ("card_removed", {"reader": READER, "kind": "unknown"})]
            # The LGC hears of the card, not of its ATR; reader_added has no LGC event.
            # An unknown card is also said to the person at the desk (agent.notice, docs/local-api.md).
            notice = {"text": notices.unknown_card(READER), "level": "warning", "topic": "card.unknown"}
            assert p.published == [("card.inserted", {"reader": READER, "kind": "unknown"}),
                                   ("agent.notice", notice),
                                   ("card.removed", {"reader": READER, "kind": "unknown"})]
            assert service.status()["readers"] == [{"name": READER, "card": None}]
            await service._dispatch(mon.MonitorEvent(mon.SERVICE, available=False, reason="pcscd arrêté"))
            assert p.host.states["cards"].status == "degraded"
            assert p.published[-1] == ("card.service_changed", {"available": False, "reason": "pcscd arrêté"})
            await service._dispatch(mon.MonitorEvent(mon.SERVICE, available=True))
            assert p.host.states["cards"].status == "ok"
            # The recorder plays the user interface: the prompt reaches it, then the LGC hears of it.
            assert await service.ask_pin(READER, "CPS de TEST", None) == TEST_PIN
            assert recorder.pin_prompts and p.published[-1][0] == "pin.requested"
            assert TEST_PIN not in str(p.published[-1])
        finally:
            service.workers.close()
