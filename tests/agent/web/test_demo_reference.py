"""Issue 19 item 14 (and the demo side of item 6): the demo page as an integrator's reference, in headless
Chromium against a real agent, the INSi and e-prescription sandboxes and a private CUPS scheduler."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from agent.app import Agent
from agent.plugins import PluginHost
from plugins.ins.models import ATTESTATION_TEXT
from sandbox import hookspecs as sandbox_hookspecs
from sandbox.demo.server import start_demo_page
from sandbox.eprescription.server import start_eprescription_sandbox
from sandbox.insi.server import InsiSandbox
from sandbox.plugins import SANDBOX_PLUGINS
from tests.agent.web.conftest import DemoSetup
from tests.conftest import free_port
from tests.plugins.eprescription import cupsd
from tests.plugins.ins.conftest import ins_config, wait_until
from tests.ui_support import artifact

pytestmark = pytest.mark.slow


@pytest.fixture
async def full_demo(tmp_path: Path, insi_sandbox: InsiSandbox,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DemoSetup]:
    """The demo page on an agent with the INS and e-prescription plugins; printing goes to a private CUPS
    scheduler with no printer (so a print fails as on a workstation without a default printer)."""
    if shutil.which("cupsd") is None and not Path("/usr/sbin/cupsd").exists():
        pytest.skip("cupsd not installed (.ci/run installs it)")
    ep = await start_eprescription_sandbox(hold=30.0)
    service = ep.as_service()  # as `vigie run --sandbox` wires it: the product plugin and the sandbox's own
    port = free_port()
    page = await start_demo_page(api_port=port)
    with cupsd.private_cupsd() as cups:
        monkeypatch.setenv("CUPS_SERVER", str(cups.socket))
        config = ins_config(tmp_path, insi_sandbox)
        config.sandbox = True  # the page's "téléservice" choice is the sandbox's sandbox_mode
        config.api.port = port
        config.api.allowed_origins = list(page.origins)
        config.api.auto_accept_pairing = True
        config.plugins["ui"] = {"popup": False, "tray": False}
        config.plugins["eprescription"] = {**service.plugin_settings["eprescription"], "timeout": 1.0,
                                           "export_dir": str(tmp_path / "exports")}
        config.plugins["sandbox-eprescription"] = service.plugin_settings["sandbox-eprescription"]
        host = PluginHost()
        host.add_hookspecs(sandbox_hookspecs)
        host.register_references({"sandbox-eprescription": SANDBOX_PLUGINS["sandbox-eprescription"]}, [],
                                 source="sandbox")
        agent = Agent(config, host=host)
        events: list[tuple[str, dict[str, Any]]] = []
        agent.events.subscribe(lambda name, params: events.append((name, dict(params))))
        await agent.start()
        try:
            await wait_until(lambda: agent.plugins.states["ins"].started and
                             agent.plugins.states["eprescription"].started, what="plugins started", timeout=20)
            yield DemoSetup(agent, page.endpoints["demo"], events)
        finally:
            await agent.stop()
            await page.stop()
            await ep.stop()


async def _connected(page: Any, url: str) -> None:
    await page.goto(url)
    await expect(page.locator("#state")).to_have_text("connecté", timeout=15_000)


async def _paired(agent: Agent) -> int:
    return len([c for c in await agent.clients.list() if c.get("client_name") == "LGC de démonstration"])


async def test_one_pairing_per_browser_badges_follow_status_and_plus_tard_hides_only_the_panel(
        full_demo: DemoSetup, browser: Any, request: pytest.FixtureRequest) -> None:
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await _connected(page, full_demo.url)
    assert await _paired(full_demo.agent) == 1
    await page.screenshot(path=artifact(request, "1-start.png"), full_page=True)
    badge = page.locator("#patient-list li[data-local-id=demo-1] .badge")
    await expect(badge).to_have_text("dossier non ouvert")

    await page.get_by_role("button", name="Ouvrir le dossier de ADRTROIS DOMINIQUE").click()
    await expect(badge).to_have_attribute("data-status", "RECUP", timeout=15_000)
    await expect(badge).to_have_text("Récupérée (INSi)")
    panel = page.locator("vigie-qualification")
    await panel.get_by_role("button", name=ATTESTATION_TEXT).click()
    await expect(badge).to_have_attribute("data-status", "QUAL", timeout=10_000)
    await expect(badge).to_have_text("Qualifiée")
    other = page.locator("#patient-list li[data-local-id=demo-3] .badge")
    await expect(other).to_have_text("dossier non ouvert")  # only the opened record's badge moved

    # "Plus tard" puts the panel aside, not the record: the ordonnance stays at hand.
    await page.get_by_role("button", name="Ouvrir le dossier de DE VINCI LEONARDO").click()
    await expect(panel.get_by_role("status")).to_contain_text("Plusieurs identités", timeout=15_000)
    await expect(other).to_have_attribute("data-status", "PROV")
    await panel.get_by_role("button", name="Plus tard").click()
    await expect(panel).to_be_hidden()
    await expect(page.locator("#record")).to_be_visible()
    await expect(page.get_by_role("button", name="Rédiger une ordonnance")).to_be_visible()
    await page.screenshot(path=artifact(request, "2-later.png"), full_page=True)
    await page.get_by_role("button", name="Reprendre la qualification").click()
    await expect(panel).to_be_visible()

    # A reload (same browser) reuses the token: no second pairing, and the badges come back from the agent.
    await page.reload()
    await expect(page.locator("#state")).to_have_text("connecté", timeout=15_000)
    await expect(badge).to_have_text("Qualifiée", timeout=10_000)
    await expect(other).to_have_attribute("data-status", "PROV")
    assert await _paired(full_demo.agent) == 1
    second = await context.new_page()  # another tab of the same browser
    await _connected(second, full_demo.url)
    assert await _paired(full_demo.agent) == 1
    await page.screenshot(path=artifact(request, "3-after-reload.png"), full_page=True)
    assert errors == []
    await context.close()


async def test_event_log_is_readable_newest_first_with_json_on_demand(full_demo: DemoSetup, browser: Any,
                                                                      request: pytest.FixtureRequest) -> None:
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    await _connected(page, full_demo.url)
    await page.get_by_role("button", name="Ouvrir le dossier de ADRTROIS DOMINIQUE").click()
    panel = page.locator("vigie-qualification")
    await panel.get_by_role("button", name=ATTESTATION_TEXT).click()
    log = page.locator("#event-log li")
    await expect(log.first).to_contain_text("ADRTROIS DOMINIQUE : Qualifiée", timeout=15_000)  # newest on top
    count = await log.count()
    assert count >= 3
    texts = [await log.nth(i).locator(".summary").inner_text() for i in range(count)]
    assert texts[-1] == "ADRTROIS DOMINIQUE : Provisoire — INSi : en cours", texts  # the first event is at the bottom
    assert texts[0] == "ADRTROIS DOMINIQUE : Qualifiée — INSi : identité trouvée", texts
    for i in range(count):  # one line each: the JSON is hidden until asked for
        box = await log.nth(i).bounding_box()
        assert box and box["height"] < 30, (texts[i], box)
        await expect(log.nth(i).locator("pre")).to_be_hidden()
    assert "{" not in " ".join(texts)
    await log.first.get_by_role("button", name="JSON").click()
    shown = json.loads((await log.first.locator("pre").inner_text()).split(" ", 1)[1])
    assert shown["status"] == "QUAL" and shown["identity_id"] == await panel.get_attribute("identity-id")
    await page.screenshot(path=artifact(request, "events.png"), full_page=True)


async def test_ordonnance_is_a_real_form_with_french_errors_and_an_export_button(
        full_demo: DemoSetup, browser: Any, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    page = await browser.new_page(viewport={"width": 1366, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await _connected(page, full_demo.url)
    await page.get_by_role("button", name="Ouvrir le dossier de ADRTROIS DOMINIQUE").click()
    section = page.locator("#prescription")
    await section.get_by_role("button", name="Rédiger une ordonnance").click()
    assert await section.locator("textarea[data-field=comments]").count() == 1
    assert "{" not in await section.locator("form").inner_text()  # no JSON to edit anywhere
    # The opened record's patient fills the form; the prescriber is the LGC's user.
    await expect(section.get_by_label("Nom de naissance")).to_have_value("ADRTROIS")
    await expect(section.get_by_label("Date de naissance")).to_have_value("1997-02-26")
    lines = section.get_by_role("group", name="Ligne 1")
    await expect(lines.get_by_label("Posologie")).to_have_value("1 comprimé jusqu'à 3 fois par jour si douleur")

    # Wrong values: each error listed once, by its French name, and its input highlighted.
    await section.get_by_label("N° RPPS").fill("123")
    await lines.get_by_label("Posologie").fill("")
    await section.get_by_role("button", name="Valider l'ordonnance").click()
    result = section.locator(".result")
    await expect(result).to_contain_text("Prescripteur, N° RPPS : Le numéro RPPS doit comporter 11 chiffres.")
    text = await result.inner_text()
    assert text.count("Le numéro RPPS doit comporter 11 chiffres") == 1, text
    assert "Ligne 1, posologie : La posologie du médicament est obligatoire." in text
    assert "prescriber." not in text and "items[" not in text and ".." not in text
    await expect(section.get_by_label("N° RPPS")).to_have_attribute("aria-invalid", "true")
    await expect(lines.get_by_label("Posologie")).to_have_attribute("aria-invalid", "true")
    await page.screenshot(path=artifact(request, "1-errors.png"), full_page=True)

    # Corrected, a weight with a decimal comma, a free-text line added, printed: no printer on this
    # workstation, so the French message offers the export, and the export button is right there.
    await section.get_by_label("N° RPPS").fill("10000123454")
    await lines.get_by_label("Posologie").fill("1 comprimé matin et soir")
    await section.get_by_label("Poids (kg)").fill("9,5")
    await section.get_by_role("button", name="Ajouter un texte libre").click()
    new_line = section.get_by_role("group", name="Ligne 5")
    await new_line.get_by_role("textbox", name="Texte", exact=True).fill("Pas de conduite automobile.")
    await section.get_by_label("imprimer aussi").check()
    await section.get_by_role("button", name="Valider l'ordonnance").click()
    await expect(result).to_contain_text("Ordonnance numérique EP-", timeout=20_000)
    await expect(result).to_contain_text("avec code 2D")
    await expect(result).to_contain_text("aucune imprimante par défaut n'est définie sur ce poste")
    text = await result.inner_text()
    assert "QR code imprimé" not in text and "lp" not in text.split()
    assert "exportez-la" in text
    await section.get_by_role("button", name="Exporter (PDF)").click()
    await expect(result).to_contain_text("Exportée : ", timeout=10_000)
    path = Path((await result.inner_text()).split("Exportée : ", 1)[1].split()[0])
    assert path.parent == tmp_path / "exports" and path.read_bytes().startswith(b"%PDF")
    flat = " ".join(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    assert "Poids : 9,5 kg" in flat and "Pas de conduite automobile." in flat and "ADRTROIS" in flat
    await page.screenshot(path=artifact(request, "2-created.png"), full_page=True)
    assert errors == []
