"""End to end: virtual cards in pcscd's vpcd slots → the cards plugin → hooks, events, INSi, acting user."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from typing import Any

import pytest
import tomli_w

from agent.config import config_to_dict
from agent.errors import UserFacingError
from agent.rpc import METHOD_NOT_FOUND
from sandbox.cards.pcscd import READERS, PrivatePcscd
from sandbox.cards.personalities import GARBAGE_ATR, InertCard, VitaleCardPersonality
from sandbox.cards.softhsm import SoftToken
from sandbox.cards.test_cards import TEST_CARDS
from sandbox.insi.server import InsiSandbox
from tests.cardkit import TEST_PIN, Slots
from tests.conftest import PYTHON, subprocess_env
from tests.plugins.cards.conftest import AgentFactory, Recorder
from tests.plugins.ins.conftest import Lgc, wait_until

R0, R1 = READERS


def event_names(lgc: Lgc) -> list[str]:
    return [e["method"] for e in lgc.events]


async def test_cards_vitale_insertion_reaches_insi_and_updates_identities(
        card_agent: AgentFactory, lgc_for: Any, slots: Slots, insi_sandbox: InsiSandbox,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # hook tracing included: the card's content must appear nowhere
    agent, recorder = await card_agent()
    await wait_until(lambda: agent.plugins.states["ins"].started, what="INS started")
    lgc: Lgc = await lgc_for(agent)
    slots.insert(VitaleCardPersonality(TEST_CARDS["ADRTROIS"]))
    assert await lgc.event("card.inserted") == {"reader": R0, "kind": "vitale"}
    assert (await lgc.event("card.read"))["beneficiaries"] == 2
    found = lambda p: p["insi_outcome"] == "found"  # noqa: E731
    await lgc.event("identity.updated", found)
    await wait_until(lambda: len({e["params"]["identity_id"] for e in lgc.events
                                  if e["method"] == "identity.updated" and found(e["params"])}) == 2,
                     what="both beneficiaries found")
    assert [r.outcome for r in insi_sandbox.stats.last_requests] == ["CR 00", "CR 00"]
    # Our own shared connections to the card are not mistaken for new insertions.
    assert [c["kind"] for c in recorder.of("card_inserted")] == ["vitale"]
    # The websocket never carries the card's content.
    card_events = [e for e in lgc.events if e["method"].startswith("card.")]
    assert "ADRTROIS" not in str(card_events) and "160012B020777" not in str(card_events)
    # Nor does the log, though every hook call (vitale_card_read with the card) is traced at DEBUG.
    assert "vitale_card_read" in caplog.text
    for secret in ("ADRTROIS", "TOUSSAINT", "DOMINIQUE", "160012B020777", "19600101", "19970226", "1997-02-26"):
        assert secret not in caplog.text, secret


async def test_cards_garbage_atr_is_an_unknown_card(card_agent: AgentFactory, lgc_for: Any, slots: Slots) -> None:
    agent, recorder = await card_agent()
    lgc: Lgc = await lgc_for(agent)
    card = slots.insert(InertCard(GARBAGE_ATR), slot=1)
    assert await lgc.event("card.inserted") == {"reader": R1, "kind": "unknown"}
    assert recorder.of("card_inserted") == [{"reader": R1, "atr": GARBAGE_ATR.hex().upper(), "kind": "unknown"}]
    card.remove()
    assert await lgc.event("card.removed") == {"reader": R1, "kind": "unknown"}
    info = await agent.info()
    assert {"name": R1, "card": None} in info["readers"]


async def test_cards_vitale_removed_mid_read_is_reported_and_the_reader_still_works(
        card_agent: AgentFactory, lgc_for: Any, slots: Slots) -> None:
    agent, recorder = await card_agent()
    lgc: Lgc = await lgc_for(agent)
    vanishing = slots.insert(VitaleCardPersonality(TEST_CARDS["ADRUN"], vanish_on_read=True))
    failed = await lgc.event("card.read_failed")
    assert failed["reader"] == R0 and "retirée" in failed["message"]
    vanishing.remove()
    await lgc.event("card.removed")
    slots.insert(VitaleCardPersonality(TEST_CARDS["ADRUN"]))
    await lgc.event("card.read")


async def test_cards_cps_sets_the_acting_user_and_signs_insi_cps_mode(
        card_agent: AgentFactory, lgc_for: Any, slots: Slots, insi_sandbox: InsiSandbox,
        caplog: pytest.LogCaptureFixture) -> None:
    from sandbox.cards.personalities import CPS_ATR

    caplog.set_level(logging.DEBUG)  # hook tracing included: the PIN must appear nowhere
    agent, recorder = await card_agent(auth="cps")
    assert "carte CPS" in (agent.plugins.states["ins"].reason or "")
    info = await agent.info()
    assert info["acting_user"]["source"] == "configured"  # the INS configuration's user, shown as such
    card = slots.insert(InertCard(CPS_ATR), slot=1)
    await wait_until(lambda: agent.acting.current.from_card, what="acting user from the card")
    user = agent.acting.current
    assert (user.kind, user.national_id, user.reader) == ("cps", insi_sandbox.pki.ps_national_id, R1)
    assert (await agent.info())["acting_user"]["source"] == "card"
    # The INS plugin was waiting for the card: it starts now, its client signs with the token (PIN asked).
    await wait_until(lambda: agent.plugins.states["ins"].started, what="INS started with the CPS")
    assert len(recorder.pin_prompts) == 1 and "CPS de" in recorder.pin_prompts[0]
    lgc: Lgc = await lgc_for(agent)
    identity = await lgc.result("identity.submit", {"traits": {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"],
                                                               "sex": "F", "birth_date": "1997-02-26"}})
    await lgc.event("identity.updated", lambda p: p["identity_id"] == identity["identity_id"]
                    and p["insi_outcome"] == "found")
    assert {r.mode for r in insi_sandbox.stats.last_requests} == {"cps"}
    card.remove()
    # The acting user changes before the hooks are told: wait for the hook the next assertion is about.
    await wait_until(lambda: len(recorder.of("acting_user_changed")) == 2, what="card user gone")
    assert agent.acting.current.kind == "configured"
    assert [c["user"].kind for c in recorder.of("acting_user_changed")] == ["cps", "configured"]
    # The card is out: its assertion is not reused and nothing is signed with it (no PIN asked, no
    # request reaches INSi); the identity says to insert the card.
    sent = len(insi_sandbox.stats.last_requests)
    second = await lgc.result("identity.submit", {"traits": {"birth_name": "ADRUN", "first_names": ["ZOE"],
                                                             "sex": "F", "birth_date": "1975-12-31"}})
    await lgc.event("identity.updated", lambda p: p["identity_id"] == second["identity_id"]
                    and p["insi_outcome"] == "card_missing")
    view = await lgc.result("identity.view", {"identity_id": second["identity_id"]})
    assert "insérez" in view["message"] and "CPS" in view["message"]
    assert not view["actions"]["qualify_document"]["allowed"]  # no INSi answer, nothing to qualify
    assert len(recorder.pin_prompts) == 1
    assert len(insi_sandbox.stats.last_requests) == sent
    # The card put back: the INS client signs with this new insertion (its PIN asked once more), and the
    # lookup that waited for it resumes by itself (not a fault, no attempt used up).
    slots.insert(InertCard(CPS_ATR), slot=1)
    await wait_until(lambda: agent.acting.current.from_card, what="acting user from the card again")
    await lgc.event("identity.updated", lambda p: p["identity_id"] == second["identity_id"]
                    and p["insi_outcome"] in ("found", "not_found"))
    third = await lgc.result("identity.submit", {"traits": {"birth_name": "HOUILLES", "sex": "M",
                                                            "first_names": ["PIERRE", "PAUL", "JACQUES"],
                                                            "birth_date": "1993-01-27"}})
    await lgc.event("identity.updated", lambda p: p["identity_id"] == third["identity_id"]
                    and p["insi_outcome"] == "not_found")
    assert len(recorder.pin_prompts) == 2
    assert [r.mode for r in insi_sandbox.stats.last_requests][sent:] == ["cps"] * (
        len(insi_sandbox.stats.last_requests) - sent) and len(insi_sandbox.stats.last_requests) > sent
    assert TEST_PIN not in caplog.text
    assert "acting_user_changed" in caplog.text  # DEBUG hook tracing was on


@pytest.mark.slow
async def test_cards_agent_starts_without_pcscd_then_recovers_and_survives_a_restart(
        card_agent: AgentFactory, lgc_for: Any, slots: Slots, pcscd: PrivatePcscd) -> None:
    pcscd.kill()
    agent, recorder = await card_agent(wait_readers=False)
    await wait_until(lambda: agent.plugins.states["cards"].status == "degraded", what="cards degraded")
    assert "PC/SC" in (agent.plugins.states["cards"].reason or "")
    assert (await agent.info())["services"]["pcsc"]["state"] == "indisponible"
    pcscd.start()
    await wait_until(lambda: agent.plugins.states["cards"].status == "ok", what="service restored")
    lgc: Lgc = await lgc_for(agent)
    # pcscd killed while the agent runs: lost, restored, and a later insertion is still reported.
    pcscd.kill()
    assert (await lgc.event("card.service_changed"))["available"] is False
    pcscd.start()
    await lgc.event("card.service_changed", lambda p: p["available"] is True)
    slots.insert(InertCard(GARBAGE_ATR))
    assert (await lgc.event("card.inserted"))["reader"] == R0
    assert [c["available"] for c in recorder.of("card_service_changed")] == [False, True, False, True]


async def test_cards_sandbox_bench_through_rpc_and_cli(card_agent: AgentFactory, lgc_for: Any, tmp_path: Any) -> None:
    agent, _ = await card_agent(sandbox_mode=True)
    lgc: Lgc = await lgc_for(agent)
    assert (await lgc.result("sandbox.card_insert", {"kind": "vitale", "name": "LUNAIRE"})) == {"slot": 0}
    assert (await lgc.event("card.read"))["beneficiaries"] == 4
    unknown = await lgc.call("sandbox.card_insert", {"kind": "vitale", "name": "PERSONNE"})
    assert "inconnue" in unknown["error"]["message"]
    # The CLI drives the same bench through the running agent.
    config = agent.config
    config.api.port = int(agent.server.url.rsplit(":", 1)[1])
    cfg = tmp_path / "cli.toml"
    cfg.write_text(tomli_w.dumps(config_to_dict(config)))
    env = subprocess_env(tmp_path / "home")
    # In a thread: the agent answering the CLI runs on this test's event loop.
    out = await asyncio.to_thread(subprocess.run, [PYTHON, "-m", "agent.cli", "sandbox", "card", "insert", "unknown",
                                                   "--config", str(cfg)], env=env, capture_output=True, text=True,
                                  timeout=30)
    assert out.returncode == 0, out.stderr
    assert "lecteur virtuel 1" in out.stdout
    assert await lgc.event("card.inserted", lambda p: p["kind"] == "unknown") == {"reader": R1, "kind": "unknown"}
    out = await asyncio.to_thread(subprocess.run, [PYTHON, "-m", "agent.cli", "sandbox", "card", "remove",
                                                   "--config", str(cfg)], env=env, capture_output=True, text=True,
                                  timeout=30)
    assert out.returncode == 0, out.stderr
    await wait_until(lambda: event_names(lgc).count("card.removed") == 2, what="both cards removed")
    assert {item.label for item in agent.tray_items if item.section == "sandbox"} >= {
        "Insérer une carte Vitale de test", "Retirer la carte de test"}


async def test_cards_bench_refused_outside_the_sandbox(card_agent: AgentFactory, lgc_for: Any) -> None:
    agent, _ = await card_agent()
    lgc: Lgc = await lgc_for(agent)
    answer = await lgc.call("sandbox.card_insert", {"kind": "cps"})
    assert answer["error"]["code"] == METHOD_NOT_FOUND  # a production agent has no bench at all
    # The bench plugin itself, were it registered in an agent not started as a sandbox, refuses too.
    from sandbox.cards.plugin import CardsSandboxPlugin

    bench = CardsSandboxPlugin()
    bench.startup(agent.context_for("sandbox-cards"))  # context.sandbox is False here
    with pytest.raises(UserFacingError) as refused:
        await bench.insert({"kind": "cps"})
    assert "--sandbox" in refused.value.message


async def test_cards_vitale_atr_without_the_application_is_unknown(card_agent: AgentFactory, lgc_for: Any,
                                                                   slots: Slots) -> None:
    from sandbox.cards.personalities import VITALE_ATR

    agent, recorder = await card_agent()
    lgc: Lgc = await lgc_for(agent)
    slots.insert(InertCard(VITALE_ATR))  # a Vitale ATR, but no VITALE application behind it
    assert await lgc.event("card.inserted") == {"reader": R0, "kind": "unknown"}
    assert "card.read" not in event_names(lgc)


async def test_cards_configured_atr_pattern_names_a_card(card_agent: AgentFactory, lgc_for: Any,
                                                         slots: Slots) -> None:
    agent, _ = await card_agent(cards={"atr": {"3B 0F 01 02 ..*": "carte_maison"}})
    lgc: Lgc = await lgc_for(agent)
    slots.insert(InertCard(GARBAGE_ATR))
    assert await lgc.event("card.inserted") == {"reader": R0, "kind": "carte_maison"}


async def test_cards_official_reader_absent_says_not_available(card_agent: AgentFactory, lgc_for: Any,
                                                              slots: Slots, insi_sandbox: InsiSandbox) -> None:
    agent, _ = await card_agent(cards={"vitale_reader": "sesam", "sesam_library": "/nonexistent/libssvlux64.so"})
    assert (await agent.info())["services"]["vitale_reader"]["state"] == "non disponible"
    lgc: Lgc = await lgc_for(agent)
    slots.insert(VitaleCardPersonality(TEST_CARDS["ADRUN"]))
    assert await lgc.event("card.inserted") == {"reader": R0, "kind": "vitale"}
    failed = await lgc.event("card.read_failed")
    assert "non disponible" in failed["message"]
    assert list(insi_sandbox.stats.last_requests) == []  # nothing invented, nothing looked up


@pytest.mark.parametrize("key", ["pcsc_socket", "softhsm2_conf"])
async def test_cards_library_setting_already_fixed_in_this_process_is_refused(
        card_agent: AgentFactory, key: str, tmp_path: Any, cps_token: SoftToken) -> None:
    # libpcsclite and SoftHSM2 read these once per process, and this one already uses the test process's
    # pcscd and token store (conftest): another value cannot take effect, so the plugin says so.
    from hardware.pkcs11.token import load_library

    load_library(cps_token.module)  # SoftHSM2 initialised in this process, as after any earlier CPS test
    before = dict(os.environ)
    agent, _ = await card_agent(wait_readers=False, cards={key: str(tmp_path / "ailleurs")})
    await wait_until(lambda: agent.plugins.states["cards"].status == "degraded", what="cards degraded")
    reason = agent.plugins.states["cards"].reason or ""
    variable = "PCSCLITE_CSOCK_NAME" if key == "pcsc_socket" else "SOFTHSM2_CONF"
    assert "redémarrez l'agent" in reason and variable in reason
    assert os.environ == before



def _lock_free(lock: Any) -> bool:
    """Whether another thread can take `lock` within 5 s (taken and released in this one thread)."""
    if not lock.acquire(timeout=5):
        return False
    lock.release()
    return True


async def _cps_waiting_for_its_pin(card_agent: AgentFactory, slots: Slots) -> tuple[Any, Recorder, Any]:
    from sandbox.cards.personalities import CPS_ATR

    agent, ui = await card_agent(auth="cps")
    ui.silent = True
    card = slots.insert(InertCard(CPS_ATR), slot=1)
    # The INS plugin starts with the card and signs its first assertion: the PIN prompt stays open.
    await wait_until(lambda: len(ui.pin_requests) == 1, what="PIN prompt shown")
    assert not ui.pin_requests[0].decided
    return agent, ui, card


async def test_cards_pin_prompt_closed_when_the_cps_is_removed(card_agent: AgentFactory, slots: Slots) -> None:
    agent, ui, card = await _cps_waiting_for_its_pin(card_agent, slots)
    card.remove()
    # Answered "cancelled" at once, not left up until pin_timeout (120 s) with a card no longer there.
    await wait_until(lambda: ui.pin_requests[0].decided, what="PIN prompt cancelled", timeout=5)
    assert await ui.pin_requests[0].wait(0) is None
    await wait_until(lambda: not agent.acting.current.from_card, what="card user gone")
    assert agent.acting.current.kind == "configured"


async def test_cards_stop_with_a_pin_prompt_open_ends_promptly(card_agent: AgentFactory, slots: Slots) -> None:
    agent, ui, _ = await _cps_waiting_for_its_pin(card_agent, slots)
    service = agent.plugins.pm.get_plugin("cards").service
    token = service.tokens[R1]
    # The signing thread holds the token while it waits for the PIN.
    assert not await asyncio.to_thread(token._lock.acquire, False)  # (not taken: nothing to release)
    await agent.stop()
    assert ui.pin_requests[0].decided and await ui.pin_requests[0].wait(0) is None
    assert service.tokens == {} and token._closed
    # No thread is left waiting for the PIN (it would hold the token, and the process at exit, 125 s).
    assert await asyncio.to_thread(_lock_free, token._lock)
