"""`vigie sandbox run --practice` (`make run PRACTICE=1`): two workstations of one practice on a throwaway
PostgreSQL, each with its agent and demo page; an identity submitted at reception is read in the room."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sandbox.practice_db import _bindir
from tests.conftest import PYTHON, free_port, subprocess_env
from tests.sandbox.test_supervisor import read_banner

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(_bindir() is None, reason="PostgreSQL server not installed (.ci/run installs it)")]

DOMINIQUE = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F", "birth_date": "1997-02-26"}


def rpc(api: str, token: str, method: str, params: dict[str, Any] | None = None) -> Any:
    """The call's result; while its plugin is still starting (-32004, the banner comes first), ask again."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    deadline = time.monotonic() + 30
    while True:
        req = urllib.request.Request(f"{api}/rpc", data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.load(resp)
        if answer.get("error", {}).get("code") != -32004 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert "result" in answer, answer
    return answer["result"]


def test_practice_sandbox_two_workstations_share_one_database(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([PYTHON, "-m", "agent.cli", "sandbox", "run", "--practice", "--headless",
                             "--port", str(port)],
                            env=subprocess_env(tmp_path / "home"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        banner = read_banner(proc, timeout=60)
        apis = re.findall(r"API locale\s*: (\S+)", banner)
        tokens = re.findall(r"Jeton de test\s*: (\S+)", banner)
        demos = re.findall(r"Page LGC de démo\s*: (\S+)", banner)
        profiles = [Path(p) for p in re.findall(r"Profil jetable\s*: (\S+)", banner)]
        assert "Poste « accueil »" in banner and "Poste « cabinet »" in banner, banner
        assert len(apis) == len(tokens) == len(demos) == 2 and len(set(demos)) == 2, banner
        assert "Base du cabinet" in banner and apis[0] == f"http://127.0.0.1:{port}"
        (reception, t_reception), (room, t_room) = zip(apis, tokens, strict=True)

        submitted = rpc(reception, t_reception, "identity.submit", {"local_id": "42", "traits": DOMINIQUE})
        identity_id = submitted["identity_id"]
        deadline = time.monotonic() + 20
        while (seen := rpc(room, t_room, "identity.get", {"identity_id": identity_id}))["status"] != "RECUP":
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
        assert rpc(room, t_room, "agent.info")["services"]["store"]["kind"] == "postgresql"
        # The reception has the scanner, the consulting room the card readers.
        plugins = {api: {p["name"] for p in rpc(api, tok, "agent.info")["plugins"] if p["status"] != "disabled"}
                   for api, tok in zip(apis, tokens, strict=True)}
        assert "scanner" in plugins[reception] and "cards" not in plugins[reception]
        assert "cards" in plugins[room] and "scanner" not in plugins[room]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert not any(p.exists() for p in profiles)  # profiles and the throwaway cluster are gone
