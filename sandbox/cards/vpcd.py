"""A virtual card plugged into vsmartcard's vpcd reader driver (the "vicc" side of its protocol).

pcscd loads `libifdvpcd.so`, which listens on a TCP port per reader slot (hardware.md B2/B10). A card
connects to it; every frame is a 2-byte big-endian length then the payload. A 1-byte payload is a
control byte (0x00 power off, 0x01 power on, 0x02 reset, 0x04 "send the ATR"); anything else is a
C-APDU the card answers with an R-APDU. Closing the socket is the card leaving the reader.

The connection runs in its own thread so tests, the CLI and the agent's sandbox bench can drive
cards without an event loop; a `Personality` decides the ATR and the answers.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)

POWER_OFF, POWER_ON, RESET, GET_ATR = 0x00, 0x01, 0x02, 0x04
CONNECT_TIMEOUT = 2.0


class Personality(Protocol):
    """What a virtual card is: its ATR and how it answers APDUs."""

    atr: bytes

    def reset(self) -> None:
        """Power-on or reset: forget the selected application/file."""

    def process(self, apdu: bytes) -> bytes | None:
        """The R-APDU (data + SW1 SW2), or None to vanish (close the socket mid-APDU)."""


class VirtualCard:
    """One card in one vpcd slot. `insert()` connects, `remove()` closes the socket."""

    def __init__(self, personality: Personality, port: int, host: str = "127.0.0.1") -> None:
        self.personality = personality
        self.host, self.port = host, port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.apdus = 0  # APDUs answered, for tests and benchmarks
        self.vanished = threading.Event()

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def insert(self) -> None:
        # vpcd starts listening once pcscd has loaded the reader: retry briefly when refused.
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), name=f"vicc-{self.port}", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                payload = _recv_frame(sock)
                if payload is None:
                    return  # the driver went away (pcscd stopped) or we were removed
                if len(payload) == 1:
                    self._control(sock, payload[0])
                    continue
                answer = self.personality.process(payload)
                if answer is None:  # a card pulled out mid-APDU
                    self.vanished.set()
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                self.apdus += 1
                _send_frame(sock, answer)
        except OSError:
            return

    def _control(self, sock: socket.socket, byte: int) -> None:
        if byte in (POWER_ON, RESET):
            self.personality.reset()
        elif byte == GET_ATR:
            _send_frame(sock, self.personality.atr)
        # POWER_OFF needs no answer; unknown control bytes are ignored as vpcd does.


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv_frame(sock: socket.socket) -> bytes | None:
    header = _recv_exact(sock, 2)
    if header is None:
        return None
    (length,) = struct.unpack(">H", header)
    return _recv_exact(sock, length) if length else b""


def _send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">H", len(payload)) + payload)
