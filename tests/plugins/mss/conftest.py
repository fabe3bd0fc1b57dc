"""Fixtures: one private Postfix + Dovecot operator per test process, agents wired to it, documents."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.config import config_from_dict
from agent.documents import DocumentAuthor, PatientIns, ValidatedDocument
from agent.plugins import PluginHost
from agent.secrets import SecretStore
from tests.conftest import TEST_TOKEN
from tests.plugins.ins.conftest import Lgc, lgc_for
from tests.plugins.mss.mailservers import APP_MAILBOX, PRACTITIONER, MailServers, available, mail_servers

QUALIFIED_INS = "146026322000196"
PATIENT_ADDRESS = f"{QUALIFIED_INS}@patient.mssante.fr"
TREATING = "dr.martin@cabinet.mss.test"
MINIMAL_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\n"
               b"trailer<</Root 1 0 R>>\n%%EOF\n")


@pytest.fixture(scope="session")
def mail() -> Iterator[MailServers]:
    reason = available()
    if reason:
        pytest.skip(reason)
    with mail_servers() as servers:
        servers.add_user(PATIENT_ADDRESS)
        servers.add_user(TREATING)
        yield servers


def mss_settings(mail: MailServers, **over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "mailbox": APP_MAILBOX, "auth": "certificate", "pkcs12": str(mail.pki.app_client.p12),
        "smtp_host": mail.host, "smtp_port": mail.submission_port, "imap_host": mail.host,
        "imap_port": mail.imaps_port, "imap_tls": "implicit", "ca_files": [str(mail.pki.ca)], "timeout": 10.0,
        "poll_interval": 2.0, "nil": "VIGIE-TEST-NIL", "structure_id": "312345678900019",
        "structure_name": "Cabinet du Dr Durand", "base_delay": 0.5, "max_delay": 2.0,
    }
    s.update(over)
    return s


AgentFactory = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def make_agent(tmp_path: Path, mail: MailServers) -> AsyncIterator[AgentFactory]:
    agents: list[Agent] = []

    async def make(*, store: str = "vigie", passphrase: str | None = None, wait_started: bool = True,
                   **settings: Any) -> Agent:
        SecretStore().set("mss.pkcs12", passphrase or mail.pki.app_client.passphrase)
        config = config_from_dict({
            "api": {"port": 0, "tokens": [TEST_TOKEN], "allowed_origins": ["http://lgc.test"]},
            "store": {"path": str(tmp_path / "store" / f"{store}.sqlite3")},
            "log": {"dir": str(tmp_path / "logs")},
            "plugins": {"mss": mss_settings(mail, **settings)},
            "disabled_plugins": ["ui", "cards", "scanner"],
        })
        agent = Agent(config, host=PluginHost())
        await agent.start()
        agents.append(agent)
        if wait_started:
            await wait_until(lambda: agent.plugins.states["mss"].started, what="mss started")
        return agent

    yield make
    for agent in agents:
        if agent._started:
            await agent.stop()


async def wait_until(predicate: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def document(*, qualified: bool = True, masking: tuple[str, ...] = (), identity_id: str = "id-1",
             **metadata: Any) -> ValidatedDocument:
    meta: dict[str, Any] = {
        "patient": {"birth_name": "Hélène-Çéline", "used_name": None, "first_names": "MARIE ÉLODIE", "sex": "F",
                    "birth_date": "1946-02-03", "identity_id": identity_id},
        "treating_physician": {"mailbox": TREATING, "name": "Dr Paul Martin"},
        "masking": list(masking),
    }
    meta.update(metadata)
    return ValidatedDocument(
        id=str(uuid.uuid4()), pdf=MINIMAL_PDF, type_code="57833-6", type_label="Prescription de produits de santé",
        title="Ordonnance du 04/12/2026",
        author=DocumentAuthor(name="Dr Marie Durand", rpps="10001234567", profession="Médecin"),
        created_at=time.time(), source_plugin="eprescription",
        patient_ins=PatientIns(QUALIFIED_INS, "1.2.250.1.213.1.4.8") if qualified else None, metadata=meta)


__all__ = ["APP_MAILBOX", "PRACTITIONER", "Lgc", "lgc_for", "wait_until"]
