"""Open the configured scanner inputs (runs in a worker thread: opening devices may block).

Serial / USB-CDC scanners and USB HID POS scanners are read directly (no keystrokes, GS kept).
Keyboard-wedge scanners are not read through a global keyboard hook (it would capture everything the
practitioner types): they type into the LGC (`scan.submit`) or the popup's focused field, or, on Linux,
one configured input device is grabbed exclusively (`evdev`).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from hardware.scanners.evdev_wedge import EvdevWedgeReader
from hardware.scanners.hidpos import HidapiTransport, HidPosReader, SocketHidTransport, hidpos_devices
from hardware.scanners.serialport import SerialScanner
from plugins.scanner.settings import ScannerSettings

OnScanFactory = Callable[[str], Callable[[bytes], None]]
OnState = Callable[[str, str, str | None], None]


def open_inputs(settings: ScannerSettings, on_scan_for: OnScanFactory, on_state: OnState) -> list[Any]:
    readers: list[Any] = []
    for device in settings.serial:
        name = f"série {device.port}"
        on_state(name, "recherche", None)
        scanner = SerialScanner(device.port, on_scan_for("serial"), baudrate=device.baudrate, idle=settings.idle,
                                on_state=_device_state(on_state, name))
        scanner.start()
        readers.append(scanner)
    for wedge in settings.evdev:
        name = f"clavier {wedge.path}"
        on_state(name, "recherche", None)
        wedge_reader = EvdevWedgeReader(wedge.path, on_scan_for("evdev"), layout=wedge.layout, grab=wedge.grab,
                                        idle=settings.idle, on_state=_device_state(on_state, name))
        wedge_reader.start()
        readers.append(wedge_reader)
    transports: list[tuple[str, Callable[[], Any]]] = []
    for hid in settings.hid:
        transports.append((f"HID POS {hid.vendor_id:04x}:{hid.product_id:04x}",
                           partial(HidapiTransport, vendor_id=hid.vendor_id, product_id=hid.product_id)))
    if settings.hid_auto:
        for info in hidpos_devices():
            path = info["path"]
            transports.append((f"HID POS {info.get('product_string') or path!r}",
                               partial(HidapiTransport, path=path)))  # type: ignore[arg-type]
    if settings.hid_emulator is not None:
        host, port = settings.hid_emulator
        transports.append(("HID POS (émulateur)", partial(SocketHidTransport, host, port)))
    for name, make in transports:
        on_state(name, "recherche", None)
        reader = HidPosReader(make, on_scan_for("hid"), on_state=_device_state(on_state, name))
        reader.start()
        readers.append(reader)
    return readers


# The device layer reports the OS's (English) error text; agent.info and the tray show French.
REASONS_FR = {
    errno.ENOENT: "introuvable : débranché ou mauvais port",
    errno.EACCES: "accès refusé : droits du compte sur le périphérique",
    errno.EBUSY: "occupé par un autre programme",
    errno.EAGAIN: "occupé par un autre programme",  # the port's lock is held (pyserial's exclusive open)
    errno.ENODEV: "débranché",
    errno.ENXIO: "débranché",
    errno.EIO: "débranché",
    errno.ECONNREFUSED: "connexion refusée",
}


def french_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    found = re.search(r"\[Errno (\d+)\]", reason)
    codes = [int(found.group(1))] if found else [n for n in REASONS_FR if os.strerror(n) in reason]
    return next((REASONS_FR[n] for n in codes if n in REASONS_FR), reason)


def _device_state(on_state: OnState, name: str) -> Callable[[str, str | None], None]:
    def report(state: str, reason: str | None) -> None:
        on_state(name, {"connected": "connecté", "disconnected": "déconnecté"}.get(state, state),
                 french_reason(reason))

    return report
