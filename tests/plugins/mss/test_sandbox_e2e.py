"""The embedded sandbox operator (no root): the same client, the same headers checked, receipts back."""

from __future__ import annotations

import email
import smtplib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import config_from_dict
from agent.documents import publish
from agent.plugins import PluginHost
from agent.secrets import SecretStore
from plugins.mss import repository as repo
from sandbox.mss.server import APP_MAILBOX, MssSandbox, start_mss_sandbox
from tests.conftest import TEST_TOKEN
from tests.plugins.mss.conftest import PATIENT_ADDRESS, document, wait_until


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[MssSandbox]:
    box = await start_mss_sandbox(tmp_path / "mss", mdn_delay=0.2)
    yield box
    await box.stop()


@pytest.fixture
async def agent(tmp_path: Path, sandbox: MssSandbox) -> AsyncIterator[Agent]:
    service = sandbox.as_service()
    for name, value in service.secrets.items():
        SecretStore().set(name, value)
    # The mailbox's PKCS#12 is read from the keyring (`keyring:mss.certificate`), imported as sandbox/child.py does.
    assert service.plugin_settings["mss"]["pkcs12"] == "keyring:mss.certificate"
    for name, path in service.certificates.items():
        SecretStore().set_blob(name, path.read_bytes())
    settings = dict(service.plugin_settings["mss"], poll_interval=1.0, base_delay=0.5, max_delay=2.0)
    config = config_from_dict({
        "api": {"port": 0, "tokens": [TEST_TOKEN], "allowed_origins": ["http://lgc.test"]},
        "store": {"path": str(tmp_path / "store" / "vigie.sqlite3")}, "log": {"dir": str(tmp_path / "logs")},
        "plugins": {"mss": settings}, "disabled_plugins": ["ui", "cards", "scanner", "dmp"],
    })
    a = Agent(config, host=PluginHost())
    await a.start()
    await wait_until(lambda: a.plugins.states["mss"].started, what="mss started")
    yield a
    await a.stop()


async def test_mss_sandbox_patient_mail_then_delivered_and_read(agent: Agent, sandbox: MssSandbox,
                                                                lgc_for: Any) -> None:
    doc = document(treating_physician={"rpps": "10001234567"})  # resolved through the directory stand-in
    await publish(agent, doc)

    async def read_all() -> list[repo.MessageRow] | None:
        rows = await agent.store.transaction(lambda c: repo.list_messages(c, document_id=doc.id))
        return rows if len(rows) == 2 and all(r.state == "read" for r in rows) else None

    rows = await wait_until(read_all, timeout=90, what="both messages read (DSN then MDN from the far end)")
    roles = {r.recipients[0].role: r.recipients[0].address for r in rows}
    assert roles == {"patient": PATIENT_ADDRESS, "treating": "paul.martin@cabinet.sandbox.mssante.test"}
    inbox = sandbox.state.box(PATIENT_ADDRESS).folders["INBOX"]
    msg = email.message_from_bytes(inbox[0].raw)
    assert msg["X-MSS-INS"] == "O" and str(msg["Subject"]).startswith("XDM/1.0/DDM+")
    assert len(sandbox.state.box(APP_MAILBOX).folders["Sent"]) == 2
    lgc = await lgc_for(agent)
    found = await lgc.result("mss.directory.search", {"name": "ler"})
    assert found["results"] == [{"name": "Dr Sophie LEROY", "rpps": "10009876543",
                                 "mailbox": "sophie.leroy@chu.sandbox.mssante.test", "type": "PER"}]


async def test_mss_sandbox_checks_headers_like_an_operator(sandbox: MssSandbox) -> None:
    import asyncio

    def send() -> None:
        context = ssl.create_default_context(cafile=str(sandbox.pki.ca))
        context.load_cert_chain(sandbox.pki.app_client.cert_pem, sandbox.pki.app_client.key_pem)
        with smtplib.SMTP("localhost", sandbox.smtp_port, timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.sendmail(APP_MAILBOX, [PATIENT_ADDRESS], b"Subject: hello\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n")

    with pytest.raises(smtplib.SMTPDataError) as info:
        await asyncio.to_thread(send)
    assert info.value.smtp_code == 550 and "X-MSS-NIL" in info.value.smtp_error.decode()
