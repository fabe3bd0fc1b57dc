"""An agent whose DMP is not configured: documents wait in the DMP service, and the XML/crypto stack
(lxml, cryptography) stays unloaded (the RSS-after-start target of `python -m bench agent_host`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bench.agentproc import REPO

SCRIPT = textwrap.dedent("""
    import asyncio, json, sys, time, uuid
    import keyring
    from agent.app import Agent
    from agent.config import config_from_dict
    from agent.documents import DocumentAuthor, PatientIns, ValidatedDocument, publish
    from agent.secrets import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())

    async def main(root):
        config = config_from_dict({"api": {"port": 0, "tokens": ["t" * 32]}, "store": {"path": root + "/v.sqlite3"},
                                   "log": {"dir": root + "/logs"},
                                   "disabled_plugins": ["ui", "scanner", "cards", "eprescription", "mss"]})
        agent = Agent(config)
        await agent.start()
        try:
            document = ValidatedDocument(
                id=str(uuid.uuid4()), pdf=b"%PDF-1.4\\n%%EOF\\n", type_code="57833-6", type_label="Prescription",
                title="Ordonnance", author=DocumentAuthor(name="Dr Olivier Sandbox", rpps="10003456789"),
                created_at=time.time(), source_plugin="eprescription",
                patient_ins=PatientIns("297029912345697", "1.2.250.1.213.1.4.10"))
            await publish(agent, document)
            row = None
            for _ in range(400):  # until the send job has run once and said why it waits
                row = await agent.store.fetchone("SELECT state, reason FROM dmp_documents WHERE document_id = ?",
                                                 (document.id,))
                if row is not None and row[1]:
                    break
                await asyncio.sleep(0.05)
            dmp = agent.plugins.states["dmp"]
            print(json.dumps({"row": list(row) if row else None, "started": dmp.started, "status": dmp.status,
                              "loaded": sorted(m for m in ("lxml", "cryptography") if m in sys.modules)}))
        finally:
            await agent.stop()

    asyncio.run(main(sys.argv[1]))
""")


def test_dmp_unconfigured_keeps_documents_waiting_without_loading_lxml_or_cryptography(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env={**{k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")},
                                                       "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["started"] is True and result["status"] == "ok"
    state, reason = result["row"]
    assert state == "queued"  # kept, waiting for the configuration; the send job ran once and said why
    assert reason.startswith("En attente : Adresse du DMP non configurée")
    assert result["loaded"] == []
