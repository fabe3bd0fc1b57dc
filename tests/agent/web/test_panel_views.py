"""What `<vigie-qualification>` shows, in headless Chromium against a real agent and the INSi sandbox
(issue 19 items 1, 2, 10, 11): French only, one message per state with the next step and a relaunch
button, a disabled confirm that looks disabled, readable values, and the qualified identity."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import expect

from plugins.ins.models import ATTESTATION_TEXT
from tests.agent.web.conftest import DemoSetup
from tests.ui_support import artifact, english_words, rpc

pytestmark = pytest.mark.slow

DE_VINCI = {"local_id": "v-1", "traits": {"birth_name": "DE VINCI", "first_names": ["LEONARDO"], "sex": "M",
                                          "birth_date": "2014-02-01"}}
HOUILLES = {"local_id": "v-2", "traits": {"birth_name": "HOUILLES", "first_names": ["PIERRE", "PAUL", "JACQUES"],
                                          "sex": "M", "birth_date": "1993-01-27"}}
ADRTROIS = {"local_id": "v-3", "traits": {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F",
                                          "birth_date": "1997-02-26"}}
CATARINA = {"local_id": "v-4", "traits": {"birth_name": "TCHITCHI", "first_names": ["CATARINA"], "sex": "F",
                                          "birth_date": "1936-06-21"}}
ECETINSI = {"local_id": "v-5", "traits": {"birth_name": "ECETINSI", "first_names": ["PIERRE-ALAIN"], "sex": "M",
                                          "birth_date": "2009-07-14"}}
LUNAR = {"local_id": "v-6", "traits": {"birth_name": "LUNAIRE", "first_names": ["AHMED"], "sex": "M",
                                       "birth_date": "1975-00-00", "birth_place": "2A004"}}


async def _page(browser: Any, demo: DemoSetup) -> Any:
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    await page.goto(demo.url)
    await expect(page.locator("#state")).to_have_text("connecté", timeout=10_000)
    return page


async def _open(page: Any, patient: dict[str, Any]) -> Any:
    await page.evaluate("p => demo.openRecord(p)", patient)
    return page.locator("vigie-qualification")


async def _answered(panel: Any) -> None:
    """Wait until INSi's answer is on screen (the busy message is gone)."""
    await expect(panel.locator(".message.busy")).to_have_count(0, timeout=15_000)


async def _insi_at(demo: DemoSetup, identity_id: str) -> float | None:
    return (await rpc(demo.agent, "identity.view", identity_id=identity_id))["insi"]["at"]


async def wait_until_async(probe: Any, accept: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    value = None
    while asyncio.get_running_loop().time() < deadline:
        value = await probe()
        if accept(value):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"last value {value!r}")


@pytest.mark.parametrize("patient", [DE_VINCI, HOUILLES, ADRTROIS, LUNAR], ids=["several", "none", "found", "lunar"])
async def test_panel_every_label_is_french(demo: DemoSetup, browser: Any, patient: dict[str, Any],
                                           request: pytest.FixtureRequest) -> None:
    page = await _page(browser, demo)
    panel = await _open(page, patient)
    await _answered(panel)
    await expect(panel.locator("tbody tr").first).to_be_visible()
    text = await panel.inner_text()
    assert not english_words(text), text
    # The traits are named in French whether INSi answered or not (no "birth name" fallback).
    heads = await panel.locator("tbody th").all_inner_texts()
    assert "nom de naissance" in heads and "sexe" in heads
    await page.screenshot(path=artifact(request, "panel.png"), full_page=True)
    assert page.errors == []


async def test_panel_one_message_per_state_and_relaunch(demo: DemoSetup, browser: Any,
                                                        request: pytest.FixtureRequest) -> None:
    page = await _page(browser, demo)
    panel = await _open(page, DE_VINCI)
    await _answered(panel)
    message = panel.locator(".message")
    await expect(message).to_have_count(1)
    await expect(message).to_contain_text("Plusieurs identités trouvées")
    # No second, contradictory warning under the buttons ("Pas de réponse INSi..." twice, before).
    await expect(panel.locator(".why")).to_have_count(0)
    assert "Pas de réponse INSi" not in await panel.inner_text()
    # "relancez" comes with the button that does it.
    relaunch = panel.get_by_role("button", name="Relancer la recherche INSi")
    await expect(relaunch).to_be_enabled()
    # A disabled confirm button looks disabled: not the primary blue.
    confirm = panel.locator("button.confirm")
    await expect(confirm).to_be_disabled()
    background = await confirm.evaluate("b => getComputedStyle(b).backgroundColor")
    assert background != "rgb(31, 95, 168)", background
    await page.screenshot(path=artifact(request, "several.png"), full_page=True)

    identity_id = await panel.get_attribute("identity-id")
    asked_at = (await rpc(demo.agent, "identity.view", identity_id=identity_id))["insi"]["at"]
    await relaunch.click()
    await wait_until_async(lambda: _insi_at(demo, identity_id), lambda at: at is not None and at > asked_at)
    await _answered(panel)
    await expect(panel.locator(".message")).to_contain_text("Plusieurs identités trouvées", timeout=15_000)
    audit = (await rpc(demo.agent, "identity.audit", identity_id=identity_id))["entries"]
    assert [e["action"] for e in audit].count("insi_relaunched") == 1  # who asked, when
    assert page.errors == []


async def test_panel_readable_values(demo: DemoSetup, browser: Any, request: pytest.FixtureRequest) -> None:
    page = await _page(browser, demo)
    panel = await _open(page, ADRTROIS)
    await _answered(panel)
    await expect(panel.locator("tr[data-field=birth_date] td").first).to_have_text("26/02/1997")
    await expect(panel.locator("tr[data-field=sex] td").first).to_have_text("Féminin")

    panel = await _open(page, LUNAR)
    await _answered(panel)
    await expect(panel.locator("tr[data-field=birth_date] td").first).to_have_text(
        "00/00/1975 (date lunaire : jour et mois inconnus)")
    await expect(panel.locator("tr[data-field=birth_place] td").first).to_have_text("Ajaccio (2A004)")
    await expect(panel.locator("tr[data-field=sex] td").first).to_have_text("Masculin")
    await page.screenshot(path=artifact(request, "lunar.png"), full_page=True)
    assert page.errors == []


async def test_panel_attestation_shows_what_insi_changes_then_qualified(demo: DemoSetup, browser: Any,
                                                                       request: pytest.FixtureRequest) -> None:
    page = await _page(browser, demo)
    panel = await _open(page, CATARINA)
    await _answered(panel)
    changes = panel.locator(".changes")
    await expect(changes).to_contain_text("En qualifiant, le dossier prend les traits INSi")
    await expect(changes.locator("li[data-field=first_names]")).to_have_text(
        "prénoms de naissance : CATARINA → CATARINA BELLA")
    await expect(changes.locator("li[data-field=birth_place]")).to_have_text("lieu de naissance : — → Mazoires (63220)")
    attest = panel.get_by_role("button", name=ATTESTATION_TEXT)
    assert await attest.inner_text() == ATTESTATION_TEXT  # verbatim, on the same screen as the changes
    await page.screenshot(path=artifact(request, "before.png"), full_page=True)

    await attest.click()
    done = panel.locator(".qualified")
    await expect(done.locator("h3")).to_have_text("Identité qualifiée", timeout=10_000)
    text = await done.inner_text()
    assert "236066322083656 (NIR)" in text and "1.2.250.1.213.1.4.8" in text
    assert "attestation du praticien" in text and re.search(r"\d\d/\d\d/\d{4} à \d\d:\d\d", text)
    # The pre-qualification instruction and the buttons are gone.
    await expect(panel.locator(".message")).to_have_count(0)
    await expect(panel.locator("button.confirm")).to_have_count(0)
    await expect(panel.locator(".changes")).to_have_count(0)
    await page.screenshot(path=artifact(request, "after.png"), full_page=True)
    assert page.errors == []


async def test_panel_shows_former_ins(demo: DemoSetup, browser: Any, request: pytest.FixtureRequest) -> None:
    page = await _page(browser, demo)
    panel = await _open(page, ECETINSI)
    await _answered(panel)
    await expect(panel.locator(".former")).to_contain_text("Ancien INS")
    await expect(panel.locator(".former")).to_contain_text("209076322083439 (NIR")
    await page.screenshot(path=artifact(request, "inshisto.png"), full_page=True)
    assert page.errors == []
