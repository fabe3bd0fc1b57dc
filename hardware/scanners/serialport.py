"""Serial and USB-CDC ("USB-COM") scanners through pyserial: raw bytes, GS kept, no keyboard layout.

A reader thread opens the port, frames the byte stream into scans (`framing.Framer`) and calls
`on_scan(data)` from that thread. An unplugged scanner (port gone) is reopened every `reopen` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from hardware.scanners.framing import Framer


class SerialScanner:
    def __init__(self, port: str, on_scan: Callable[[bytes], None], *, baudrate: int = 9600, idle: float = 0.15,
                 reopen: float = 2.0, on_state: Callable[[str, str | None], None] | None = None) -> None:
        self.port = port
        self.baudrate = baudrate
        self.on_scan = on_scan
        self.on_state = on_state  # ("connected" | "disconnected", reason)
        self.idle = idle
        self.reopen = reopen
        self.connected = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vigie-serial-{port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _state(self, connected: bool, reason: str | None) -> None:
        if connected != self.connected:
            self.connected = connected
            if self.on_state is not None:
                self.on_state("connected" if connected else "disconnected", reason)

    def _run(self) -> None:
        import serial  # pyserial; imported in the thread, never on the event loop

        while not self._stop.is_set():
            try:
                with serial.Serial(self.port, self.baudrate, timeout=0.05) as link:
                    self._state(True, None)
                    self._read(link)
            except (OSError, serial.SerialException) as exc:
                self._state(False, type(exc).__name__)
                self._stop.wait(self.reopen)

    def _read(self, link: object) -> None:
        framer = Framer(idle=self.idle)
        while not self._stop.is_set():
            chunk: bytes = link.read(512)  # type: ignore[attr-defined]
            now = time.monotonic()
            for scan in framer.feed(chunk, now) if chunk else framer.flush_if_idle(now):
                self.on_scan(scan)


def serial_ports() -> list[dict[str, str]]:
    """Serial ports present (for `vigie doctor`): device path, description, USB ids when known."""
    try:
        from serial.tools import list_ports
    except ImportError:
        return []
    return [{"device": p.device, "description": p.description or "",
             "usb": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None and p.pid is not None else ""}
            for p in list_ports.comports()]
