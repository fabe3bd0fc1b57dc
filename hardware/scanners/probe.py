"""Scanner probes for `vigie doctor` (no agent imports, never raises): configured serial ports present or
not, HID POS scanners (usage page 0x8C) plugged in."""

from __future__ import annotations

import os
from dataclasses import dataclass

from hardware.scanners.hidpos import hidpos_devices
from hardware.scanners.serialport import serial_ports


@dataclass(frozen=True)
class ScannerProbe:
    ok: bool
    detail: str


def scanners_status(configured_serial: list[str], hid_configured: bool) -> ScannerProbe:
    try:
        present = {p["device"] for p in serial_ports()}
        hid = hidpos_devices()
    except Exception as exc:  # a broken backend must not break the doctor
        return ScannerProbe(False, f"inventaire impossible ({type(exc).__name__})")
    parts: list[str] = []
    missing = [p for p in configured_serial if p not in present and not os.path.exists(p)]
    for port in configured_serial:
        parts.append(f"série {port} : {'absent' if port in missing else 'présent'}")
    if hid:
        # Say what to write in [plugins.scanner] to use it: the device choice is made in the configuration.
        names = ", ".join(_hid_line(d) for d in hid)
        parts.append(f"HID POS détecté(s) : {names}")
    elif hid_configured:
        parts.append("aucun scanner HID POS branché")
    if not parts:
        usb = {p["device"]: p["usb"] for p in serial_ports() if p.get("usb")}
        others = ", ".join(f"{d} (USB {usb[d]})" if d in usb else d for d in sorted(present)) or "aucun"
        parts.append(f"aucune douchette configurée (mode clavier : saisie dans le LGC ou la fenêtre Vigie) ; "
                     f"ports série présents : {others} (serial = [{{port = \"...\"}}] dans [plugins.scanner])")
    return ScannerProbe(not missing and (bool(hid) or not hid_configured), " ; ".join(parts))


def _hid_line(device: dict[str, object]) -> str:
    vid, pid = device.get("vendor_id", 0), device.get("product_id", 0)
    ids = f"vendor_id = 0x{vid:04x}, product_id = 0x{pid:04x}" if isinstance(vid, int) and isinstance(pid, int) else "?"
    return f"{device.get('product_string') or 'scanner'} (hid = [{{{ids}}}])"
