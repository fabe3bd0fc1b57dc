"""Start-of-day batch: bounded concurrency at the INSi sandbox, rate limit, progress events, resumable."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from agent.app import Agent
from agent.config import config_to_dict
from plugins.ins.lookups import _RateLimiter
from sandbox.insi.identities import synthetic_identities
from sandbox.insi.server import InsiSandbox
from tests.conftest import REPO, free_port, subprocess_env
from tests.plugins.ins.conftest import DOMINIQUE, AgentFactory, Lgc, ins_config, wait_until

LgcFactory = Callable[[Agent], Awaitable[Lgc]]


def patients(count: int) -> list[dict[str, Any]]:
    return [{"local_id": f"p{i}", "traits": {k: row[k] for k in ("birth_name", "sex", "birth_date", "birth_place")}
             | {"first_names": [row["first_names"]]}}
            for i, row in enumerate(synthetic_identities(count))]


async def states(agent: Agent) -> dict[str, int]:
    rows = await agent.store.fetchall("SELECT status, COUNT(*) AS n FROM ins_identities GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def test_batch_runs_with_bounded_concurrency_and_reports_progress(
        make_agent: AgentFactory, lgc_for: LgcFactory, insi_sandbox: InsiSandbox) -> None:
    count, concurrency = 24, 4
    insi_sandbox.configure(extra_identities=synthetic_identities(count), latency=0.05)
    agent = await make_agent(batch_concurrency=concurrency, batch_rate_per_second=1000)
    lgc = await lgc_for(agent)
    result = await lgc.result("identity.batch", {"patients": patients(count)})
    assert (result["total"], result["queued"], result["skipped"], result["rejected"]) == (count, count, 0, [])
    batch_id = result["batch_id"]
    await lgc.event("batch.progress", lambda p: p["batch_id"] == batch_id and p["done"] == count, timeout=20)
    assert await states(agent) == {"RECUP": count}
    # Concurrency counted where it matters: requests in flight at the service.
    assert insi_sandbox.stats.max_in_flight == concurrency
    assert insi_sandbox.stats.total == count
    progress = [e["params"]["done"] for e in lgc.events if e["method"] == "batch.progress"]
    assert progress == sorted(progress) and progress[0] == 0


async def test_batch_rate_limiter_spaces_calls(monkeypatch: Any) -> None:
    """Deterministic: a fake clock and a recorded sleep (arrival times at a server would be timing noise)."""
    now = [100.0]
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("plugins.ins.lookups.asyncio.sleep", fake_sleep)
    limiter = _RateLimiter(20.0, clock=lambda: now[0])
    for _ in range(4):  # four workers asking at the same instant
        await limiter.wait()
    assert slept == pytest.approx([0.05, 0.10, 0.15])
    now[0] += 1.0  # idle for a second: no debt, no burst credit either
    await limiter.wait()
    assert len(slept) == 3


async def test_batch_skips_qualified_and_rejects_invalid_rows(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                              insi_sandbox: InsiSandbox) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    identity_id = (await lgc.result("identity.submit", {"local_id": "dom", "traits": DOMINIQUE}))["identity_id"]
    await lgc.event("identity.updated", lambda p: p["identity_id"] == identity_id and p["status"] == "RECUP")
    await lgc.result("identity.qualify", {"identity_id": identity_id, "method": "attestation"})
    toussaint = {"birth_name": "ADRTROIS", "first_names": ["TOUSSAINT"], "sex": "M", "birth_date": "1960-01-01"}
    result = await lgc.result("identity.batch", {"patients": [
        {"local_id": "dom", "traits": DOMINIQUE},
        {"local_id": "tou", "traits": toussaint},
        {"local_id": "bad", "traits": {**DOMINIQUE, "birth_date": "26/02/1997"}},
    ]})
    assert (result["total"], result["queued"], result["skipped"]) == (2, 1, 1)
    assert [r["position"] for r in result["rejected"]] == [2]
    assert "date" in result["rejected"][0]["message"]
    await lgc.event("batch.progress", lambda p: p["batch_id"] == result["batch_id"] and p["done"] == 2)
    assert insi_sandbox.stats.total == 2  # DOMINIQUE once (before qualification), TOUSSAINT once


async def test_batch_resumes_after_the_agent_stops_midway(tmp_path: Path, insi_sandbox: InsiSandbox,
                                                          lgc_for: LgcFactory) -> None:
    count = 12
    insi_sandbox.configure(extra_identities=synthetic_identities(count), latency=0.2)
    config = ins_config(tmp_path, insi_sandbox, batch_concurrency=2, batch_rate_per_second=1000)
    agent = Agent(config)
    await agent.start()
    await wait_until(lambda: agent.plugins.states["ins"].started)
    lgc = await lgc_for(agent)
    batch_id = (await lgc.result("identity.batch", {"patients": patients(count)}))["batch_id"]
    await lgc.event("batch.progress", lambda p: p["batch_id"] == batch_id and p["done"] >= 2)
    await agent.stop()  # mid-batch: pending jobs stay in the durable outbox
    again = Agent(config)
    await again.start()
    try:
        lgc2 = await lgc_for(again)
        await lgc2.event("batch.progress", lambda p: p["batch_id"] == batch_id and p["done"] == count, timeout=20)
        assert await states(again) == {"RECUP": count}
        calls = await again.store.fetchone("SELECT COUNT(DISTINCT identity_id) AS n FROM ins_insi_calls")
        assert calls is not None and calls["n"] == count
    finally:
        await again.stop()


def test_batch_cli_sends_the_csv_to_the_running_agent(tmp_path: Path, insi_sandbox: InsiSandbox) -> None:
    """`vigie ins batch FILE.csv` reaches the agent (a real subprocess) through the local API."""
    csv_file = tmp_path / "jour.csv"
    csv_file.write_text("local_id;birth_name;first_names;sex;birth_date\n"
                        "1;ADRTROIS;DOMINIQUE;F;1997-02-26\n2;ADRTROIS;TOUSSAINT;M;1960-01-01\n"
                        "3;ADRTROIS;DOMINIQUE;F;26/02/1997\n", encoding="utf-8")
    config = ins_config(tmp_path, insi_sandbox)
    data = config_to_dict(config)
    data["api"]["port"] = free_port()
    data["sandbox"] = True
    config_file = tmp_path / "vigie.toml"
    config_file.write_text(tomli_w.dumps(data), encoding="utf-8")
    # The passphrase reaches the subprocess's in-memory keyring as in `vigie run --sandbox`: the sandbox's agent
    # process (sandbox/child.py) seeds it from a secrets file, then deletes the file.
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps(insi_sandbox.secrets()), encoding="utf-8")
    env = subprocess_env(tmp_path / "home")
    agent = subprocess.Popen([sys.executable, "-m", "sandbox.child", "--headless", "--config", str(config_file),
                              "--secrets", str(secrets_file)],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:  # until the agent listens and its INS plugin has started
            answer = subprocess.run([sys.executable, "-m", "agent.cli", "ins", "batch", str(csv_file),
                                     "--config", str(config_file)], cwd=REPO, env=env, capture_output=True,
                                    text=True, timeout=30)
            if answer.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert answer.returncode == 0, (answer.stdout, answer.stderr)
        assert "2 patient(s), 2 interrogation(s) INSi" in answer.stdout
        assert "ligne 4" in answer.stderr
        assert not secrets_file.exists()  # read once into the keyring, then deleted
    finally:
        agent.terminate()
        agent.wait(10)
