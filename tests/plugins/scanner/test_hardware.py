"""Scanner hardware layer: HID POS report decoding, byte-stream framing, settings, doctor row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import config_from_dict
from agent.doctor import OK, WARN, check_scanners
from agent.errors import ConfigError
from hardware.scanners.framing import Framer
from hardware.scanners.hidpos import (
    REPORT_SIZE,
    HidPosAssembler,
    HidPosError,
    decode_report,
    encode_reports,
)
from plugins.scanner.settings import parse_settings
from sandbox.scanner.emulator import ScannerEmulator
from tests.plugins.scanner.test_datamatrix import ADRTROIS as ADRTROIS_TEXT

DATA = b"IS010000000000000000000000S1297022A02077878S21.2.250.1.213.1.4.8\x1dS3DOMINIQUE\x1dS4ADRTROIS\x1dS5F"


def test_hidpos_report_layout() -> None:
    reports = encode_reports(DATA)
    assert len(reports) == 2 and all(len(r) == REPORT_SIZE for r in reports)
    first = decode_report(reports[0])
    assert first is not None and first.aim == "]d1" and first.more and len(first.data) == 56
    last = decode_report(reports[1])
    assert last is not None and not last.more and last.data == DATA[56:]


def test_hidpos_assembler_joins_reports_and_keeps_gs() -> None:
    assembler = HidPosAssembler()
    results = [assembler.feed(r) for r in encode_reports(DATA) + encode_reports(b"EP1:42")]
    assert results == [None, DATA, b"EP1:42"]


def test_hidpos_other_report_ids_are_ignored_and_malformed_refused() -> None:
    assert decode_report(bytes([0x04]) + bytes(63)) is None  # a status/attribute report
    with pytest.raises(HidPosError):
        decode_report(bytes([0x02, 10]) + bytes(10))  # short
    with pytest.raises(HidPosError):
        decode_report(bytes([0x02, 57]) + bytes(62))  # length beyond the data area


def test_framing_suffixes_and_idle_gap() -> None:
    framer = Framer(idle=0.1)
    assert framer.feed(b"ABC\r", 0.0) == [b"ABC"]
    assert framer.feed(b"DE", 1.0) == [] and framer.feed(b"F\r\n", 1.01) == [b"DEF"]
    assert framer.feed(b"IS01\x1dX", 2.0) == []
    assert framer.flush_if_idle(2.05) == [] and framer.flush_if_idle(2.2) == [b"IS01\x1dX"]
    assert framer.feed(b"\r\n\r", 3.0) == []  # empty lines are not scans


def test_settings_defaults_and_errors() -> None:
    settings = parse_settings({"serial": ["/dev/ttyACM0", {"port": "COM3", "baudrate": 115200}], "hid": "auto"})
    assert [d.port for d in settings.serial] == ["/dev/ttyACM0", "COM3"] and settings.hid_auto
    for raw, key in (({"serial": [{"baudrate": 9600}]}, "serial[0]"), ({"hid": [{"vendor_id": 70000}]},
                     "hid[0].vendor_id"), ({"hid_emulator": "http://example.org:1"}, "hid_emulator"),
                     ({"wedge": True}, "wedge")):
        with pytest.raises(ConfigError) as info:
            parse_settings(raw)
        assert info.value.key == f"plugins.scanner.{key}"


async def test_doctor_scanner_row(emulator: ScannerEmulator) -> None:
    present = config_from_dict({"plugins": {"scanner": {"serial": [{"port": emulator.serial_path}]}}})
    row = check_scanners(present)
    assert row.level == OK and f"série {emulator.serial_path} : présent" in row.detail
    missing = config_from_dict({"plugins": {"scanner": {"serial": ["/dev/ttyVIGIE-absent"]}}})
    row = check_scanners(missing)
    assert row.level == WARN and "absent" in row.detail
    assert "mode clavier" in check_scanners(config_from_dict({})).detail


# -- evdev keyboard-wedge (Linux) -------------------------------------------------------------------


def _decode(stream: bytes, layout: str = "us") -> list[str]:
    from hardware.scanners.evdev_wedge import EV_KEY, EVENT, KeyDecoder

    decoder = KeyDecoder(layout)
    scans: list[str] = []
    for offset in range(0, len(stream), EVENT.size):
        _s, _u, kind, code, value = EVENT.unpack_from(stream, offset)
        if kind == EV_KEY:
            scans += decoder.feed(code, value, 0.0)
    return scans


@pytest.mark.parametrize("layout", ["us", "fr"])
def test_evdev_key_codes_give_the_text_whatever_the_host_layout(layout: str) -> None:
    from hardware.scanners.evdev_wedge import key_events

    text = DATA.decode()
    assert _decode(key_events(text, layout), layout) == [text]  # GS through Ctrl+]


def test_evdev_alt_keypad_029_is_gs_and_repeats_are_ignored() -> None:
    from hardware.scanners.evdev_wedge import EV_KEY, EVENT, KeyDecoder

    decoder = KeyDecoder("us")
    events = [(30, 1), (30, 2), (30, 0), (56, 1), (82, 1), (82, 0), (80, 1), (80, 0), (73, 1), (73, 0), (56, 0),
              (48, 1), (48, 0), (28, 1)]
    scans: list[str] = []
    for code, value in events:
        scans += decoder.feed(code, value, 0.0)
    assert scans == ["a\x1db"]
    assert EVENT.size == 24 and EV_KEY == 1


async def test_evdev_reader_routes_a_scan_from_its_device(scanner_agent: Any, tmp_path: Path) -> None:
    # No /dev/input or /dev/uinput on this machine: a FIFO carries the same `input_event` bytes, without
    # the exclusive grab (EVIOCGRAB needs a real input device; not tested here).
    import os

    from hardware.scanners.evdev_wedge import key_events
    from tests.plugins.scanner.conftest import scanner_service, wait_until

    fifo = tmp_path / "event-kbd"
    os.mkfifo(fifo)
    agent, recorder = await scanner_agent(scanner={"evdev": [{"path": str(fifo), "grab": False}]})
    service = scanner_service(agent)
    await wait_until(lambda: any(s == "connecté" for s in service.devices.values()), what="evdev device open")
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, key_events(ADRTROIS_TEXT))
        await wait_until(lambda: recorder.scans, what="evdev scan routed")
    finally:
        os.close(writer)
    assert recorder.scans[0][0] == "ins_datamatrix" and recorder.scans[0][2] == "evdev"


def test_doctor_suggests_the_configuration_of_a_detected_hid_pos_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    # No USB scanner on this machine: the enumeration (hidapi) is replaced, the rendering is what is tested.
    from hardware.scanners import probe

    monkeypatch.setattr(probe, "hidpos_devices", lambda: [{"product_string": "Voyager 1400g", "vendor_id": 0x0C2E,
                                                           "product_id": 0x0B8F}])
    row = check_scanners(config_from_dict({"plugins": {"scanner": {"hid": "auto"}}}))
    assert row.level == OK
    assert "Voyager 1400g (hid = [{vendor_id = 0x0c2e, product_id = 0x0b8f}])" in row.detail
    monkeypatch.setattr(probe, "hidpos_devices", lambda: [])
    assert check_scanners(config_from_dict({"plugins": {"scanner": {"hid": "auto"}}})).level == WARN


def test_scanner_reader_reports_state_changes_once_and_reopens_after_unplug() -> None:
    import queue
    import threading

    from hardware.scanners.reader import ScannerReader

    plugged = threading.Event()
    unplug = threading.Event()
    states: queue.Queue[tuple[str, str | None]] = queue.Queue()
    scans: list[bytes] = []

    class Device(ScannerReader):
        def _open(self) -> Any:
            if not plugged.is_set():
                raise FileNotFoundError(2, "No such file or directory")
            return self

        def _read(self, handle: Any) -> None:
            self.on_scan(b"IS01")
            while not unplug.wait(0.01):
                if self._stop.is_set():
                    return
            unplug.clear()
            plugged.clear()
            raise OSError(19, "No such device")

        def _close(self, handle: Any) -> None:
            pass

    reader = Device("test", scans.append, on_state=lambda s, r: states.put((s, r)), reopen=0.02)
    reader.start()
    try:
        assert states.get(timeout=5) == ("disconnected", "No such file or directory")  # absent at start: said once
        plugged.set()
        assert states.get(timeout=5) == ("connected", None)
        unplug.set()
        assert states.get(timeout=5) == ("disconnected", "No such device")
        plugged.set()  # plugged back in: picked up again without restarting anything
        assert states.get(timeout=5) == ("connected", None)
    finally:
        reader.stop()
    assert scans == [b"IS01", b"IS01"]
    assert states.empty()  # the repeated failed opens while unplugged were not reported again


async def test_a_serial_port_is_read_by_one_reader_only(emulator: ScannerEmulator) -> None:
    """Two readers on one port (a second agent, another program, a leftover agent reopening a recycled
    /dev/pts/N) split the frames between them: each scan went to whichever woke first, and every reopen
    flushed the owner's input. The port is locked: the second is told it is busy and every scan reaches the first."""
    import asyncio
    import queue

    from hardware.scanners.serialport import SerialScanner
    from plugins.scanner.inputs import french_reason

    assert emulator.serial_path is not None
    owner_scans: queue.Queue[bytes] = queue.Queue()
    other_scans: list[bytes] = []
    owner_states: queue.Queue[tuple[str, str | None]] = queue.Queue()
    other_states: queue.Queue[tuple[str, str | None]] = queue.Queue()
    owner = SerialScanner(emulator.serial_path, owner_scans.put, on_state=lambda s, r: owner_states.put((s, r)))
    other = SerialScanner(emulator.serial_path, other_scans.append, on_state=lambda s, r: other_states.put((s, r)),
                          reopen=0.05)
    owner.start()
    try:
        assert await asyncio.to_thread(owner_states.get, timeout=5) == ("connected", None)
        other.start()
        state, reason = await asyncio.to_thread(other_states.get, timeout=5)
        assert (state, french_reason(reason)) == ("disconnected", "occupé par un autre programme")
        for n in range(5):  # right after "connected" and while the other keeps trying to open the port
            await emulator.scan(ADRTROIS_TEXT.encode() + b"%d" % n)
            assert await asyncio.to_thread(owner_scans.get, timeout=5) == ADRTROIS_TEXT.encode() + b"%d" % n
    finally:
        await asyncio.to_thread(other.stop)
        await asyncio.to_thread(owner.stop)
    assert other_scans == []
    assert owner_states.empty()
