"""`vigie run --sandbox` with the e-prescription téléservice stand-in, the demo script and the CLI."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.conftest import PYTHON, subprocess_env
from tests.plugins.eprescription.conftest import DATA
from tests.sandbox.test_supervisor import MY_TOKEN, sandbox
from tests.ui_support import artifact, browser

__all__ = ["browser", "sandbox"]
pytestmark = pytest.mark.slow


async def _call(session: aiohttp.ClientSession, api: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    for call_id in range(1, 100):  # /health answers before the plugins have started: -32004 until then
        async with session.post(f"{api}/rpc", headers={"Authorization": f"Bearer {MY_TOKEN}"},
                                json={"jsonrpc": "2.0", "id": call_id, "method": method, "params": params}) as resp:
            answer = await resp.json()
        if "result" in answer:
            return dict(answer["result"])
        assert answer["error"]["code"] == -32004, answer
        await asyncio.sleep(0.2)
    raise AssertionError(f"{method}: plugin never became ready")


async def _create(session: aiohttp.ClientSession, api: str, params: dict[str, Any], mode: str) -> dict[str, Any]:
    # The stand-in's answer is set on the stand-in (sandbox.eprescription_mode), not in prescription.create.
    assert (await _call(session, api, "sandbox.eprescription_mode", {"mode": mode}))["mode"] == mode
    return await _call(session, api, "prescription.create", params)


async def test_eprescription_sandbox_run_create_demo_script_and_cli(sandbox: dict[str, Any], tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{sandbox['port']}"
    found = re.search(r"Service eprescription\s*: (\S+)", sandbox["banner"])
    assert found, sandbox["banner"]
    ordonnance = json.loads((DATA / "ordonnance.json").read_text(encoding="utf-8"))
    async with aiohttp.ClientSession() as session:
        ok = await _create(session, api, {"prescription": ordonnance}, "ok")
        assert ok["code_present"] is True and ok["identifier"].startswith("EP-")
        ko = await _create(session, api, {"prescription": ordonnance}, "ko")
        assert ko["code_present"] is False and ko["teleservice"]["state"] == "ko"
        await _call(session, api, "sandbox.eprescription_mode", {"mode": "ok"})  # for the CLI below
        async with session.get(f"{sandbox['demo']}static/prescription.js") as resp:
            assert resp.status == 200 and "Rédiger une ordonnance" in await resp.text()
        async with session.get(sandbox["demo"]) as resp:
            assert "prescription.js" in await resp.text()

    # The CLI finds the running sandbox agent (pointer file) and writes the PDF it made.
    out_pdf = tmp_path / "ordo.pdf"
    run = subprocess.run([PYTHON, "-m", "agent.cli", "prescription", "render", str(DATA / "ordonnance.json"),
                          "-o", str(out_pdf)], env=subprocess_env(sandbox["home"]), capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    # Issue 19 item 6: rendered, not printed: it does not say "(QR code imprimé)".
    assert re.search(r"ordonnance numérique EP-\S+ \(avec QR code\)", run.stdout), run.stdout
    assert "imprimé" not in run.stdout
    assert out_pdf.read_bytes().startswith(b"%PDF")

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(ordonnance, items=[])), encoding="utf-8")
    run = subprocess.run([PYTHON, "-m", "agent.cli", "prescription", "render", str(bad), "-o", str(out_pdf)],
                         env=subprocess_env(sandbox["home"]), capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    # Each error once, with its French field name (the summary sentence is not repeated under the list).
    assert run.stderr.count("L'ordonnance doit comporter au moins une ligne.") == 1, run.stderr
    assert "  Lignes de l'ordonnance : L'ordonnance doit comporter au moins une ligne." in run.stderr

    proc = sandbox["proc"]
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    url = urllib.parse.urlsplit(found.group(1))
    with pytest.raises(ConnectionRefusedError):  # the téléservice stand-in stopped too
        socket.create_connection((url.hostname, url.port), timeout=1).close()


def test_eprescription_cli_render_local_without_agent(tmp_path: Path) -> None:
    out_pdf = tmp_path / "draft.pdf"
    run = subprocess.run([PYTHON, "-m", "agent.cli", "prescription", "render", str(DATA / "ordonnance.json"),
                          "-o", str(out_pdf), "--local"], env=subprocess_env(tmp_path / "home"),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "sans code 2D" in run.stdout
    text = subprocess.run(["pdftotext", str(out_pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "N° RPPS" in text and "EP-" not in text
    assert "Brouillon" in text and "téléservice indisponible" not in text  # issue 19 item 15: a draft says so
    assert out_pdf.read_bytes().startswith(b"%PDF-")  # a real PDF was written (any non-empty file passed)


async def test_eprescription_demo_page_button_in_headless_chromium(sandbox: dict[str, Any], browser: Any,
                                                                   request: pytest.FixtureRequest) -> None:
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(sandbox["demo"])
    # The page pairs (the sandbox consents) and opens its session; the ordonnance belongs to a record.
    await expect(page.locator("#state")).to_have_text("connecté", timeout=30_000)
    await page.get_by_role("button", name="Ouvrir le dossier de ADRTROIS DOMINIQUE").click()
    section = page.locator("#prescription")
    await section.get_by_role("button", name="Rédiger une ordonnance").click()
    # The form's patient is the opened record's (and its identity_id goes with it).
    await expect(section.get_by_label("Nom de naissance")).to_have_value("ADRTROIS")
    assert await section.locator("form").get_attribute("data-identity-id")
    for mode, expected in (("ok", "Ordonnance numérique EP-"),
                           ("ko", "Ordonnance sans code 2D : Le téléservice e-prescription a refusé")):
        await section.get_by_label("Téléservice (bac à sable)").select_option(mode)
        await section.get_by_role("button", name="Valider l'ordonnance").click()
        await expect(section).to_contain_text(expected, timeout=30_000)
        await expect(section.get_by_role("link", name="Ouvrir le PDF")).to_be_visible()
        await page.screenshot(path=artifact(request, f"{mode}.png"), full_page=True)
    # A malformed ordonnance: the page lists the fields the agent refused, by their French names.
    await section.get_by_label("N° RPPS").fill("123")
    await section.get_by_role("button", name="Valider l'ordonnance").click()
    await expect(section).to_contain_text("Prescripteur, N° RPPS : Le numéro RPPS doit comporter 11 chiffres.")
    assert errors == []
    proc = sandbox["proc"]
    proc.send_signal(signal.SIGINT)  # a clean stop removes the stand-ins' throwaway certificates too
    assert proc.wait(timeout=15) == 0
