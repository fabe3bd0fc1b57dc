"""A barcode scanner stand-in for tests and `make run`: a serial scanner on a pty pair and a USB HID POS
scanner over a loopback socket, driven through a small control port.

* Serial: `os.openpty()`; the agent opens the slave path with pyserial exactly as it opens
  `/dev/ttyACM0` or `COM3`; the emulator writes the code and a CR to the master side.
* HID POS: there is no USB device (nor /dev/uhid) here, so the emulator serves the 64-byte input reports a
  Honeywell scanner sends (`hardware.scanners.hidpos.encode_reports`) on a TCP port the agent reads
  through `SocketHidTransport`; everything after the transport is the production path.
* Control: one JSON line `{"via": "serial"|"hid", "data_base64": ...}` per connection, answered
  `{"ok": true}` (used by `vigie sandbox scan` and the tray's sandbox entry).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hardware.scanners.hidpos import encode_reports
from sandbox.scanner.identities import sandbox_payload


class EmulatorError(RuntimeError):
    """The emulator cannot make the asked scan (French message)."""


@dataclass
class ScannerEmulator:
    serial_path: str | None
    _master: int | None
    _slave: int | None
    hid_port: int = 0
    control_port: int = 0
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)
    _hid_clients: list[asyncio.StreamWriter] = field(default_factory=list)
    sent: list[tuple[str, bytes]] = field(default_factory=list)

    # -- scanning ------------------------------------------------------------------------------
    async def scan(self, data: bytes, via: str = "serial", suffix: bytes = b"\r") -> None:
        if via == "serial":
            if self._master is None:
                raise EmulatorError("pas de port série simulé sur ce système (pty)")
            await asyncio.to_thread(os.write, self._master, data + suffix)
        elif via == "hid":
            if not self._hid_clients:
                raise EmulatorError("aucun lecteur HID POS de l'agent n'est connecté à l'émulateur "
                                    "(scanner HID désactivé ou agent arrêté)")
            for writer in list(self._hid_clients):
                for report in encode_reports(data):
                    writer.write(report)
                await writer.drain()
        else:
            raise EmulatorError(f"mode d'envoi inconnu : {via!r} (serial ou hid)")
        self.sent.append((via, data))

    async def unplug_hid(self) -> None:
        """Drop every HID POS reader's connection, as when the scanner's cable is pulled."""
        for writer in list(self._hid_clients):
            writer.close()
        deadline = asyncio.get_running_loop().time() + 5
        while self._hid_clients:  # each reader's handler removes itself when its connection ends
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("HID POS readers still connected")
            await asyncio.sleep(0.01)

    async def wait_hid_reader(self, timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._hid_clients:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the agent did not connect to the HID POS emulator")
            await asyncio.sleep(0.02)

    # -- servers ----------------------------------------------------------------------------------
    async def _on_hid(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._hid_clients.append(writer)
        try:
            await reader.read()  # the reader never writes; returns when it disconnects
        finally:
            self._hid_clients.remove(writer)
            writer.close()

    async def _on_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            order = json.loads(line)
            await self.scan(base64.b64decode(order["data_base64"]), order.get("via", "serial"))
            answer: dict[str, Any] = {"ok": True}
        except EmulatorError as exc:  # French, shown to the user by the tray and `vigie sandbox scan`
            answer = {"ok": False, "error": str(exc)}
        except Exception as exc:
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        writer.write(json.dumps(answer).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def stop(self) -> None:
        for writer in list(self._hid_clients):
            writer.close()
        for server in self._servers:
            server.close()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    @property
    def control_url(self) -> str:
        return f"tcp://127.0.0.1:{self.control_port}"

    def plugin_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"hid_emulator": f"tcp://127.0.0.1:{self.hid_port}"}
        if self.serial_path:
            settings["serial"] = [{"port": self.serial_path, "baudrate": 9600}]
        return settings

    def as_service(self) -> Any:
        from sandbox.supervisor import SandboxService

        return SandboxService(name="scanner", endpoints={"scanner": self.control_url}, stop=self.stop,
                              plugin_settings={"scanner": self.plugin_settings()})


async def start_scanner_emulator() -> ScannerEmulator:
    master = slave = None
    path = None
    if sys.platform != "win32":
        import tty

        master, slave = os.openpty()
        tty.setraw(slave)  # no CR/LF translation: the agent sees the scanner's bytes
        path = os.ttyname(slave)
    emulator = ScannerEmulator(serial_path=path, _master=master, _slave=slave)
    hid = await asyncio.start_server(emulator._on_hid, "127.0.0.1", 0)
    control = await asyncio.start_server(emulator._on_control, "127.0.0.1", 0)
    emulator._servers = [hid, control]
    emulator.hid_port = hid.sockets[0].getsockname()[1]
    emulator.control_port = control.sockets[0].getsockname()[1]
    return emulator


async def send_to_emulator(url: str, *, identity: str | None = None, first_name: str | None = None,
                           data: bytes | None = None, via: str = "serial") -> None:
    """Ask a running emulator to scan a test identity's Datamatrix (or `data`)."""
    payload = data if data is not None else sandbox_payload(identity or "ADRTROIS", first_name).encode()
    parts = urlsplit(url)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, parts.port), 5)
    try:
        writer.write(json.dumps({"via": via, "data_base64": base64.b64encode(payload).decode()}).encode() + b"\n")
        await writer.drain()
        answer = json.loads(await asyncio.wait_for(reader.readline(), 5))
    finally:
        writer.close()
    if not answer.get("ok"):
        raise EmulatorError(str(answer.get("error") or "refus sans motif"))
