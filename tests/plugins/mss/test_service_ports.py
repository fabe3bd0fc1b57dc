"""MssService built from its ports alone (real store and outbox, no agent), against the embedded operator."""

from __future__ import annotations

import asyncio
import email
from pathlib import Path

import pytest

from agent.errors import UserFacingError
from agent.secrets import SecretStore
from plugins.mss import repository as repo
from plugins.mss.service import JOB_DELIVER, JOB_DOCUMENT, MssService
from plugins.mss.service import Ports as MssPorts
from plugins.mss.settings import parse_settings
from sandbox.mss.server import start_mss_sandbox
from tests.plugins.mss.conftest import PATIENT_ADDRESS, document, wait_until
from tests.plugins.ports import ports


async def test_mss_service_from_ports_mails_a_document_and_refuses_fin_without_qins(tmp_path: Path) -> None:
    sandbox = await start_mss_sandbox(tmp_path / "mss", mdn_delay=0.1)
    migrations = [(repo.NAMESPACE, v, sql) for v, sql in repo.MIGRATIONS.items()]
    try:
        async with ports(tmp_path, migrations) as p:
            service_info = sandbox.as_service()
            settings = parse_settings(dict(service_info.plugin_settings["mss"], poll_interval=1.0))
            secrets = service_info.secrets
            for name, path in service_info.certificates.items():  # `keyring:mss.certificate`, as sandbox/child.py
                SecretStore().set_blob(name, path.read_bytes())
            service = MssService(MssPorts(store=p.store, outbox=p.outbox, events=p.emitter, secret=secrets.get,
                                          qualified_ins=lambda conn, identity_id: None), settings)
            await service.start()
            p.outbox.register(JOB_DOCUMENT, service.run_document_job)
            p.outbox.register(JOB_DELIVER, service.run_deliver_job, base_delay=0.2, max_delay=1.0)
            await p.outbox.start()
            try:
                doc = document(treating_physician=None)
                await service.enqueue_document(doc)

                async def sent() -> list[repo.MessageRow] | None:
                    rows = await p.store.transaction(lambda c: repo.list_messages(c, document_id=doc.id))
                    return rows if rows and all(r.state == "read" for r in rows) else None

                rows = await wait_until(sent, timeout=60, what="patient message read")
                assert [r.recipients[0].address for r in rows] == [PATIENT_ADDRESS]
                raw = sandbox.state.box(PATIENT_ADDRESS).folders["INBOX"][0].raw
                assert email.message_from_bytes(raw)["X-MSS-INS"] == "O"
                states = [params["state"] for name, params in p.published if name == "mss.message.updated"]
                assert states[0] == "queued" and "sent" in states and states[-1] == "read"
                with pytest.raises(UserFacingError, match="INS n'est pas qualifiée"):
                    await service.end_conversation("id-1")
            finally:
                await p.outbox.stop()
                await service.close()
    finally:
        await sandbox.stop()
        await asyncio.sleep(0)
