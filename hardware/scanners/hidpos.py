"""USB HID POS barcode scanners (HID usage page 0x8C): report decoding (pure) and a reader over a port.

In HID POS mode a scanner sends no keystrokes: each code arrives in input reports with Report ID 2
("Scanned Data Report"), raw bytes including GS, whatever the keyboard layout. The layout decoded here
is the 64-byte one of Honeywell scanners in "USB HID POS" mode (the one WebHID libraries decode):

    [0] report id 0x02   [1] data length in this report (0..56)   [2:5] AIM symbology id (e.g. `]d1`)
    [5:61] data, zero padded   [61] vendor code id   [62] reserved   [63] bit 0: more reports follow

A long code spans several reports; `HidPosAssembler` joins them. The transport (hidapi on a real device,
a socket fed by the sandbox emulator in tests and `make run`) is behind `HidTransport`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hardware.scanners.reader import OnState, ScannerReader

USAGE_PAGE = 0x8C
USAGE_SCANNER = 0x02
REPORT_ID = 0x02
REPORT_SIZE = 64
DATA_OFFSET, DATA_SIZE = 5, 56
CONTINUATION_BYTE = 63


class HidPosError(ValueError):
    """A report that is not a well-formed Scanned Data Report."""


@dataclass(frozen=True)
class HidPosReport:
    aim: str
    data: bytes
    more: bool


def decode_report(report: bytes) -> HidPosReport | None:
    """One input report; None for reports of other ids (status, attributes), HidPosError when malformed."""
    if not report or report[0] != REPORT_ID:
        return None
    if len(report) < REPORT_SIZE:
        raise HidPosError(f"report too short ({len(report)} bytes)")
    length = report[1]
    if length > DATA_SIZE:
        raise HidPosError(f"data length {length} > {DATA_SIZE}")
    aim = report[2:5].rstrip(b"\x00").decode("ascii", errors="replace")
    return HidPosReport(aim=aim, data=bytes(report[DATA_OFFSET:DATA_OFFSET + length]),
                        more=bool(report[CONTINUATION_BYTE] & 0x01))


def encode_reports(data: bytes, aim: str = "]d1", code_id: int = 0x77) -> list[bytes]:
    """The reports a scanner sends for `data` (used by the sandbox emulator and the tests)."""
    chunks = [data[i:i + DATA_SIZE] for i in range(0, len(data), DATA_SIZE)] or [b""]
    reports = []
    for index, chunk in enumerate(chunks):
        report = bytearray(REPORT_SIZE)
        report[0], report[1] = REPORT_ID, len(chunk)
        report[2:5] = aim.encode("ascii")[:3].ljust(3, b"\x00")
        report[DATA_OFFSET:DATA_OFFSET + len(chunk)] = chunk
        report[61] = code_id
        report[CONTINUATION_BYTE] = 1 if index < len(chunks) - 1 else 0
        reports.append(bytes(report))
    return reports


@dataclass
class HidPosAssembler:
    """Joins the reports of one code; returns the whole code when its last report arrives."""

    _parts: list[bytes] = field(default_factory=list)

    def feed(self, report: bytes) -> bytes | None:
        decoded = decode_report(report)
        if decoded is None:
            return None
        self._parts.append(decoded.data)
        if decoded.more:
            if sum(len(p) for p in self._parts) > 8192:
                self._parts.clear()  # a continuation that never ends: drop it
            return None
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class HidTransport(Protocol):
    """Where reports come from: `read(timeout)` returns one report, or None after `timeout` seconds."""

    def read(self, timeout: float) -> bytes | None: ...

    def close(self) -> None: ...


class HidapiTransport:
    """A real HID POS device through hidapi (Windows, macOS, Linux hidraw)."""

    def __init__(self, path: bytes | None = None, vendor_id: int | None = None, product_id: int | None = None) -> None:
        import hid  # imported here: hidapi is optional on a workstation without HID POS scanner

        self._device = hid.device()
        if path is not None:
            self._device.open_path(path)
        elif vendor_id is not None and product_id is not None:
            self._device.open(vendor_id, product_id)
        else:
            raise ValueError("path or vendor_id/product_id required")

    def read(self, timeout: float) -> bytes | None:
        data = self._device.read(REPORT_SIZE, int(timeout * 1000))
        return bytes(data) if data else None

    def close(self) -> None:
        self._device.close()


def hidpos_devices() -> list[dict[str, object]]:
    """HID devices exposing the Bar Code Scanner usage page (for `vigie doctor` and "auto")."""
    try:
        import hid
    except ImportError:
        return []
    return [d for d in hid.enumerate() if d.get("usage_page") == USAGE_PAGE]


class HidPosReader(ScannerReader):
    """Reads a transport (`open_transport()`: hidapi, or the sandbox's socket) in its own thread."""

    def __init__(self, open_transport: Callable[[], HidTransport], on_scan: Callable[[bytes], None], *,
                 on_state: OnState | None = None, reopen: float = 2.0) -> None:
        super().__init__("hidpos", on_scan, on_state=on_state, reopen=reopen)
        self.open_transport = open_transport

    def _open(self) -> HidTransport:
        return self.open_transport()

    def _read(self, transport: HidTransport) -> None:
        assembler = HidPosAssembler()
        while not self._stop.is_set():
            report = transport.read(0.1)
            if report is None:
                continue
            try:
                data = assembler.feed(report)
            except HidPosError:
                assembler = HidPosAssembler()  # drop a garbled code, keep reading
                continue
            if data is not None:
                self.on_scan(data)


class SocketHidTransport:
    """Reports read from a TCP stream, 64 bytes each: how the sandbox HID POS emulator plays a device.

    There is no USB scanner (and no /dev/uhid) on a CI machine; the reports are the same bytes a device
    sends, so everything after the transport (assembly, routing) is the production code.
    """

    def __init__(self, host: str, port: int) -> None:
        import socket

        self._sock = socket.create_connection((host, port), timeout=5)
        self._buffer = b""

    def read(self, timeout: float) -> bytes | None:

        self._sock.settimeout(timeout)
        while len(self._buffer) < REPORT_SIZE:
            try:
                chunk = self._sock.recv(4096)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionError("HID POS emulator closed the stream")
            self._buffer += chunk
        report, self._buffer = self._buffer[:REPORT_SIZE], self._buffer[REPORT_SIZE:]
        return report

    def close(self) -> None:
        self._sock.close()
