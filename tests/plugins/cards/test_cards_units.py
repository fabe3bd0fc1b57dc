"""Cards plugin pieces without a card: settings, the SESAM-Vitale backend when absent, PIN prompt without UI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import Config
from agent.errors import ConfigError
from hardware.errors import NotAvailable
from hardware.vitale.sesam import UNAVAILABLE_FR, SesamVitaleReader, sesam_candidates
from plugins.cards.plugin import CardsPlugin
from plugins.cards.service import CardService
from plugins.cards.settings import parse_settings


def card_service(agent: Agent, settings: Any) -> CardService:
    context = agent.context_for("cards")
    return CardService(settings, emitter=context.emitter, decisions=context.decisions, acting=context.acting,
                       status=context.status)


def test_cards_settings_defaults_follow_the_mode() -> None:
    assert parse_settings({}).vitale_reader == "sesam"
    assert parse_settings({"vitale_reader": "apdu"}).vitale_reader == "apdu"  # what the sandbox's stand-in sets
    s = parse_settings({"auth_key_id": "0220", "atr": {"3B 11 22": "maison"}, "pin_timeout": 30})
    assert (s.auth_key_id, s.atr, s.pin_timeout) == (b"\x02\x20", {"3B 11 22": "maison"}, 30.0)


@pytest.mark.parametrize("raw", [{"vitale_reader": "magie"}, {"auth_key_id": "zz"}, {"atr": {"3BXY": "v"}},
                                 {"pin_timeout": -1}, {"pin_timeout": True}, {"inconnu": 1}, {"pkcs11_module": ""}])
def test_cards_settings_refuse_bad_values(raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw)
    assert info.value.key.startswith("plugins.cards.")


def test_cards_classify_card_hook_uses_the_atr_table() -> None:
    plugin = CardsPlugin()
    assert plugin.classify_card("3B751300004409EA9000") == "vitale"
    assert plugin.classify_card("3B0F0102030405") is None


def test_sesam_backend_says_not_available_and_invents_nothing(tmp_path: Path) -> None:
    reader = SesamVitaleReader(str(tmp_path / "libssvlux64.so"))
    assert reader.available() == (False, UNAVAILABLE_FR)
    with pytest.raises(NotAvailable) as info:
        reader.read("Virtual PCD 00 00")
    assert "non disponible" in info.value.message_fr
    assert sesam_candidates("win32") and sesam_candidates("darwin") and sesam_candidates("linux")


def test_sesam_backend_with_an_unusable_library(tmp_path: Path) -> None:
    fake = tmp_path / "libssvlux64.so"
    fake.write_bytes(b"not a shared object")
    with pytest.raises(NotAvailable, match="inutilisable"):
        SesamVitaleReader(str(fake)).read("Virtual PCD 00 00")


async def test_cards_pin_prompt_without_any_ui_gives_up_at_once(agent_config: Config) -> None:
    agent = Agent(agent_config, load_plugins=False)
    service = card_service(agent, parse_settings({"pin_timeout": 60}))
    assert await service.ask_pin("Virtual PCD 00 00", "CPS de TEST", None) is None


async def test_agent_info_shows_nobody_acting_without_card_or_configuration(agent_config: Config) -> None:
    agent = Agent(agent_config, load_plugins=False)
    await agent.start()
    try:
        info = await agent.info()
        assert info["acting_user"]["source"] == "none"
        with pytest.raises(ValueError):
            await agent.acting.set_card_user(agent.acting.default)
    finally:
        await agent.stop()


async def test_cards_reader_back_while_its_removal_waits_is_reported_in_order(agent_config: Config) -> None:
    # pcscd restarted while a card is handled: "removed" waits behind that card, and "added" (the reader
    # back) must follow it, or plugins would see the reader added, then gone for good.
    from hardware.pcsc import monitor as mon
    from tests.plugins.cards.conftest import Recorder

    agent = Agent(agent_config, load_plugins=False)
    recorder = Recorder()
    agent.plugins.register(recorder, "recorder")
    await agent.start()
    try:
        service = card_service(agent, parse_settings({"vitale_reader": "apdu"}))
        reader = "Virtual PCD 00 00"
        for event in (mon.MonitorEvent(mon.READER_ADDED, reader=reader),
                      mon.MonitorEvent(mon.CARD_INSERTED, reader=reader, atr="3B0F0102030405"),
                      mon.MonitorEvent(mon.CARD_REMOVED, reader=reader),
                      mon.MonitorEvent(mon.READER_REMOVED, reader=reader),
                      mon.MonitorEvent(mon.READER_ADDED, reader=reader)):
            await service._dispatch(event)
        await asyncio.gather(*service._chains.values())
        assert [name for name, _ in recorder.calls] == [
            "reader_added", "card_inserted", "card_removed", "reader_removed", "reader_added"]
        assert service.readers == [reader]
    finally:
        service.workers.close()
        await agent.stop()


async def test_cards_answered_pin_request_shows_the_pin_in_no_trace() -> None:
    from agent.logging import redact
    from agent.prompts import PinRequest

    request = PinRequest(reader="Virtual PCD 00 01", card_label="CPS de TEST")
    request.submit("58204719")
    assert await request.wait(1) == "58204719"
    # What hook tracing logs of `pin_requested(request=...)`, and a plain repr, once the PIN is in.
    for text in (str(redact({"request": request})), repr(request)):
        assert "CPS de TEST" in text and "58204719" not in text
