"""`vigie run --sandbox` end to end: stand-ins, profile, agent child, demo page, Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomli_w

from tests.conftest import PYTHON, free_port, subprocess_env

pytestmark = pytest.mark.slow

MY_TOKEN = "practice-token-0123456789abcdef"


def read_banner(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        if "Ctrl-C pour tout arrêter" in line:
            return "".join(lines)
    raise AssertionError("sandbox did not print its banner:\n" + "".join(lines))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[dict[str, Any]]:
    home = tmp_path / "home"
    port = free_port()
    given = tmp_path / "mine.toml"
    given.write_text(tomli_w.dumps({"api": {"port": port, "tokens": [MY_TOKEN],
                                            "allowed_origins": ["https://lgc.example"]}}))
    proc = subprocess.Popen(
        [PYTHON, "-m", "agent.cli", "run", "--sandbox", "--headless", "--config", str(given)],
        env=subprocess_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        banner = read_banner(proc)
        demo = re.search(r"Page LGC de démo\s*: (\S+)", banner)
        profile = re.search(r"Profil jetable\s*: (\S+)", banner)
        token = re.search(r"Jeton de test\s*: (\S+)", banner)
        assert demo and profile and token, banner
        yield {"proc": proc, "port": port, "demo": demo.group(1), "profile": Path(profile.group(1)),
               "token": token.group(1), "home": home, "banner": banner}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_sandbox_brings_up_agent_demo_page_and_stops_everything(sandbox: dict[str, Any]) -> None:
    port, demo = sandbox["port"], sandbox["demo"]
    api = f"http://127.0.0.1:{port}"
    assert f"API locale           : {api}" in sandbox["banner"]
    profile = sandbox["profile"]
    config_text = (profile / "config.toml").read_text()
    assert MY_TOKEN in config_text and "https://lgc.example" in config_text  # given API settings kept
    demo_origin = demo.rstrip("/")

    async with aiohttp.ClientSession() as session:
        async with session.get(demo) as resp:
            assert resp.status == 200 and "LGC de démonstration" in await resp.text()
        async with session.get(f"{demo}config.js") as resp:
            assert f"ws://127.0.0.1:{port}/ws" in await resp.text()
        # The demo page's origin pairs through the real flow; the sandbox consents automatically.
        async with session.ws_connect(f"ws://127.0.0.1:{port}/ws", headers={"Origin": demo_origin}) as ws:
            await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "pairing.request",
                                "params": {"client_name": "LGC de démonstration"}})
            paired = await ws.receive_json(timeout=10)
            assert "token" in paired["result"]
            await ws.send_json({"jsonrpc": "2.0", "id": 2, "method": "agent.info", "params": {}})
            info = (await ws.receive_json(timeout=10))["result"]
            assert info["sandbox"] is True
            # The INS plugin talks to the INSi sandbox the supervisor started (mTLS, test PKI).
            # /health answers before the plugins have started: -32004 "pas prêt" until then.
            submit = {"traits": {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F",
                                 "birth_date": "1997-02-26"}}
            events: list[dict[str, Any]] = []
            for call_id in range(3, 50):
                await ws.send_json({"jsonrpc": "2.0", "id": call_id, "method": "identity.submit", "params": submit})
                while (reply := await ws.receive_json(timeout=10)).get("id") != call_id:
                    events.append(reply)
                if "result" in reply:
                    break
                assert reply["error"]["code"] == -32004, reply
                await asyncio.sleep(0.2)
            assert reply["result"]["status"] == "PROV"
            while not any(e.get("method") == "identity.updated" and e["params"]["insi_outcome"] == "found"
                          for e in events):
                events.append(await ws.receive_json(timeout=15))
            assert events[-1] == {"jsonrpc": "2.0", "method": "identity.updated", "params": {
                "identity_id": reply["result"]["identity_id"], "status": "RECUP", "insi_outcome": "found"}}
        # The practice's own token still works, over HTTP.
        async with session.post(f"{api}/rpc", headers={"Authorization": f"Bearer {MY_TOKEN}"},
                                json={"jsonrpc": "2.0", "id": 1, "method": "agent.info"}) as resp:
            assert (await resp.json())["result"]["sandbox"] is True
        # The DMP plugin (it starts after INS) got the DMP stand-in's settings and, through the keyring, the
        # structure certificate's passphrase.
        for _ in range(100):
            async with session.post(f"{api}/rpc", headers={"Authorization": f"Bearer {MY_TOKEN}"},
                                    json={"jsonrpc": "2.0", "id": 1, "method": "agent.info"}) as resp:
                dmp = (await resp.json())["result"]["services"]["dmp"]
            if dmp["state"] != "non démarré":
                break
            await asyncio.sleep(0.2)
        assert dmp["state"] == "ok" and dmp["last_error"] is None, dmp
        # A hostile origin is still refused before the upgrade.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"ws://127.0.0.1:{port}/ws", headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403

    # CLI commands find the running sandbox agent without --config (pointer file).
    out = subprocess.run([PYTHON, "-m", "agent.cli", "plugins"], env=subprocess_env(sandbox["home"]),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "agent en marche" in out.stdout and "core" in out.stdout
    assert re.search(r"ins\s+\S+\s+ok", out.stdout), out.stdout
    insi = re.search(r"Service insi\s*: (\S+)", sandbox["banner"])
    assert insi, sandbox["banner"]

    proc = sandbox["proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{api}/health", timeout=1)
    with pytest.raises(OSError):
        urllib.request.urlopen(demo, timeout=1)
    insi_url = urllib.parse.urlsplit(insi.group(1))
    with pytest.raises(ConnectionRefusedError):  # the INSi stand-in stopped too
        socket.create_connection((insi_url.hostname, insi_url.port), timeout=1).close()
    assert not profile.exists()
    assert list((sandbox["home"] / "state" / "vigie").glob("sandbox*.json")) == []  # its pointer is gone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; orphans re-parented on POSIX")
def test_the_sandbox_agent_stops_when_its_supervisor_is_killed(tmp_path: Path) -> None:
    # A leftover agent kept reading its recycled /dev/pts/N and took a later sandbox's serial scans.
    agent = ("import time\nfrom sandbox.child import stop_when_orphaned\nstop_when_orphaned(0.05)\n"
             "print('ready', flush=True)\ntime.sleep(60)\n")
    supervisor = ("import subprocess, sys\n"
                  f"child = subprocess.Popen([sys.executable, '-c', {agent!r}], stdout=subprocess.PIPE,\n"
                  "                         stderr=subprocess.DEVNULL, text=True)\n"
                  "assert child.stdout.readline() == 'ready\\n'\nprint(child.pid, flush=True)\n"
                  "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([PYTHON, "-c", supervisor], capture_output=True, text=True, timeout=60,
                          env=subprocess_env(tmp_path))
    assert done.returncode == -signal.SIGKILL, done.stderr
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not _alive(pid)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)  # our own grandchild, left behind by the failure


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie (reaped later by init) counts as stopped
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
