"""kill -9 of the agent while an ITI-41 is in flight (stored by the DMP, answer not received): on restart the
agent asks the DMP (TD3.1 by uniqueId) and does not send a second copy."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from agent.app import Agent
from agent.config import config_from_dict, config_to_dict
from agent.secrets import SecretStore
from plugins.dmp.metadata import unique_id
from plugins.dmp.settings import PKCS12_SECRET
from sandbox.dmp.server import DmpSandbox
from tests.conftest import PYTHON, TEST_TOKEN, free_port, subprocess_env
from tests.plugins.dmp.conftest import INS, INS_OID, PDF


def _rpc(port: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/rpc", data=body, headers={
        "Authorization": f"Bearer {TEST_TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, Any] = json.load(answer)
        return result


async def _up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "agent did not come up"
            await asyncio.sleep(0.1)


def _state(store: Path, document_id: str) -> tuple[str, int] | None:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT state, in_flight FROM dmp_documents WHERE document_id = ?",
                           (document_id,)).fetchone()
        return (row[0], row[1]) if row else None
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


@pytest.mark.slow
async def test_dmp_crash_kill9_during_send_gives_exactly_one_copy(tmp_path: Path, dmp_sandbox: DmpSandbox) -> None:
    port = free_port()
    store = tmp_path / "store" / "vigie.sqlite3"
    settings = dmp_sandbox.plugin_settings()
    config = config_from_dict({
        "api": {"port": port, "tokens": [TEST_TOKEN], "allowed_origins": ["http://lgc.test"]},
        "store": {"path": str(store)}, "log": {"dir": str(tmp_path / "logs")},
        "plugins": {"dmp": settings},
        "disabled_plugins": ["ui", "scanner", "cards", "eprescription", "sandbox-cards", "sandbox-scanner"],
    })
    # A qualified identity, as the INS plugin leaves it (its tables exist once an agent ran on the store).
    SecretStore().set(PKCS12_SECRET, dmp_sandbox.secrets()[PKCS12_SECRET])
    seeding = Agent(config)
    await seeding.start()
    now = time.time()
    await seeding.store.execute(
        "INSERT INTO ins_identities (id, source, status, traits, traits_key, ins_matricule, ins_key, ins_oid, "
        "created_at, updated_at) VALUES ('id-1', 'lgc', 'QUAL', ?, 'k', ?, ?, ?, ?, ?)",
        (json.dumps({"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F", "birth_date": "1997-02-26"}),
         INS[:13], INS[13:], INS_OID, now, now))
    await seeding.stop()
    cfg = tmp_path / "config.toml"
    cfg.write_text(tomli_w.dumps(config_to_dict(config)))
    secrets = tmp_path / "secrets.json"  # the sandbox's agent process puts them in its keyring, then deletes the file
    command = [PYTHON, "-m", "sandbox.child", "--headless", "--config", str(cfg), "--secrets", str(secrets)]

    # The DMP stores the document, then holds its answer: the agent is killed while it waits.
    dmp_sandbox.configure(faults=[{"kind": "hold_after_store", "action": "ProvideAndRegisterDocumentSet-b",
                                   "times": 1, "delay": 30.0}])
    secrets.write_text(json.dumps(dmp_sandbox.secrets()))
    first = subprocess.Popen(command, env=subprocess_env(tmp_path / "home"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    document_id = "crash-doc-1"
    try:
        await _up(port, first)
        params = {"document": {
            "id": document_id, "identity_id": "id-1", "pdf": base64.b64encode(PDF).decode(), "title": "Ordonnance",
            "kind": "medicines", "author": {"name": "Dr Olivier Sandbox", "rpps": "10003456789"}}}
        answer = await asyncio.to_thread(_rpc, port, "dmp.send", params)
        while answer.get("error", {}).get("code") == -32004:  # the plugin is still starting
            await asyncio.sleep(0.1)
            answer = await asyncio.to_thread(_rpc, port, "dmp.send", params)
        assert "result" in answer and answer["result"]["state"] in ("queued", "sending"), answer
        uid = unique_id(document_id)
        deadline = time.monotonic() + 20
        while dmp_sandbox.copies(uid) == 0:
            assert time.monotonic() < deadline, "the ITI-41 never reached the sandbox"
            await asyncio.sleep(0.05)
        assert _state(store, document_id) == ("sending", 1)  # in flight, on disk
        first.kill()  # SIGKILL: no shutdown code runs
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    sent_before = len([e for e in dmp_sandbox.exchanges if "ProvideAndRegister" in e.action])
    secrets.write_text(json.dumps(dmp_sandbox.secrets()))
    second = subprocess.Popen(command, env=subprocess_env(tmp_path / "home"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        await _up(port, second)
        deadline = time.monotonic() + 30
        while _state(store, document_id) != ("sent", 0):
            assert time.monotonic() < deadline, f"not sent after restart: {_state(store, document_id)}"
            await asyncio.sleep(0.1)
    finally:
        second.terminate()
        second.wait(timeout=15)
    assert dmp_sandbox.copies(uid) == 1
    after = dmp_sandbox.exchanges
    assert len([e for e in after if "ProvideAndRegister" in e.action]) == sent_before  # no second ITI-41
    assert any(e.action.endswith("RegistryStoredQuery") for e in after)  # it asked first (TD3.1 by uniqueId)
    assert [e.validated for e in after if "ProvideAndRegister" in e.action] == [True]
