"""Serial and USB-CDC ("USB-COM") scanners through pyserial: raw bytes, GS kept, no keyboard layout.

A reader thread opens the port, frames the byte stream into scans (`framing.Framer`) and calls
`on_scan(data)` from that thread. An unplugged scanner (port gone) is reopened every `reopen` seconds. The
port is opened exclusively: a port already read by someone else is reported busy, not shared.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hardware.scanners.framing import Framer
from hardware.scanners.reader import OnState, ScannerReader


class SerialScanner(ScannerReader):
    def __init__(self, port: str, on_scan: Callable[[bytes], None], *, baudrate: int = 9600, idle: float = 0.15,
                 reopen: float = 2.0, on_state: OnState | None = None) -> None:
        super().__init__(f"serial-{port}", on_scan, on_state=on_state, reopen=reopen)
        self.port = port
        self.baudrate = baudrate
        self.idle = idle

    def _open(self) -> Any:
        import serial  # pyserial; imported in the thread, never on the event loop

        # Exclusive: a second reader of the same port (another agent, another program, a leftover agent
        # reopening a recycled /dev/pts/N) would take whichever frames it woke up for first, and its open
        # would flush our pending input. Locked (flock on POSIX; COM ports always are), it is told "busy".
        return serial.Serial(self.port, self.baudrate, timeout=0.05, exclusive=True)

    def _read(self, link: Any) -> None:
        framer = Framer(idle=self.idle)
        while not self._stop.is_set():
            chunk: bytes = link.read(512)
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
