"""A sandbox agent whose supervisor was killed (SIGKILL: nothing could stop it) stops by itself.

An orphaned agent kept its virtual serial scanner's pty open and reopened the path every few seconds, so a
later sandbox handed the same /dev/pts number lost scans to it (seen as a flaky scanner test)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PYTHON, free_port, subprocess_env
from tests.sandbox.test_supervisor import read_banner

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_sandbox_child_stops_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([PYTHON, "-m", "agent.cli", "run", "--sandbox", "--headless", "--port", str(port)],
                            env=subprocess_env(tmp_path / "home"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    child = None
    try:
        banner = read_banner(proc, timeout=60)
        token = re.search(r"Jeton de test\s*: (\S+)", banner)
        assert token, banner
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "sandbox.info", "params": {}}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/rpc", data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token.group(1)}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            child = int(json.load(resp)["result"]["pid"])
        assert child != proc.pid and _alive(child)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the orphaned sandbox agent is still running"
    finally:
        if proc.poll() is None:
            proc.kill()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)
