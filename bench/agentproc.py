"""The real agent as a subprocess (`vigie run --headless --config FILE`), for benchmarks.

Isolated like the test suite's subprocesses (tests/conftest.py `subprocess_env`): no `VIGIE_*`
variable from the caller, HOME and XDG directories inside a throwaway profile, and the in-memory
keyring the sandbox uses, so a benchmark never reads or writes the developer's real settings.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import tomli_w

from agent.config import config_from_dict, config_to_dict

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123456789abcdef"
START_TIMEOUT = 20.0  # seconds before a start that never answers /health counts as a failure
STOP_TIMEOUT = 10.0  # seconds after SIGTERM before the agent is killed
POLL = 0.005  # seconds between /health probes: the start time is known to within this
ANNOUNCE = b"Ctrl-C"  # the end of the line `vigie run` prints once every plugin's startup has run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def vigie_command() -> list[str]:
    """The installed `vigie` script of this interpreter's environment (else `python -m agent.cli`)."""
    script = Path(sys.executable).parent / "vigie"
    return [str(script)] if script.exists() else [sys.executable, "-m", "agent.cli"]


def shown(cmd: Sequence[str]) -> str:
    """A command as documentation shows it: paths inside the repository made relative to it."""
    parts = []
    for part in cmd:
        try:
            parts.append(str(Path(part).relative_to(REPO)))
        except ValueError:
            parts.append(part)
    return shlex.join(parts)


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env["PYTHON_KEYRING_BACKEND"] = "agent.secrets.MemoryKeyring"  # never the developer's keyring
    env["PYTHONPATH"] = str(REPO)
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"),
                     ("XDG_CACHE_HOME", "cache")):
        env[var] = str(home / sub)
    env["HOME"] = str(home)
    return env


@dataclass
class Profile:
    """A throwaway profile: config file, store, logs and home, all under `root`."""

    root: Path
    api: dict[str, Any] = field(default_factory=dict)  # `[api]` keys on top of the token and port
    disabled_plugins: list[str] = field(default_factory=list)
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)  # `[plugins.<name>]` tables
    sandbox: bool = False

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def store_path(self) -> Path:
        return self.root / "store" / "vigie.sqlite3"

    def write_config(self, port: int) -> Path:
        """Write `config.toml` for an agent on `port` (each start may take a new free port)."""
        config = config_from_dict({
            "api": {"tokens": [TOKEN], **self.api, "port": port},
            "store": {"path": str(self.store_path)},
            "log": {"dir": str(self.root / "logs")},
            "disabled_plugins": self.disabled_plugins,
            "plugins": self.plugins,
            "sandbox": self.sandbox,
        })
        path = self.root / "config.toml"
        self.home.mkdir(parents=True, exist_ok=True)
        path.write_text(tomli_w.dumps(config_to_dict(config)), encoding="utf-8")
        return path

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class AgentProcess:
    """One `vigie run --headless` child. Use as a context manager: it is killed on the way out."""

    def __init__(self, profile: Profile, label: str = "agent", *, cprofile_to: Path | None = None,
                 secrets: dict[str, str] | None = None, command: Sequence[str] | None = None) -> None:
        self.profile = profile
        self.command = list(command) if command is not None else vigie_command()  # e.g. the frozen build
        self.label = label
        # Run the agent under cProfile, its statistics written to this file when it exits (SIGTERM).
        self.cprofile_to = cprofile_to
        # Put in the agent's (in-memory) keyring before it starts (bench.seeded_agent), e.g. the INSi passphrase.
        self.secrets = secrets
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = profile.root / f"{label}.stdout"
        self.stderr_path = profile.root / f"{label}.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.launched_at = 0.0

    def __enter__(self) -> AgentProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.kill()

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("agent not started")
        return self.proc.pid

    # -- start -----------------------------------------------------------------------------
    def start(self) -> float:
        """Launch the agent; return the seconds from launch to `/health` answering `ok`."""
        config = self.profile.write_config(self.port)
        module = ["-m", "agent.cli"]
        if self.secrets is not None:
            secrets_file = self.profile.root / f"{self.label}.secrets.json"
            fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.secrets, fh)
            module = ["-m", "bench.seeded_agent", str(secrets_file)]
        if self.cprofile_to is not None:
            program = [sys.executable, "-m", "cProfile", "-o", str(self.cprofile_to), *module]
        elif self.secrets is not None:
            program = [sys.executable, *module]
        else:
            program = self.command  # the venv's vigie, or a frozen build's executable
        cmd = [*program, "run", "--headless", "--config", str(config)]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.launched_at = time.perf_counter()
            self.proc = subprocess.Popen(cmd, env=isolated_env(self.profile.home), stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=self.profile.root)
        deadline = self.launched_at + START_TIMEOUT
        while True:
            if self._health_ok():
                return time.perf_counter() - self.launched_at
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode} before answering /health: "
                                   f"{self.stderr_tail()}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.label} did not answer /health within {START_TIMEOUT:.0f} s: "
                                   f"{self.stderr_tail()}")
            time.sleep(POLL)

    def _health_ok(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            return resp.status == 200 and json.loads(resp.read()).get("status") == "ok"
        except (OSError, ValueError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def wait_started(self, timeout: float = START_TIMEOUT) -> float:
        """Wait for the line `vigie run` prints after every plugin's `startup`; seconds since launch."""
        deadline = time.perf_counter() + timeout
        while ANNOUNCE not in self.stdout_path.read_bytes():
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited before announcing its start: {self.stderr_tail()}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.label} did not announce its start within {timeout:.0f} s")
            time.sleep(POLL)
        return time.perf_counter() - self.launched_at

    # -- measures --------------------------------------------------------------------------------
    def rss_mib(self) -> float:
        """Resident set size (VmRSS) now, in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB
        raise RuntimeError("VmRSS not found")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole process (every thread) so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces or ')'
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def rpc(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC call over `POST /rpc` with the profile's token."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
        req = urllib.request.Request(f"{self.url}/rpc", data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.load(resp)
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        return answer["result"]

    # -- stop ----------------------------------------------------------------------------------
    def terminate(self) -> float:
        """SIGTERM; return the seconds until the process has exited. Killed after STOP_TIMEOUT."""
        if self.proc is None:
            raise RuntimeError("agent not started")
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"{self.label} still running {STOP_TIMEOUT:.0f} s after SIGTERM (killed)") from None
        elapsed = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"{self.label} exited with {code} after SIGTERM: {self.stderr_tail()}")
        return elapsed

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)

    def stderr_tail(self, chars: int = 2000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-chars:].strip() or "(no stderr)"
        except OSError:
            return "(no stderr)"
