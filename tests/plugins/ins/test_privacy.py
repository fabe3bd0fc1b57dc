"""No patient data in the logs: a whole INS cycle runs at DEBUG and the log file is searched for it.

The agent writes its logs as JSON lines to `vigie.log` in `[log] dir` (agent/logging.py, set up by the
CLI with `[log] level`); here the same `setup_logging` is called with the test agent's configuration and
level DEBUG, so every hook trace, outbox line and INSi client line of the cycle is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import config_from_dict
from agent.hookcall import call_each
from agent.logging import setup_logging
from hardware.ports import VitaleBeneficiary, VitaleCard
from sandbox.insi.server import InsiSandbox
from tests.plugins.ins.conftest import DOMINIQUE, AgentFactory, Lgc

LgcFactory = Callable[[Agent], Awaitable[Lgc]]

# ADRTROIS DOMINIQUE of the INSi test book (tests/fixtures/insi/REP_CR00_ADRTROIS_DOMINIQUE.xml).
PERSONAL = ("297022A020778", "297022A02077878", "ADRTROIS", "DOMINIQUE", "1997-02-26", "19970226", "2A020",
            "Adrtrois", "Dominique")


@pytest.fixture
def debug_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Path]:
    """The agent's file logging at DEBUG, as `vigie run` configures it from `[log]`."""
    log_config = config_from_dict({"log": {"level": "DEBUG", "dir": str(tmp_path / "logs")}}).log
    assert log_config.level == "DEBUG"
    previous = logging.getLogger().level
    caplog.set_level(logging.DEBUG)
    path = setup_logging(log_config.level, log_config.dir, console=False)
    assert path == tmp_path / "logs" / "vigie.log"
    yield path
    setup_logging("WARNING", None, console=False)  # detach and close the file handler
    logging.getLogger().setLevel(previous)


def log_text(path: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    files = sorted(path.parent.glob("vigie.log*"))  # the rotated ones too
    text = "".join(f.read_text(encoding="utf-8") for f in files)
    for line in text.splitlines():
        json.loads(line)  # JSON lines, nothing else
    return text


def assert_no_personal_data(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = log_text(path)
    # The cycle did run and was logged at DEBUG: an empty file would prove nothing.
    assert '"level": "DEBUG"' in text
    leaks = [value for value in PERSONAL if value in text]
    assert not leaks, f"personal data in the log file: {leaks}\n" + "\n".join(
        line for line in text.splitlines() if any(v in line for v in leaks))
    assert caplog.records
    for record in caplog.records:
        rendered = record.getMessage() + " " + repr({k: v for k, v in vars(record).items()
                                                     if k not in ("msg", "args", "message")})
        found = [value for value in PERSONAL if value in rendered]
        assert not found, f"personal data in a log record: {found}: {rendered}"
    found = [value for value in PERSONAL if value in caplog.text]
    assert not found, f"personal data in the captured log text: {found}"


async def test_privacy_submit_insi_qualify_cycle_logs_no_patient_data(
        debug_log: Path, caplog: pytest.LogCaptureFixture, make_agent: AgentFactory, lgc_for: LgcFactory) -> None:
    agent = await make_agent()
    assert agent.config.log.dir == debug_log.parent  # the same folder the agent is configured with
    lgc = await lgc_for(agent)
    traits = {**DOMINIQUE, "first_names": ["Dominique"], "birth_name": "Adrtrois"}
    identity_id = (await lgc.result("identity.submit", {"local_id": "dossier-7", "traits": traits}))["identity_id"]
    event = await lgc.event("identity.updated", lambda p: p["identity_id"] == identity_id
                            and p["insi_outcome"] != "pending")
    assert event["insi_outcome"] == "found" and event["status"] == "RECUP"
    got = await lgc.result("identity.get", {"identity_id": identity_id})
    assert got["ins"]["matricule"] == "297022A02077878"  # the data was there to leak
    await lgc.result("identity.view", {"identity_id": identity_id})
    qualified = await lgc.result("identity.qualify", {"identity_id": identity_id, "method": "document",
                                                      "document_type": "passport"})
    assert qualified["status"] == "QUAL"
    # A refused call and an invalid submit log their own lines too.
    refused = await lgc.call("identity.qualify", {"identity_id": identity_id, "method": "attestation"})
    assert refused["error"]["code"] == -32010
    invalid = await lgc.call("identity.submit", {"traits": {**DOMINIQUE, "birth_date": "1997-02-30"}})
    assert invalid["error"]["code"] == -32602
    await lgc.result("identity.audit", {"identity_id": identity_id})
    await agent.outbox.wait_idle(5)
    assert_no_personal_data(debug_log, caplog)


async def test_privacy_vitale_card_and_datamatrix_scan_log_no_patient_data(
        debug_log: Path, caplog: pytest.LogCaptureFixture, make_agent: AgentFactory, lgc_for: LgcFactory) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    card = VitaleCard(insured_nir="297022A020778", insured_nir_key="78", serial="0001", beneficiaries=[
        VitaleBeneficiary(usual_name="ADRTROIS", first_name="DOMINIQUE", birth_date="19970226", quality="0"),
    ])
    await call_each(agent.plugins, "vitale_card_read", reader="Lecteur 1", card=card)
    event = await lgc.event("identity.updated", lambda p: p["insi_outcome"] not in ("pending",))
    assert event["status"] == "RECUP"
    scanned: dict[str, Any] = {**DOMINIQUE, "birth_place": "2A020", "matricule": "297022A02077878",
                               "oid": "1.2.250.1.213.1.4.8"}
    await call_each(agent.plugins, "scan_received", kind="ins_datamatrix", content=scanned, source="serial")
    await agent.outbox.wait_idle(5)
    assert_no_personal_data(debug_log, caplog)


async def test_privacy_retries_and_faults_log_no_patient_data(
        debug_log: Path, caplog: pytest.LogCaptureFixture, make_agent: AgentFactory, lgc_for: LgcFactory,
        insi_sandbox: InsiSandbox) -> None:
    # Two technical faults: the client retries once (its own log line), the outbox defers the lookup (a
    # warning), then INSi answers. The error paths are the ones that tend to log what they were given.
    insi_sandbox.configure(faults=[{"match": {"birth_name": "ADRTROIS"}, "fault": "siram_40", "times": 2}])
    agent = await make_agent(max_attempts=2, retry_delay=0.05)
    lgc = await lgc_for(agent)
    identity_id = (await lgc.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
    await lgc.event("identity.updated", lambda p: p["identity_id"] == identity_id and p["status"] == "RECUP")
    await agent.outbox.wait_idle(5)
    assert insi_sandbox.stats.total == 3
    text = log_text(debug_log)
    assert "attempt 1 failed (fault:siram_40" in text  # the retry paths did log
    assert "failed, attempt 1/" in text and "LookupDeferred" in text
    assert_no_personal_data(debug_log, caplog)
