"""Linux only, optional: read a keyboard-wedge scanner's own input device (`/dev/input/eventN`) with an
exclusive grab, so its keystrokes never reach the focused application and the practitioner's keyboard is
never read (no global hook: only the configured device is opened).

Reading key *codes* rather than characters also escapes the AZERTY problem: the codes are those the
scanner chose for its configured keyboard country (`layout`, US by default), translated here without the
host's layout. GS arrives as Ctrl+] or Alt+0-2-9 on the keypad, or is lost (the parser copes).
The user needs read access to the device (the `input` group). No python-evdev dependency: the kernel's
`struct input_event` is read directly and EVIOCGRAB is one ioctl.
"""

from __future__ import annotations

import os
import select
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hardware.scanners.reader import OnState, ScannerReader

EVENT = struct.Struct("llHHi")  # struct input_event on 64-bit Linux: timeval, type, code, value
EV_KEY = 1
EVIOCGRAB = 0x40044590
SHIFTS, CTRLS, ALTS = {42, 54}, {29, 97}, {56, 100}
ENDS = {28, 96, 15}  # Enter, keypad Enter, Tab: the scanner's suffix
KEYPAD_DIGITS = {82: "0", 79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6", 71: "7", 72: "8", 73: "9"}
RIGHTBRACE = 27

_ROWS = [(2, "1234567890-=", "!@#$%^&*()_+"), (16, "qwertyuiop[]", "QWERTYUIOP{}"),
         (30, "asdfghjkl;'`", "ASDFGHJKL:\"~"), (44, "zxcvbnm,./", "ZXCVBNM<>?")]
_ROWS_FR = [(2, "&é\"'(-è_çà)=", "1234567890°+"), (16, "azertyuiop^$", "AZERTYUIOP¨£"),
            (30, "qsdfghjklmù²", "QSDFGHJKLM%"), (44, "wxcvbn,;:!", "WXCVBN?./§")]


def _keymap(rows: list[tuple[int, str, str]]) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {57: (" ", " ")}
    for first, plain, shifted in rows:
        for i, ch in enumerate(plain):
            out[first + i] = (ch, shifted[i] if i < len(shifted) else ch)
    return out


KEYMAPS = {"us": _keymap(_ROWS), "fr": _keymap(_ROWS_FR)}


@dataclass
class KeyDecoder:
    """Key events -> scans. Pure: feed `(code, value, now)`; returns the scans a key completes."""

    layout: str = "us"
    idle: float = 0.15
    _held: set[int] = field(default_factory=set)
    _text: list[str] = field(default_factory=list)
    _alt_code: str = ""
    _last: float = 0.0

    def feed(self, code: int, value: int, now: float) -> list[str]:
        scans = self.flush_if_idle(now)
        if value == 0:  # key up
            self._held.discard(code)
            if code in ALTS and self._alt_code:
                self._text.append(chr(int(self._alt_code) % 256))
                self._alt_code = ""
            return scans
        if value != 1:
            return scans  # autorepeat: a scanner never holds a key
        self._last = now
        if code in SHIFTS | CTRLS | ALTS:
            self._held.add(code)
            return scans
        if code in ENDS:
            if self._text:
                scans.append("".join(self._text))
                self._text.clear()
            return scans
        if self._held & ALTS and code in KEYPAD_DIGITS:
            self._alt_code += KEYPAD_DIGITS[code]
        elif self._held & CTRLS:
            if code == RIGHTBRACE:
                self._text.append("\x1d")
        elif code in KEYMAPS[self.layout]:
            plain, shifted = KEYMAPS[self.layout][code]
            self._text.append(shifted if self._held & SHIFTS else plain)
        return scans

    def flush_if_idle(self, now: float) -> list[str]:
        if self._text and now - self._last >= self.idle:
            scan = "".join(self._text)
            self._text.clear()
            return [scan]
        return []


class EvdevWedgeReader(ScannerReader):
    """Reads one input device in its own thread, grabbed exclusively unless `grab=False`."""

    def __init__(self, path: str, on_scan: Callable[[bytes], None], *, layout: str = "us", grab: bool = True,
                 idle: float = 0.15, on_state: OnState | None = None, reopen: float = 2.0) -> None:
        if layout not in KEYMAPS:
            raise ValueError(f"unknown layout {layout!r}")
        super().__init__(f"evdev-{path}", on_scan, on_state=on_state, reopen=reopen)
        self.path, self.layout, self.grab, self.idle = path, layout, grab, idle

    def _open(self) -> int:
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        if self.grab:
            import fcntl

            try:
                fcntl.ioctl(fd, EVIOCGRAB, 1)  # exclusive: the keystrokes no longer reach any application
            except OSError:
                os.close(fd)
                raise
        return fd

    def _close(self, fd: int) -> None:
        os.close(fd)

    def _read(self, fd: int) -> None:
        decoder = KeyDecoder(self.layout, self.idle)
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.05)
            scans: list[str] = []
            if ready:
                chunk = os.read(fd, EVENT.size * 64)
                if not chunk:  # writer gone (FIFO) or device removed
                    time.sleep(0.05)
                pending += chunk
                while len(pending) >= EVENT.size:
                    _sec, _usec, kind, code, value = EVENT.unpack_from(pending)
                    pending = pending[EVENT.size:]
                    if kind == EV_KEY:
                        scans += decoder.feed(code, value, time.monotonic())
            scans += decoder.flush_if_idle(time.monotonic())
            for scan in scans:
                self.on_scan(scan.encode("utf-8"))


def key_events(text: str, layout: str = "us", enter: bool = True) -> bytes:
    """The `input_event` stream a wedge scanner produces for `text` (for the sandbox and the tests)."""
    reverse: dict[str, tuple[int, bool]] = {}
    for code, (plain, shifted) in KEYMAPS[layout].items():
        reverse.setdefault(plain, (code, False))
        reverse.setdefault(shifted, (code, True))
    out = bytearray()

    def key(code: int, value: int) -> None:
        out.extend(EVENT.pack(0, 0, EV_KEY, code, value))

    for ch in text:
        if ch == "\x1d":
            for code, value in ((29, 1), (RIGHTBRACE, 1), (RIGHTBRACE, 0), (29, 0)):
                key(code, value)
            continue
        code, shift = reverse[ch]
        if shift:
            key(42, 1)
        key(code, 1)
        key(code, 0)
        if shift:
            key(42, 0)
    if enter:
        key(28, 1)
        key(28, 0)
    return bytes(out)
