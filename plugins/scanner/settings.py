"""`[plugins.scanner]` configuration: which scanners to read, validated with messages naming the key.

```toml
[plugins.scanner]
serial = [{port = "/dev/ttyACM0", baudrate = 9600}]   # or "COM3"; USB-CDC scanners too
hid = [{vendor_id = 0x0c2e, product_id = 0x0b8f}]      # USB HID POS; or hid = "auto" (every 0x8C device)
hid_emulator = "tcp://127.0.0.1:PORT"                   # sandbox only: the HID POS emulator
evdev = [{path = "/dev/input/by-id/usb-XXX-event-kbd", layout = "us"}]  # Linux: grab a wedge scanner
idle_ms = 150          # a scan without suffix ends after this quiet time
image_timeout_ms = 1500  # pylibdmtx fallback limit per image
```
Keyboard-wedge scanners need no configuration: they type into the LGC (`scan.submit`) or the popup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agent.errors import ConfigError


@dataclass(frozen=True)
class SerialDevice:
    port: str
    baudrate: int = 9600


@dataclass(frozen=True)
class HidDevice:
    vendor_id: int
    product_id: int


@dataclass(frozen=True)
class EvdevDevice:
    path: str
    layout: str = "us"  # the keyboard country the scanner is configured for: "us" or "fr"
    grab: bool = True


@dataclass(frozen=True)
class ScannerSettings:
    serial: tuple[SerialDevice, ...] = ()
    hid: tuple[HidDevice, ...] = ()
    hid_auto: bool = False
    hid_emulator: tuple[str, int] | None = None
    evdev: tuple[EvdevDevice, ...] = ()
    idle: float = 0.15
    image_timeout: float = 1.5
    extra: dict[str, Any] = field(default_factory=dict)


def _fail(key: str, fr: str, en: str) -> ConfigError:
    return ConfigError(f"plugins.scanner.{key}", fr, en)


def _int(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(key, f"entier entre {low} et {high} attendu", f"integer between {low} and {high} expected")
    return value


def parse_settings(raw: dict[str, Any]) -> ScannerSettings:
    known = {"serial", "hid", "hid_emulator", "evdev", "idle_ms", "image_timeout_ms"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(unknown[0], "clé inconnue", "unknown key")
    serial = []
    for i, item in enumerate(raw.get("serial") or []):
        if isinstance(item, str):
            item = {"port": item}
        if not isinstance(item, dict) or not isinstance(item.get("port"), str) or not item["port"]:
            raise _fail(f"serial[{i}]", "{port = \"...\"} attendu", "{port = \"...\"} expected")
        serial.append(SerialDevice(item["port"], _int(item.get("baudrate", 9600), f"serial[{i}].baudrate", 300,
                                                      4_000_000)))
    hid_raw = raw.get("hid") or []
    hid_auto = hid_raw == "auto"
    hid = []
    for i, item in enumerate([] if hid_auto else hid_raw):
        if not isinstance(item, dict):
            raise _fail(f"hid[{i}]", "{vendor_id, product_id} attendu", "{vendor_id, product_id} expected")
        hid.append(HidDevice(_int(item.get("vendor_id"), f"hid[{i}].vendor_id", 0, 0xFFFF),
                             _int(item.get("product_id"), f"hid[{i}].product_id", 0, 0xFFFF)))
    emulator = None
    if raw.get("hid_emulator"):
        url = urlsplit(str(raw["hid_emulator"]))
        if url.scheme != "tcp" or url.hostname not in ("127.0.0.1", "localhost") or url.port is None:
            raise _fail("hid_emulator", "tcp://127.0.0.1:PORT attendu", "tcp://127.0.0.1:PORT expected")
        emulator = (url.hostname, url.port)
    evdev = []
    for i, item in enumerate(raw.get("evdev") or []):
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
            raise _fail(f"evdev[{i}]", "{path = \"/dev/input/...\"} attendu", "{path = \"/dev/input/...\"} expected")
        if item.get("layout", "us") not in ("us", "fr"):
            raise _fail(f"evdev[{i}].layout", "\"us\" ou \"fr\" attendu", "\"us\" or \"fr\" expected")
        evdev.append(EvdevDevice(item["path"], item.get("layout", "us"), bool(item.get("grab", True))))
    return ScannerSettings(
        serial=tuple(serial), hid=tuple(hid), hid_auto=hid_auto, hid_emulator=emulator, evdev=tuple(evdev),
        idle=_int(raw.get("idle_ms", 150), "idle_ms", 10, 5000) / 1000,
        image_timeout=_int(raw.get("image_timeout_ms", 1500), "image_timeout_ms", 50, 60000) / 1000,
    )
