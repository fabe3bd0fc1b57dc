"""Issue 16 item 5: the settings page (`/web/setup.html`) in headless Chromium against a real agent, the INSi
sandbox and its PKI: opened from the tray with the pages' token, each step's verification shown in French
(a certificate INSi would refuse), saved to the agent's configuration file (0600, no passphrase) and the
keyring; the same security rules as the API (admin scope, CSP, no framing)."""

from __future__ import annotations

import stat
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tomli_w
from playwright.async_api import expect

from agent.app import SETUP_TRAY_LABEL, Agent
from agent.config import load_config
from agent.rpc import RpcContext
from agent.secrets import SecretStore
from plugins.ins.settings import PASSPHRASE_SECRET, parse_settings
from sandbox.insi.pki import SandboxPki
from sandbox.insi.server import InsiSandbox
from tests.conftest import TEST_TOKEN, free_port
from tests.plugins.ins.conftest import wait_until
from tests.ui_support import artifact

pytestmark = pytest.mark.slow


@pytest.fixture
async def agent(tmp_path: Path, insi_sandbox: InsiSandbox) -> AsyncIterator[Agent]:
    path = tmp_path / "config.toml"
    settings = insi_sandbox.plugin_settings()
    settings["pkcs12_path"] = str(insi_sandbox.pki.wrong_client_p12)  # the practice was sent the wrong one
    path.write_text(tomli_w.dumps({
        "api": {"port": free_port(), "tokens": [TEST_TOKEN], "allowed_origins": ["http://lgc.test"]},
        "store": {"path": str(tmp_path / "store" / "vigie.sqlite3")}, "log": {"dir": str(tmp_path / "logs")},
        "plugins": {"ins": settings, "ui": {"popup": False, "tray": False}}}))
    agent = Agent(load_config(path, environ={}))
    await agent.start()
    try:
        await wait_until(lambda: "ins" in agent.plugins.states, what="INS plugin loaded")
        yield agent
    finally:
        await agent.stop()


async def test_setup_page_verifies_each_step_and_saves_to_the_file_and_keyring(
        agent: Agent, insi_sandbox: InsiSandbox, insi_pki: SandboxPki, browser: Any,
        request: pytest.FixtureRequest) -> None:
    opened: list[str] = []
    agent.pages.opener = lambda url: opened.append(url) is None
    await next(i for i in agent.tray_items if i.label == SETUP_TRAY_LABEL).action()
    assert opened[0].startswith(f"{agent.server.url}/web/setup.html#jeton=")
    page = await browser.new_page(viewport={"width": 1280, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(opened[0])
    await expect(page.locator("#state")).to_have_text("connecté", timeout=15_000)
    assert "jeton" not in page.url

    ins = page.locator("#step-ins")
    await expect(ins.get_by_role("heading")).to_have_text("Identité nationale de santé (téléservice INSi)")
    await expect(ins.get_by_label("Adresse du téléservice INSi")).to_have_value(insi_sandbox.url)  # the file's
    await expect(ins.get_by_label("Phrase de passe du certificat")).to_have_value("")  # never sent back
    await ins.get_by_label("Phrase de passe du certificat").fill(insi_pki.wrong_client_passphrase)
    await ins.get_by_role("button", name="Vérifier").click()
    result = ins.locator("[data-step-result=ins]")
    await expect(result).to_contain_text("doit avoir pour nom (CN) « INSI-AUTO » ou « INSI-MANU »", timeout=15_000)
    await expect(result).to_contain_text("« INSI-TEST-MAUVAIS »")
    await page.screenshot(path=artifact(request, "1-refused.png"), full_page=True)

    certificate = ins.get_by_label("Certificat de l'organisation (fichier PKCS#12 .p12 à importer)")
    await certificate.fill(str(insi_pki.client_p12))
    await ins.get_by_label("Phrase de passe du certificat").fill(insi_pki.client_passphrase)
    await ins.get_by_label("Praticien par défaut (nom affiché)").fill("Dr Claire MARTIN")
    await ins.get_by_role("button", name="Enregistrer").click()
    await expect(result).to_have_text("Vérifié et enregistré. Vigie utilisera ces réglages à son prochain démarrage.",
                                      timeout=15_000)
    await expect(ins.get_by_label("Phrase de passe du certificat")).to_have_value("")
    await expect(certificate).to_have_value("")  # imported into the keyring: the form keeps no path
    await expect(certificate).to_have_attribute("placeholder", "fichier à importer (vide : celui déjà importé)")
    await page.screenshot(path=artifact(request, "2-saved.png"), full_page=True)

    path = agent.config.source
    assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert insi_pki.client_passphrase not in text and insi_pki.wrong_client_passphrase not in text
    assert SecretStore().get(PASSPHRASE_SECRET) == insi_pki.client_passphrase
    saved = parse_settings(load_config(path, environ={}).plugin_settings("ins"))
    assert saved.pkcs12_path == "keyring:ins.certificate" and saved.user.name == "Dr Claire MARTIN"
    assert SecretStore().get_blob("ins.certificate") == insi_pki.client_p12.read_bytes()  # imported, not referenced
    assert str(insi_pki.client_p12) not in text
    assert tomllib.loads(text)["api"]["tokens"] == [TEST_TOKEN]  # what no step owns is kept

    # CPS mode: the certificate's questions go away; a closed port for the e-prescription is reported.
    await ins.get_by_label("Mode d'accès au téléservice INSi").select_option("cps")
    await expect(ins.get_by_label("Certificat de l'organisation (fichier PKCS#12 .p12 à importer)")).to_be_hidden()
    ep = page.locator("#step-eprescription")
    await ep.get_by_label("Adresse du téléservice e-prescription").fill(f"http://127.0.0.1:{free_port()}/ep")
    await ep.get_by_role("button", name="Vérifier").click()
    await expect(ep.locator("[data-step-result=eprescription]")).to_contain_text("injoignable", timeout=15_000)
    assert errors == []


async def test_setup_methods_are_admin_only_and_the_page_keeps_the_pages_rules(agent: Agent) -> None:
    lgc = RpcContext("un LGC", frozenset({"lgc"}), "ws", 1)
    for method in ("setup.steps", "setup.verify", "setup.save"):
        params = {} if method == "setup.steps" else {"step": "api", "values": {}}
        response = await agent.rpc.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, lgc)
        assert response is not None and response["error"]["code"] == -32003, method
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{agent.server.url}/web/setup.html") as resp:
            assert resp.status == 200
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Frame-Options"] == "DENY"
        async with http.post(f"{agent.server.url}/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "setup.steps",
                                                              "params": {}}) as resp:
            assert resp.status == 401  # no token, no settings
