"""`<vigie-documents>` on the demo page in headless Chromium against a real agent (INS, e-prescription, DMP,
MSSanté) and the INSi, e-prescription, DMP (HTTPS, client certificate) and embedded MSSanté sandboxes."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from agent.app import Agent
from agent.secrets import SecretStore
from plugins.dmp.settings import PKCS12_SECRET
from plugins.ins.models import ATTESTATION_TEXT
from sandbox.demo.server import start_demo_page
from sandbox.dmp.server import DmpSandbox, start_dmp_sandbox
from sandbox.eprescription.server import start_eprescription_sandbox
from sandbox.insi.pki import SandboxPki
from sandbox.insi.server import InsiSandbox
from sandbox.mss.server import start_mss_sandbox
from tests.agent.web.conftest import DemoSetup
from tests.conftest import free_port
from tests.plugins.dmp.test_plugin_e2e import ORDONNANCE
from tests.plugins.ins.conftest import ins_config, wait_until
from tests.plugins.mss.conftest import wait_until as wait_for
from tests.ui_support import artifact, english_words, rpc

pytestmark = pytest.mark.slow


@pytest.fixture
async def sharing_demo(tmp_path: Path, insi_sandbox: InsiSandbox, insi_pki: SandboxPki
                       ) -> AsyncIterator[tuple[DemoSetup, DmpSandbox]]:
    dmp = await start_dmp_sandbox(pki=insi_pki)
    ep = await start_eprescription_sandbox(hold=30.0)
    mss = await start_mss_sandbox(tmp_path / "mss", mdn_delay=0.2)
    port = free_port()
    page = await start_demo_page(api_port=port)
    config = ins_config(tmp_path, insi_sandbox)
    config.api.port = port
    config.api.allowed_origins = list(page.origins)
    config.api.auto_accept_pairing = True
    config.plugins["ui"] = {"popup": False, "tray": False}
    config.disabled_plugins = ["scanner", "cards"]
    SecretStore().set(PKCS12_SECRET, dmp.secrets()[PKCS12_SECRET])
    config.plugins["dmp"] = dmp.plugin_settings()
    config.plugins["eprescription"] = {"url": ep.url, "timeout": 1.0}
    service = mss.as_service()
    for name, value in service.secrets.items():
        SecretStore().set(name, value)
    for name, path in service.certificates.items():  # as the sandbox's agent imports them (sandbox/child.py)
        SecretStore().set_blob(name, path.read_bytes())
    config.plugins["mss"] = dict(service.plugin_settings["mss"], poll_interval=1.0, base_delay=0.5, max_delay=2.0)
    agent = Agent(config)
    events: list[tuple[str, dict[str, Any]]] = []
    agent.events.subscribe(lambda name, params: events.append((name, dict(params))))
    await agent.start()
    try:
        await wait_until(lambda: all(agent.plugins.states[n].started for n in ("ins", "dmp", "eprescription", "mss")),
                         what="plugins started", timeout=30)
        yield DemoSetup(agent, page.endpoints["demo"], events), dmp
    finally:
        await agent.stop()
        await page.stop()
        await mss.stop()
        await ep.stop()
        await dmp.stop()


DOMINIQUE = {"birth_name": "ADRTROIS", "used_name": None, "first_names": "DOMINIQUE", "birth_date": "1997-02-26"}
# Her INS is not Corsican: she has a patient mailbox (<INS>@patient.mssante.fr).
CATARINA = {"birth_name": "TCHITCHI", "used_name": None, "first_names": "CATARINA BELLA", "birth_date": "1936-06-21"}


async def _prescribe(agent: Agent, identity_id: str, patient: dict[str, Any] = DOMINIQUE) -> str:
    ordonnance = copy.deepcopy(ORDONNANCE)
    ordonnance["patient"].update({"identity_id": identity_id, **patient})
    result = await rpc(agent, "prescription.create", prescription=ordonnance)
    return str(result["prescription_id"])


async def _open(browser: Any, url: str, name: str = "ADRTROIS DOMINIQUE") -> tuple[Any, list[str]]:
    page = await browser.new_page(viewport={"width": 1366, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    await expect(page.locator("#state")).to_have_text("connecté", timeout=15_000)
    await page.get_by_role("button", name=f"Ouvrir le dossier de {name}").click()
    panel = page.locator("vigie-qualification")
    await expect(panel.locator(".status")).to_have_attribute("data-status", "RECUP", timeout=15_000)
    return page, errors


def _french_only(text: str) -> None:
    assert not english_words(text), text
    for word in ("queued", "sending", "sent", "failed", "cancelled", "delivered", "read", "treating", "masking",
                 "hidden", "invisible_to"):
        assert word not in text.split(), text


async def test_ordonnance_for_qualified_identity_shows_sent_to_dmp_and_mss_recipients(
        sharing_demo: tuple[DemoSetup, DmpSandbox], browser: Any, request: pytest.FixtureRequest) -> None:
    demo, dmp = sharing_demo
    page, errors = await _open(browser, demo.url, "TCHITCHI CATARINA")
    await page.locator("vigie-qualification").get_by_role("button", name=ATTESTATION_TEXT).click()
    await expect(page.locator("vigie-qualification .status")).to_have_attribute("data-status", "QUAL", timeout=10_000)
    documents = page.locator("vigie-documents")
    await expect(documents).to_contain_text("Aucun document partagé pour ce patient.")
    identity_id = await documents.get_attribute("identity-id")
    assert identity_id
    document_id = await _prescribe(demo.agent, identity_id, CATARINA)

    doc = documents.locator(f"article[data-document='{document_id}']")
    # live: the component follows dmp.document.updated, nothing reloads the page
    await expect(doc).to_have_attribute("data-state", "sent", timeout=20_000)
    await expect(doc.locator(".state")).to_have_text("Envoyé au DMP")
    record = next(d for d in (await rpc(demo.agent, "dmp.view", identity_id=identity_id))["documents"]
                  if d["document_id"] == document_id)
    assert dmp.copies(record["dmp_unique_id"]) == 1
    cancel = doc.get_by_role("button", name="Ne pas envoyer")
    await expect(cancel).to_be_disabled()
    await expect(doc).to_contain_text("Déjà dans le DMP : masquez-le si besoin.")
    # the MSSanté recipients of this ordonnance; their states move live (sending, sent, read: mss.message.updated)
    async def settled() -> list[dict[str, Any]] | None:  # the recipients once the operator has answered
        sent = (await rpc(demo.agent, "mss.messages", identity_id=identity_id))["sent"]
        mine = [r for m in sent if m["document_id"] == document_id for r in m["recipients"]]
        return mine if mine and all(r["state"] in ("read", "failed") for r in mine) else None

    mine = await wait_for(settled, what="MSSanté recipients answered", timeout=60)
    words = {"delivered": "distribué", "read": "lu", "failed": "échec"}
    for r in mine:  # the component shows each recipient with the state the agent holds (mss.message.updated)
        item = doc.locator(f".mss li[data-recipient='{r['address']}']")
        await expect(item).to_have_attribute("data-state", r["state"], timeout=10_000)
        await expect(item.locator(".rstate")).to_have_text(words[r["state"]])
    assert [r["role"] for r in mine] == ["patient"] and mine[0]["state"] == "read", mine

    # masking a document already in the DMP sends dmp.mask, which queues an ITI-57 update
    await doc.get_by_label("Masqué aux professionnels").check()
    await expect(doc.get_by_label("Masqué aux professionnels")).to_be_checked()
    await wait_until(lambda: any(n == "dmp.document.updated" and p["document_id"] == document_id
                                 and p["masking"] == ["hidden_from_professionals"] for n, p in demo.events),
                     what="masking recorded", timeout=10)
    await wait_until(lambda: any("UpdateDocumentSet" in e.action and e.outcome == "ok" for e in dmp.exchanges),
                     what="ITI-57 accepted by the DMP sandbox", timeout=30)
    text = await documents.inner_text()
    _french_only(text)
    await page.screenshot(path=artifact(request, "sent.png"), full_page=True)
    await documents.screenshot(path=artifact(request, "component.png"))
    assert errors == []


async def test_queued_document_masking_then_ne_pas_envoyer(
        sharing_demo: tuple[DemoSetup, DmpSandbox], browser: Any, request: pytest.FixtureRequest) -> None:
    demo, dmp = sharing_demo
    page, errors = await _open(browser, demo.url)  # not qualified: the ordonnance waits
    documents = page.locator("vigie-documents")
    identity_id = await documents.get_attribute("identity-id")
    assert identity_id
    document_id = await _prescribe(demo.agent, identity_id)
    doc = documents.locator(f"article[data-document='{document_id}']")
    await expect(doc).to_have_attribute("data-state", "queued", timeout=15_000)
    await expect(doc.locator(".state")).to_have_text("En attente")
    await expect(doc.locator(".reason")).to_contain_text("qualifiez l'identité")
    await expect(doc.locator("fieldset")).to_be_enabled()
    _french_only(await documents.inner_text())
    await page.screenshot(path=artifact(request, "queued.png"), full_page=True)

    await doc.get_by_label("Invisible au patient").check()
    await wait_until(lambda: any(n == "dmp.document.updated" and p["document_id"] == document_id
                                 and p["masking"] == ["invisible_to_patient"] for n, p in demo.events),
                     what="dmp.mask applied", timeout=10)
    view = await rpc(demo.agent, "dmp.view", identity_id=identity_id)
    assert [m["option"] for m in view["documents"][0]["masking"] if m["checked"]] == ["invisible_to_patient"]

    await doc.get_by_role("button", name="Ne pas envoyer").click()
    await expect(doc).to_have_attribute("data-state", "cancelled", timeout=10_000)
    await expect(doc.locator(".state")).to_have_text("Annulé")
    await expect(doc.get_by_role("button", name="Ne pas envoyer")).to_be_disabled()
    await expect(doc.get_by_role("button", name="Envoyer au DMP")).to_be_enabled()
    record = (await rpc(demo.agent, "dmp.view", identity_id=identity_id))["documents"][0]
    assert record["state"] == "cancelled"
    await demo.agent.outbox.wait_idle(5)
    assert not [e for e in dmp.exchanges if "ProvideAndRegister" in e.action]  # nothing went to the DMP
    _french_only(await documents.inner_text())
    await documents.screenshot(path=artifact(request, "cancelled.png"))
    assert errors == []
