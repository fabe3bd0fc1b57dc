"""No patient data in the logs of a whole DMP cycle at DEBUG: ordonnance, ITI-41, consent, TD3.1, TD3.2,
masking (ITI-57), a rejection; the log file and every record are searched for the INS and the traits."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from sandbox.dmp.server import DmpSandbox
from tests.plugins.dmp.conftest import PDF, AgentFactory
from tests.plugins.dmp.test_plugin_e2e import identity, prescribe, updated
from tests.plugins.ins.test_privacy import assert_no_personal_data, debug_log  # noqa: F401 (fixture)


async def test_privacy_dmp_cycle_logs_no_patient_data(debug_log: Path, caplog: pytest.LogCaptureFixture,  # noqa: F811
                                                      dmp_agent: AgentFactory, lgc_for: Any,
                                                      dmp_sandbox: DmpSandbox) -> None:
    agent = await dmp_agent()
    lgc = await lgc_for(agent)
    identity_id = await identity(lgc, qualify=True)
    document_id = await prescribe(lgc, identity_id)
    sent = await lgc.event("dmp.document.updated", updated(document_id, "sent"), timeout=20)
    await lgc.result("dmp.consent", {"identity_id": identity_id, "granted": True, "patient_informed": True})
    await lgc.result("dmp.documents", {"identity_id": identity_id})
    await lgc.result("dmp.retrieve", {"identity_id": identity_id, "unique_id": sent["dmp_unique_id"]})
    await lgc.result("dmp.mask", {"document_id": document_id, "masking": ["invisible_to_patient"]})
    await agent.outbox.wait_idle(10)
    dmp_sandbox.configure(patients={"297022A02077878": {"opposition": True}})
    record = await lgc.result("dmp.send", {"document": {
        "identity_id": identity_id, "pdf": base64.b64encode(PDF).decode(), "title": "Certificat",
        "kind": "certificate", "author": {"name": "Dr Olivier Sandbox", "rpps": "10003456789"}}})
    await lgc.event("dmp.document.updated", updated(record["document_id"], "failed"), timeout=20)
    assert_no_personal_data(debug_log, caplog)
