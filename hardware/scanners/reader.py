"""The thread every directly-read scanner runs in (serial, HID POS, evdev): open the device, read scans
until it fails, reopen it after `reopen` seconds, until `stop()`.

`on_scan(data)` and `on_state("connected" | "disconnected", reason)` are called from that thread;
`on_state` only when the state changes, never after `stop()`. A scanner unplugged and plugged back in
is therefore picked up again without restarting anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

OnState = Callable[[str, str | None], None]


class ScannerReader:
    def __init__(self, name: str, on_scan: Callable[[bytes], None], *, on_state: OnState | None = None,
                 reopen: float = 2.0) -> None:
        self.on_scan = on_scan
        self.on_state = on_state
        self.reopen = reopen
        self.connected: bool | None = None  # unknown until the first open: its failure is news too
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vigie-{name}", daemon=True)

    # -- what each kind of scanner provides --------------------------------------------------
    def _open(self) -> Any:
        """Open the device (blocking is fine: this is the reader's own thread); raise when it is absent."""
        raise NotImplementedError

    def _read(self, handle: Any) -> None:
        """Read scans from `handle` until `self._stop` is set; raise when the device goes away."""
        raise NotImplementedError

    def _close(self, handle: Any) -> None:
        handle.close()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _state(self, connected: bool, reason: str | None) -> None:
        if connected == self.connected or self._stop.is_set():
            return
        self.connected = connected
        if self.on_state is not None:
            self.on_state("connected" if connected else "disconnected", reason)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                handle = self._open()
            except Exception as exc:  # absent, unplugged, no permission: said once, tried again later
                self._state(False, _reason(exc))
                self._stop.wait(self.reopen)
                continue
            self._state(True, None)
            try:
                self._read(handle)
            except Exception as exc:  # unplugged while reading
                self._state(False, _reason(exc))
                self._stop.wait(self.reopen)
            finally:
                self._close(handle)


def _reason(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else None) or type(exc).__name__
