"""The monitor's reading of reader states (pure: no pcscd), for transitions a real stack rarely shows."""

from __future__ import annotations

from smartcard import scard

from hardware.pcsc.monitor import CARD_INSERTED, CARD_REMOVED, MonitorEvent, PcscMonitor

PRESENT, EMPTY, CHANGED = scard.SCARD_STATE_PRESENT, scard.SCARD_STATE_EMPTY, scard.SCARD_STATE_CHANGED


def transitions(*steps: tuple[int, list[int]]) -> list[tuple[str, str | None]]:
    events: list[MonitorEvent] = []
    monitor = PcscMonitor(events.append)
    monitor.readers["R"] = scard.SCARD_STATE_UNAWARE
    for state, atr in steps:
        monitor._card_transition("R", state, atr)
        monitor.readers["R"] = state & ~CHANGED
    return [(e.kind, e.atr) for e in events]


def test_monitor_states_insert_then_remove() -> None:
    assert transitions((EMPTY | CHANGED, []), ((1 << 16) | PRESENT | CHANGED, [0x3B, 0x01]),
                       ((2 << 16) | EMPTY | CHANGED, [])) == [(CARD_INSERTED, "3B01"), (CARD_REMOVED, None)]


def test_monitor_states_swap_between_two_calls_is_a_removal_then_an_insertion() -> None:
    # Still present, but the event counter (high word) moved by two: the card was swapped meanwhile.
    assert transitions(((1 << 16) | PRESENT | CHANGED, [0x3B, 0x01]), ((3 << 16) | PRESENT | CHANGED, [0x3B, 0x02])) \
        == [(CARD_INSERTED, "3B01"), (CARD_REMOVED, None), (CARD_INSERTED, "3B02")]


def test_monitor_states_in_use_changes_are_not_insertions() -> None:
    # Another application (or our own read) connecting sets INUSE: same counter, no event.
    assert transitions(((1 << 16) | PRESENT | CHANGED, [0x3B]),
                       ((1 << 16) | PRESENT | scard.SCARD_STATE_INUSE | CHANGED, [0x3B])) == [(CARD_INSERTED, "3B")]
