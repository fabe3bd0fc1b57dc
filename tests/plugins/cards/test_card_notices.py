"""Every card event is said to the person at the desk (issue 19 item 9): a CPS (whose card, what it allows),
an unknown card, a wrong PIN. Virtual cards in pcscd's vpcd slots, SoftHSM2 behind the CPS; the notice
reaches the `user_notice` hook (popup, tray) and the LGC as the `agent.notice` event."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.cards import notices
from sandbox.cards.personalities import GARBAGE_ATR, InertCard
from tests.cardkit import Slots
from tests.plugins.cards.conftest import AgentFactory
from tests.plugins.ins.conftest import Lgc, wait_until


@pytest.mark.parametrize(("kind", "name", "text"), [
    ("cps", "Dr Martin", "Carte CPS de Dr Martin insérée : vous pouvez interroger l'INSi et qualifier les identités "
                         "(document d'identité ou attestation)."),
    ("cpe_nominative", "Julie Durand", "Carte CPE de Julie Durand insérée : vous pouvez qualifier avec un document "
                                       "d'identité ; l'attestation reste au praticien."),
    ("cpe_anonymous", None, "Carte CPE anonyme insérée : elle permet de consulter, pas de qualifier une identité."),
])
def test_notices_professional_card_says_whose_and_what_it_allows(kind: str, name: str | None, text: str) -> None:
    assert notices.professional_card(kind, name) == text


def test_notices_name_the_reader_without_pcsc_numbers() -> None:
    assert notices.unknown_card("Virtual PCD 00 01").startswith("Carte non reconnue dans le lecteur « Virtual PCD » :")
    assert notices.read_failed("Gemalto USB 00 00", "Code PIN incorrect.") == \
        "Lecteur « Gemalto USB » : Code PIN incorrect."


async def test_card_notices_unknown_card(card_agent: AgentFactory, lgc_for: Any, slots: Slots) -> None:
    agent, _ = await card_agent()
    lgc: Lgc = await lgc_for(agent)
    card = slots.insert(InertCard(GARBAGE_ATR), slot=1)
    event = await lgc.event("agent.notice")
    assert event["topic"] == "card.unknown" and event["level"] == "warning"
    assert event["text"].startswith("Carte non reconnue dans le lecteur")
    ui = agent.plugins.pm.get_plugin("ui")
    await wait_until(lambda: ui.last_notice == event["text"], what="user_notice reached the UI plugin")
    card.remove()


async def test_card_notices_cps_says_whose_card_and_what_it_allows(card_agent: AgentFactory, lgc_for: Any,
                                                                   slots: Slots) -> None:
    from sandbox.cards.personalities import CPS_ATR

    agent, _ = await card_agent(auth="cps")
    lgc: Lgc = await lgc_for(agent)
    card = slots.insert(InertCard(CPS_ATR), slot=1)
    await wait_until(lambda: agent.acting.current.from_card, what="acting user from the card")
    event = await lgc.event("agent.notice", lambda p: p["topic"] == "card.cps")
    name = agent.acting.current.name
    assert name and event["text"] == notices.professional_card("cps", name) and event["level"] == "ok"
    card.remove()


async def test_card_notices_wrong_pin(card_agent: AgentFactory, lgc_for: Any, slots: Slots) -> None:
    from sandbox.cards.personalities import CPS_ATR

    agent, recorder = await card_agent(auth="cps")
    recorder.pin = "0000"  # not the token's PIN
    lgc: Lgc = await lgc_for(agent)
    card = slots.insert(InertCard(CPS_ATR), slot=1)
    # The PIN is asked when INSi's assertion is signed (the INS plugin starts with the card).
    event = await lgc.event("agent.notice", lambda p: p["topic"] == "card.pin_failed", timeout=20)
    assert event["level"] == "warning" and event["text"].startswith("Carte CPS du lecteur « Virtual PCD » : ")
    assert "Code porteur incorrect." in event["text"] and "0000" not in event["text"]
    card.remove()
