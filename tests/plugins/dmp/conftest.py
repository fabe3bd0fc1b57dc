"""The DMP sandbox over real HTTPS (client certificate), a started DmpClient, and sample documents."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.documents import DocumentAuthor, PatientIns, ValidatedDocument
from plugins.dmp.client import DmpClient
from plugins.dmp.settings import PKCS12_SECRET, DmpSettings, parse_settings
from plugins.dmp.vihf import VihfContext
from sandbox.dmp.server import DmpSandbox, start_dmp_sandbox
from sandbox.insi.pki import SandboxPki

INS = "297029912345697"
INS_OID = "1.2.250.1.213.1.4.10"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
async def dmp_sandbox(insi_pki: SandboxPki) -> AsyncIterator[DmpSandbox]:
    sandbox = await start_dmp_sandbox(pki=insi_pki)
    yield sandbox
    await sandbox.stop()


def settings_for(sandbox: DmpSandbox, **overrides: Any) -> tuple[DmpSettings, str]:
    raw = sandbox.plugin_settings()
    passphrase = sandbox.secrets()[PKCS12_SECRET]
    raw.update(overrides)
    return parse_settings(raw), passphrase


@pytest.fixture
async def dmp_client(dmp_sandbox: DmpSandbox) -> AsyncIterator[DmpClient]:
    settings, passphrase = settings_for(dmp_sandbox)
    client = DmpClient(settings, passphrase=passphrase, current_signer=lambda: None)
    await client.start()
    yield client
    await client.close()


def vihf_context(mode: str = "INDIRECTE", ins: str = INS) -> VihfContext:
    return VihfContext(mode=mode, ps_national_id="810003456789", ps_name="Olivier SANDBOX", profession="10",
                       specialty="SM54", structure_id="312345678900019", activity_sector="SA07", patient_ins=ins,
                       patient_ins_oid=INS_OID, lps_id="vigie", lps_name="Vigie", lps_version="0.1", homologation="0")


def document(*, qualified: bool = True, pdf: bytes = PDF, ins: str = INS, doc_id: str | None = None,
             type_code: str = "57833-6") -> ValidatedDocument:
    return ValidatedDocument(
        id=doc_id or str(uuid.uuid4()), pdf=pdf, type_code=type_code, type_label="Prescription de produits de santé",
        title="Ordonnance du 05/01/2026",
        author=DocumentAuthor(name="Dr Olivier Sandbox", rpps="10003456789", profession="Médecin"),
        created_at=time.time(), source_plugin="eprescription",
        patient_ins=PatientIns(matricule=ins, oid=INS_OID) if qualified else None,
        metadata={"patient": {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F",
                              "birth_date": "1997-02-26", "identity_id": "id-1"}})


# -- an agent (INS + e-prescription + DMP) against the INSi, e-prescription and DMP stand-ins -------------
from collections.abc import Awaitable, Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from agent.app import Agent  # noqa: E402
from agent.secrets import SecretStore  # noqa: E402
from sandbox.eprescription.server import EprescriptionSandbox, start_eprescription_sandbox  # noqa: E402
from sandbox.insi.server import InsiSandbox  # noqa: E402
from tests.plugins.ins.conftest import ins_config, insi_sandbox, lgc_for, wait_until  # noqa: E402,F401

DOMINIQUE = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F", "birth_date": "1997-02-26"}
AgentFactory = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def ep_sandbox() -> AsyncIterator[EprescriptionSandbox]:
    sandbox = await start_eprescription_sandbox(hold=30.0)
    yield sandbox
    await sandbox.stop()


def dmp_agent_config(tmp_path: Path, insi: InsiSandbox, dmp: DmpSandbox, ep_url: str | None, **dmp_settings: Any):
    config = ins_config(tmp_path, insi)
    raw = dmp.plugin_settings()
    SecretStore().set(PKCS12_SECRET, dmp.secrets()[PKCS12_SECRET])
    raw.update(dmp_settings)
    config.plugins["dmp"] = raw
    if ep_url:
        config.plugins["eprescription"] = {"url": ep_url, "timeout": 1.0}
    config.disabled_plugins = ["ui", "scanner", "cards"]
    return config


@pytest.fixture
async def dmp_agent(tmp_path: Path, insi_sandbox: InsiSandbox, dmp_sandbox: DmpSandbox,  # noqa: F811
                    ep_sandbox: EprescriptionSandbox) -> AsyncIterator[AgentFactory]:
    agents: list[Agent] = []

    async def make(**dmp_settings: Any) -> Agent:
        agent = Agent(dmp_agent_config(tmp_path, insi_sandbox, dmp_sandbox, ep_sandbox.url, **dmp_settings))
        await agent.start()
        agents.append(agent)
        await wait_until(lambda: all(agent.plugins.states[n].started for n in ("ins", "dmp", "eprescription")),
                         what="plugins started")
        return agent

    yield make
    for agent in agents:
        if agent._started:
            await agent.stop()


def assert_validated(sandbox: DmpSandbox) -> None:
    """Every ITI-41 / ITI-57 the sandbox accepted went through all its checks (CDA, metadata, VIHF)."""
    stored = [e for e in sandbox.exchanges if e.outcome == "ok" and ("ProvideAndRegister" in e.action
                                                                  or "UpdateDocumentSet" in e.action)]
    assert stored and all(e.validated and e.vihf is not None for e in stored)
