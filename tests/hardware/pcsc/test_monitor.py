"""The PC/SC monitor on a real pcscd with vpcd virtual cards (this test process's private daemon)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from hardware.pcsc.monitor import (
    CARD_INSERTED,
    CARD_REMOVED,
    READER_ADDED,
    READER_REMOVED,
    SERVICE,
    PcscMonitor,
)
from sandbox.cards.pcscd import READERS, PrivatePcscd
from sandbox.cards.personalities import CPS_ATR, GARBAGE_ATR, VITALE_ATR, InertCard, VitaleCardPersonality
from sandbox.cards.test_cards import TEST_CARDS
from tests.cardkit import EventLog, Slots

R0, R1 = READERS


@pytest.fixture
def events(pcscd: PrivatePcscd) -> Iterator[EventLog]:
    log = EventLog()
    monitor = PcscMonitor(log)
    monitor.start()
    log.wait(READER_ADDED, R0)
    log.wait(READER_ADDED, R1)
    log.monitor = monitor  # type: ignore[attr-defined]
    yield log
    monitor.stop()


def test_monitor_insert_remove_reinsert(events: EventLog, slots: Slots) -> None:
    card = slots.insert(VitaleCardPersonality(TEST_CARDS["ADRUN"]))
    assert events.wait(CARD_INSERTED, R0).atr == VITALE_ATR.hex().upper()
    card.remove()
    events.wait(CARD_REMOVED, R0)
    slots.insert(InertCard(CPS_ATR))
    assert events.wait(CARD_INSERTED, R0).atr == CPS_ATR.hex().upper()


def test_monitor_two_readers_at_once(events: EventLog, slots: Slots) -> None:
    slots.insert(VitaleCardPersonality(TEST_CARDS["ADRTROIS"]), slot=0)
    slots.insert(InertCard(CPS_ATR), slot=1)
    assert events.wait(CARD_INSERTED, R0).atr == VITALE_ATR.hex().upper()
    assert events.wait(CARD_INSERTED, R1).atr == CPS_ATR.hex().upper()
    monitor: PcscMonitor = events.monitor  # type: ignore[attr-defined]
    assert set(monitor.cards) == {R0, R1}


def test_monitor_reports_a_garbage_atr_as_a_card(events: EventLog, slots: Slots) -> None:
    slots.insert(InertCard(GARBAGE_ATR), slot=1)
    assert events.wait(CARD_INSERTED, R1).atr == GARBAGE_ATR.hex().upper()


def test_monitor_card_present_at_start_is_reported(pcscd: PrivatePcscd, slots: Slots) -> None:
    slots.insert(InertCard(CPS_ATR), slot=1)
    probe = EventLog()
    first = PcscMonitor(probe)
    first.start()
    try:
        probe.wait(CARD_INSERTED, R1)
    finally:
        first.stop()
    log = EventLog()
    monitor = PcscMonitor(log)
    monitor.start()
    try:
        assert log.wait(CARD_INSERTED, R1).atr == CPS_ATR.hex().upper()
    finally:
        monitor.stop()


def test_monitor_idle_makes_no_call(events: EventLog) -> None:
    # Blocked in SCardGetStatusChange(INFINITE): no wake-up, hence no polling, while nothing happens.
    monitor: PcscMonitor = events.monitor  # type: ignore[attr-defined]
    time.sleep(0.3)
    before = monitor.loops
    time.sleep(1.5)
    assert monitor.loops == before


def test_monitor_stop_reports_readers_gone_and_ends_its_thread(pcscd: PrivatePcscd) -> None:
    log = EventLog()
    monitor = PcscMonitor(log)
    monitor.start()
    log.wait(READER_ADDED, R0)
    thread = monitor._thread
    assert thread is not None and thread.is_alive()
    monitor.stop()
    assert not thread.is_alive()  # woken from SCardGetStatusChange(INFINITE) by SCardCancel, and ended
    log.wait(READER_REMOVED, R0)


@pytest.mark.slow
def test_monitor_recovers_after_pcscd_restart(events: EventLog, pcscd: PrivatePcscd, slots: Slots) -> None:
    slots.insert(VitaleCardPersonality(TEST_CARDS["ADRUN"]))
    events.wait(CARD_INSERTED, R0)
    pcscd.kill()
    lost = events.wait(SERVICE, available=False)
    assert lost.reason and "perdu" in lost.reason
    events.wait(CARD_REMOVED, R0)
    events.wait(READER_REMOVED, R0)
    time.sleep(0.5)  # the service stays away a while: the monitor keeps trying without dying
    slots.close()
    pcscd.start()
    events.wait(SERVICE, available=True, timeout=10)
    events.wait(READER_ADDED, R0)
    # A card inserted after the restart is reported without restarting anything.
    slots.insert(InertCard(CPS_ATR), slot=1)
    assert events.wait(CARD_INSERTED, R1, timeout=10).atr == CPS_ATR.hex().upper()
