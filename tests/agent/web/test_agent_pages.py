"""Issue 19 items 12 and 13: the agent's own pages in headless Chromium, opened as the tray opens them, against
a real agent and the INSi sandbox: the start-of-day batch (choose the day's CSV, progress with counts and
remaining time, resumable) and the journal of qualifications (filter by day, print, CSV export). Both follow
the local API's rules: a token (from the tray, in the URL fragment), the agent's own origin, no framing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from agent.app import Agent
from plugins.ins.plugin import BATCH_TRAY_LABEL, JOURNAL_TRAY_LABEL
from sandbox.insi.server import SAMPLE_DAY, SANDBOX_USER_NAME, InsiSandbox
from tests.conftest import free_port
from tests.plugins.ins.conftest import DOMINIQUE, ins_config, wait_until
from tests.ui_support import CTX, artifact, rpc

pytestmark = pytest.mark.slow


@pytest.fixture
async def agent(tmp_path: Path, insi_sandbox: InsiSandbox) -> AsyncIterator[Agent]:
    config = ins_config(tmp_path, insi_sandbox, batch_rate_per_second=20)
    config.api.port = free_port()
    config.plugins["ui"] = {"popup": False, "tray": False}
    agent = Agent(config)
    await agent.start()
    try:
        await wait_until(lambda: agent.plugins.states["ins"].started, what="INS plugin started")
        yield agent
    finally:
        await agent.stop()


async def _tray(agent: Agent, label: str) -> str:
    """Click the tray entry; the URL the desktop's browser would have been given."""
    opened: list[str] = []
    agent.pages.opener = lambda url: opened.append(url) is None
    await next(i for i in agent.tray_items if i.label == label).action()
    assert len(opened) == 1
    return opened[0]


async def _page(browser: Any, url: str, **kw: Any) -> Any:
    page = await browser.new_page(viewport={"width": 1280, "height": 900}, **kw)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    await page.goto(url)
    await expect(page.locator("#state")).to_have_text("connecté", timeout=15_000)
    assert "jeton" not in page.url  # the token left the address bar and the history
    return page


async def test_batch_page_runs_the_days_csv_with_counts_and_resumes(
        agent: Agent, insi_sandbox: InsiSandbox, browser: Any, request: pytest.FixtureRequest) -> None:
    url = await _tray(agent, BATCH_TRAY_LABEL)  # no [plugins.ins] batch_file: the page chooses the file
    assert url.startswith(f"{agent.server.url}/web/batch.html#jeton=")
    page = await _page(browser, url)
    await expect(page.get_by_text("Aucun lot lancé pour l'instant.")).to_be_visible()
    await page.screenshot(path=artifact(request, "1-choose.png"), full_page=True)
    insi_sandbox.configure(latency=0.4)  # slow enough to see it move, and to reload in the middle
    await page.get_by_label("Autre fichier").set_input_files(str(SAMPLE_DAY))
    await page.get_by_role("button", name="Lancer le lot").click()
    await expect(page.get_by_role("alert")).to_contain_text("Lot lancé : 9 patient(s)")
    await expect(page.get_by_role("alert")).to_contain_text("1 ligne(s) refusée(s)")
    await expect(page.locator("#progress-text")).to_contain_text("sur 9 patient(s) traité(s)")
    await expect(page.locator("#remaining")).not_to_have_text("—")
    await page.screenshot(path=artifact(request, "2-running.png"), full_page=True)

    # Resumable: the page closed and reopened (or the browser restarted) shows the same batch going on.
    await page.close()
    page = await _page(browser, await _tray(agent, BATCH_TRAY_LABEL))
    await expect(page.locator("#batch-name")).to_contain_text("journee-exemple.csv")
    await expect(page.locator("#progress-text")).to_have_text("Terminé : 9 patient(s) traité(s).", timeout=30_000)
    status = (await rpc(agent, "identity.batch_status"))["batch"]
    assert status["finished"] and status["total"] == 9 and status["rejected"] == 1
    assert status["found"] + status["to_complete"] + status["errors"] - status["rejected"] == 9
    assert status["to_complete"] >= 2 and status["errors"] >= 1  # DE VINCI, HOUILLES; the impossible date
    for name, key in (("found", "count-found"), ("to_complete", "count-to-complete"), ("errors", "count-errors")):
        await expect(page.locator(f"#{key}")).to_have_text(str(status[name]))
    await expect(page.locator("#bar")).to_have_attribute("value", "9")
    await expect(page.locator("#remaining")).to_have_text("aucun")
    rows = page.locator("#lines tbody tr")
    await expect(rows.filter(has_text="DE VINCI LEONARDO")).to_contain_text("Plusieurs identités trouvées")
    await expect(rows.filter(has_text="HOUILLES")).to_contain_text("Aucune identité trouvée")
    await expect(rows.filter(has_text="ligne 11 du fichier")).to_contain_text("date de naissance")
    assert await rows.filter(has_text="ADRTROIS DOMINIQUE").count() == 0  # found: nothing to do here
    await page.screenshot(path=artifact(request, "3-finished.png"), full_page=True)
    assert page.errors == []

    # The same day's file again: nothing is asked twice (the identities are found, answered or pending).
    calls = insi_sandbox.stats.total
    again = await rpc(agent, "identity.batch_csv", csv=SAMPLE_DAY.read_text(encoding="utf-8"), name="encore.csv")
    assert again["total"] == 9
    await agent.outbox.wait_idle(10)
    assert insi_sandbox.stats.total - calls <= again["queued"] <= 2  # only the not-found ones are retried


async def test_batch_page_offers_the_configured_file_and_refuses_a_bad_csv(tmp_path: Path, insi_sandbox: InsiSandbox,
                                                                           browser: Any) -> None:
    config = ins_config(tmp_path, insi_sandbox, batch_file=str(SAMPLE_DAY))  # as `vigie run --sandbox` sets it
    config.api.port = free_port()
    config.plugins["ui"] = {"popup": False, "tray": False}
    agent = Agent(config)
    await agent.start()
    try:
        await wait_until(lambda: agent.plugins.states["ins"].started, what="INS plugin started")
        page = await _page(browser, await agent.pages.url("batch.html"))
        await expect(page.locator("#configured-name")).to_have_text("journee-exemple.csv")
        bad = tmp_path / "agenda.csv"
        bad.write_text("nom;prenom\nMARTIN;CLAIRE\n", encoding="utf-8")
        await page.get_by_label("Autre fichier").set_input_files(str(bad))
        await page.get_by_role("button", name="Lancer le lot").click()
        await expect(page.get_by_role("alert")).to_have_text(
            "agenda.csv : colonnes manquantes : birth_name, sex, birth_date (attendues : birth_name, first_names, "
            "sex, birth_date ; local_id et birth_place facultatives).")
        await page.get_by_role("button", name="Lancer avec ce fichier").click()
        await expect(page.get_by_role("alert")).to_contain_text("Lot lancé : 9 patient(s)")
        await expect(page.locator("#progress-text")).to_have_text("Terminé : 9 patient(s) traité(s).",
                                                                  timeout=30_000)
    finally:
        await agent.stop()


async def _qualify_two(agent: Agent) -> list[str]:
    ids = []
    for traits in (DOMINIQUE, {"birth_name": "ADRUN", "first_names": ["ZOE"], "sex": "F", "birth_date": "1975-12-31"}):
        ids.append((await rpc(agent, "identity.submit", traits=traits))["identity_id"])
    for identity_id in ids:
        await wait_until_status(agent, identity_id, "RECUP")
    await _call(agent, "identity.qualify", {"identity_id": ids[0], "method": "attestation"})
    await _call(agent, "identity.qualify", {"identity_id": ids[1], "method": "document", "document_type": "passport"})
    return ids


async def _call(agent: Agent, name: str, params: dict[str, Any]) -> Any:
    response = await agent.rpc.handle({"jsonrpc": "2.0", "id": 1, "method": name, "params": params}, CTX)
    assert response is not None and "result" in response, response
    return response["result"]


async def wait_until_status(agent: Agent, identity_id: str, status: str) -> None:
    for _ in range(300):
        if (await rpc(agent, "identity.get", identity_id=identity_id))["status"] == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{identity_id} never reached {status}")


async def test_journal_page_lists_the_days_qualifications_prints_and_exports(agent: Agent, browser: Any,
                                                                             request: pytest.FixtureRequest) -> None:
    await _qualify_two(agent)
    page = await _page(browser, await _tray(agent, JOURNAL_TRAY_LABEL), accept_downloads=True)
    rows = page.locator("#journal tbody tr")
    await expect(rows).to_have_count(2)
    first, second = rows.nth(0), rows.nth(1)
    await expect(first).to_contain_text("ADRTROIS DOMINIQUE")
    await expect(first).to_contain_text("26/02/1997")
    await expect(first).to_contain_text("297022A02077878")  # the INS, once qualified
    await expect(first).to_contain_text("attestation du praticien")
    await expect(first).to_contain_text("récupérée → qualifiée")
    await expect(first).to_contain_text(f"{SANDBOX_USER_NAME} (CPS)")  # [plugins.ins] user, kind ps
    await expect(second).to_contain_text("ADRUN ZOE")
    await expect(second).to_contain_text("document d'identité : Passeport (français ou étranger)")
    await page.screenshot(path=artifact(request, "1-day.png"), full_page=True)

    # The whole trail (creation, INSi answers) on demand.
    await page.get_by_label("qualifications seulement").uncheck()
    await expect(rows).to_have_count(6)  # per identity: created, INSi answer, qualified
    await expect(rows.filter(has_text="Réponse INSi").first).to_contain_text("Vigie (automatique")
    await page.get_by_label("qualifications seulement").check()
    await expect(rows).to_have_count(2)

    # CSV for the identitovigilance referent: what the table shows, `;`, UTF-8 with BOM.
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Exporter (CSV)").click()
    download = await info.value
    assert download.suggested_filename.startswith("journal-qualifications-")
    content = Path(await download.path()).read_bytes().decode("utf-8")
    assert content.startswith("\ufeffDate;Heure;Patient;Date de naissance;INS;Action;Méthode;")
    lines = content.strip().splitlines()
    assert len(lines) == 3 and "ADRTROIS DOMINIQUE;26/02/1997;297022A02077878;Identité qualifiée" in lines[1]

    # Printable: the filters and buttons are not on paper.
    await page.emulate_media(media="print")
    await expect(page.locator("#filters")).to_be_hidden()
    await expect(rows).to_have_count(2)
    await page.screenshot(path=artifact(request, "2-print.png"), full_page=True)
    await page.emulate_media(media="screen")
    # Another day: nothing.
    await page.get_by_label("Jour").fill("2020-01-02")
    await page.get_by_role("button", name="Afficher").click()
    await expect(page.locator("#message")).to_have_text("Aucune entrée ce jour-là.")
    await expect(page.locator("#journal")).to_be_hidden()
    assert page.errors == []


async def test_agent_pages_follow_the_local_api_rules(agent: Agent, browser: Any) -> None:
    base = agent.server.url
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/web/journal.html") as resp:
            assert resp.status == 200 and "Journal des qualifications" in await resp.text()
            csp = resp.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
            assert resp.headers["X-Frame-Options"] == "DENY"
        # Another site's page may not talk to the agent; the agent's own origin may (with a token).
        async with session.ws_connect(f"ws://127.0.0.1:{agent.server.port}/ws", headers={"Origin": base}) as ws:
            await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "session.open", "params": {"token": "faux"}})
            reply = await ws.receive_json(timeout=5)
            assert reply["error"]["code"] != -32003  # refused for its token, not for its origin
        with pytest.raises(aiohttp.WSServerHandshakeError):
            async with session.ws_connect(f"ws://127.0.0.1:{agent.server.port}/ws",
                                          headers={"Origin": "http://evil.example"}):
                pass
    # Without the tray's token the page asks the practitioner (pairing: an `lgc` token), and the journal,
    # an administrative read, says where to open it from.
    page = await browser.new_page()
    await page.goto(f"{base}/web/journal.html")
    await expect(page.locator("#state")).to_have_text("autorisation demandée dans Vigie…", timeout=10_000)
    request = await _pairing_request(agent)
    agent.pairing.decide(request, True)
    await expect(page.locator("#message")).to_have_text(
        "Ce journal s'ouvre depuis l'icône Vigie (menu « Journal des qualifications »).", timeout=10_000)
    # One token for all the agent's pages, reused at each opening (kept in the keyring).
    first, second = await agent.pages.url("batch.html"), await agent.pages.url("journal.html")
    assert first.split("#jeton=")[1] == second.split("#jeton=")[1]


async def _pairing_request(agent: Agent) -> int:
    for _ in range(200):
        pending = agent.pairing.pending()
        if pending:
            return int(pending[0].id)
        await asyncio.sleep(0.05)
    raise AssertionError("no pairing request")
