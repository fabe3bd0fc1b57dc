"""Cut a scanner's byte stream into scans (pure).

Serial and USB-CDC scanners send each code followed by a configurable suffix (CR by default, CR LF or
LF often, sometimes nothing). A scan ends at the suffix, or when the line stays quiet for `idle`
seconds (a scanner configured without suffix). GS (0x1D) and every other byte inside a code are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TERMINATORS = b"\r\n"
MAX_SCAN = 8192  # an INS Datamatrix is < 300 bytes; beyond this it is line noise, not a code


@dataclass
class Framer:
    idle: float = 0.15
    _buffer: bytearray = field(default_factory=bytearray)
    _last: float = 0.0

    def feed(self, chunk: bytes, now: float) -> list[bytes]:
        """Add bytes received at `now`; return the scans they complete."""
        scans = self.flush_if_idle(now)
        for byte in chunk:
            if byte in TERMINATORS:
                if self._buffer:
                    scans.append(bytes(self._buffer))
                    self._buffer.clear()
                continue
            if len(self._buffer) >= MAX_SCAN:
                self._buffer.clear()  # runaway input: drop it rather than grow without bound
            self._buffer.append(byte)
        if chunk:
            self._last = now
        return scans

    def flush_if_idle(self, now: float) -> list[bytes]:
        """The pending scan when nothing arrived for `idle` seconds (scanner without suffix)."""
        if self._buffer and now - self._last >= self.idle:
            scan = bytes(self._buffer)
            self._buffer.clear()
            return [scan]
        return []
