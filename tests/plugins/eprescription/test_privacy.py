"""No patient or health data in the logs: ordonnances are created (OK, KO, timeout), printed, refused at DEBUG."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.eprescription.server import EprescriptionSandbox
from tests.plugins.eprescription.conftest import AgentFactory, Lgc, wait_until
from tests.plugins.eprescription.test_plugin_e2e import Consumer, _fake_lp
from tests.plugins.ins.test_privacy import debug_log, log_text

__all__ = ["debug_log"]

# Patient identity, INS and what is prescribed (health data) in tests/plugins/eprescription/data/ordonnance.json.
PERSONAL = ("Leroy", "LEROY", "Claire", "Martin", "MARTIN", "1984-06-15", "284067512345678", "2840675123456",
            "Paracétamol", "Lévothyroxine", "amoxicilline", "glycémie", "TSH", "fièvre")


async def test_privacy_eprescription_cycle_logs_no_patient_data(
        debug_log: Path, caplog: pytest.LogCaptureFixture, make_agent: AgentFactory, lgc_for: Any,
        ordonnance: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        ep_sandbox: EprescriptionSandbox) -> None:
    _fake_lp(tmp_path / "bin", tmp_path / "spool", fail=True)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    consumer = Consumer(failures=1)
    agent = await make_agent(extra={"dmp_stand_in": consumer}, timeout=0.3)
    now = time.time()
    await agent.store.execute(
        "INSERT INTO ins_identities (id, source, status, traits, traits_key, ins_matricule, ins_key, ins_oid,"
        " created_at, updated_at) VALUES ('id-qual', 'lgc', 'QUAL', '{}', 'k', '2840675123456', '78',"
        " '1.2.250.1.213.1.4.10', ?, ?)", (now, now))
    ordonnance["patient"]["identity_id"] = "id-qual"
    lgc: Lgc = await lgc_for(agent)
    for mode in ("ok", "ko", "timeout"):
        ep_sandbox.state.mode = mode  # the stand-in's own setting (its admin endpoint's)
        result = await lgc.result("prescription.create", {"prescription": ordonnance, "print": True})
        assert result["patient_ins_qualified"] is True and result["print"]["state"] == "failed"
    bad = dict(ordonnance, items=[dict(ordonnance["items"][0], posology=None)])
    assert (await lgc.call("prescription.create", {"prescription": bad}))["error"]["code"] == -32602
    await wait_until(lambda: len(consumer.documents) == 3, timeout=20, what="documents delivered after a retry")
    assert consumer.documents[0].patient_ins is not None  # the data was there to leak
    text = log_text(debug_log)
    assert '"level": "DEBUG"' in text
    assert "produced without 2D code" in text and "consumer dmp_stand_in failed" in text  # our lines are there
    leaks = [value for value in PERSONAL if value in text]
    assert not leaks, f"personal data in the log file: {leaks}\n" + "\n".join(
        line for line in text.splitlines() if any(v in line for v in leaks))
    found = [value for value in PERSONAL if value in caplog.text]
    assert not found, f"personal data in the captured log text: {found}"
