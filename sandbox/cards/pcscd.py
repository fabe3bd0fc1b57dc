"""A private pcscd with its own vpcd slots, for tests and the sandbox (Linux).

Debian's pcscd 1.9.9 always listens on `/run/pcscd/pcscd.comm` (only the client library honours
`PCSCLITE_CSOCK_NAME`). So the daemon runs in its own mount namespace (`unshare --mount`, root) with
a private directory bound over `/run/pcscd`; clients reach it with `PCSCLITE_CSOCK_NAME` pointing at
that directory's socket. Its reader.conf.d holds one vpcd entry on a free port pair (vpcd listens on
`port` for slot "Virtual PCD 00 00" and `port + 1` for "Virtual PCD 00 01").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

VPCD_DRIVER_CANDIDATES = (Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so"),
                          Path("/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so"))
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"
READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")


def vpcd_driver() -> Path | None:
    return next((p for p in VPCD_DRIVER_CANDIDATES if p.exists()), None)


def private_pcscd_supported() -> str | None:
    """None when a private pcscd can run here, else why not (English, for skip reasons)."""
    if not shutil.which("pcscd"):
        return "pcscd not installed"
    if vpcd_driver() is None:
        return "vsmartcard-vpcd not installed"
    if not shutil.which("unshare") or os.geteuid() != 0:
        return "a private pcscd needs root and unshare (mount namespace)"
    return None


def free_port_pair() -> int:
    """A port p with p and p+1 free on loopback (vpcd listens on both)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for vpcd")


class PrivatePcscd:
    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port_pair()
        self.run_dir = root / "run"
        self.conf_dir = root / "reader.conf.d"
        self.log_path = root / "pcscd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "pcscd.comm"

    def env(self) -> dict[str, str]:
        return {SOCKET_ENV: str(self.socket_path)}

    def start(self, timeout: float = 5.0) -> None:
        driver = vpcd_driver()
        assert driver is not None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "vpcd").write_text(
            f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x{self.port:04X}\nLIBPATH {driver}\n'
            f"CHANNELID 0x{self.port:04X}\n")
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        script = f'mount --bind "{self.run_dir}" /run/pcscd && exec pcscd --foreground -c "{self.conf_dir}"'
        Path("/run/pcscd").mkdir(exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.socket_path.exists():
                return
            if self._proc.poll() is not None:
                self._proc = None
                raise RuntimeError(f"pcscd exited: {self.log_path.read_text(errors='replace')[-500:]}")
            time.sleep(0.02)
        self.kill()  # not left running (and holding the vpcd ports) behind a start reported failed
        raise RuntimeError("pcscd did not start in time")

    def kill(self) -> None:
        """Stop the daemon the hard way (as a crash or `systemctl restart` looks to clients)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=3)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
