"""Issue 15 item 5: received MSSanté messages in the tray ("Messages MSSanté reçus (N non lus)") and on the
agent's page (/web/messages.html) in headless Chromium, against the real Postfix/Dovecot operator: sender,
patient, document, date, state (a refused one with its French reason), open the PDF, mark as read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from agent.app import Agent
from plugins.common.clinical import cda
from plugins.common.clinical.example import example_metadata
from plugins.mss import repository as repo
from plugins.mss.message import Outgoing, compose
from plugins.mss.plugin import INBOX_TRAY_LABEL
from plugins.mss.xdm import build_xdm
from tests.plugins.mss.conftest import APP_MAILBOX, MINIMAL_PDF, TREATING, AgentFactory, wait_until
from tests.plugins.mss.mailservers import MailServers
from tests.plugins.mss.test_delivery_e2e import _send_as
from tests.plugins.mss.test_inbox_e2e import _incoming
from tests.ui_support import artifact, browser

pytestmark = pytest.mark.slow
__all__ = ["browser"]


def _item(agent: Agent) -> Any:
    return next(i for i in agent.tray_items if i.label == INBOX_TRAY_LABEL)


async def _tray(agent: Agent) -> str:
    opened: list[str] = []
    agent.pages.opener = lambda url: opened.append(url) is None
    await _item(agent).action()
    assert len(opened) == 1
    return opened[0]


async def test_received_messages_tray_entry_and_page(make_agent: AgentFactory, mail: MailServers, browser: Any,
                                                     request: pytest.FixtureRequest) -> None:
    agent = await make_agent()
    service = agent.plugins.pm.get_plugin("mss").service
    # The mailbox is shared by this process's tests: what earlier ones left there is read first, then seen.
    await wait_until(lambda: service.watcher.cycles >= 1, what="first inbox sync")
    for old in await agent.store.transaction(lambda c: repo.list_inbox(c, 500)):
        await service.mark_seen(old.id)
    assert _item(agent).shown_label() == INBOX_TRAY_LABEL  # nothing unread: the plain label
    meta = example_metadata("page-1")
    good = build_xdm(meta, cda.build_cda(meta, MINIMAL_PDF), [APP_MAILBOX], software="Autre LPS")
    _send_as(mail, TREATING, _incoming(good, "<page-good@cabinet.mss.test>"), APP_MAILBOX)
    # The announced file is missing from the archive: refused, with its French reason.
    bad = good.replace(b"IHE_XDM/SUBSET01/DOC0001.XML", b"IHE_XDM/SUBSET01/DOC0002.XML")
    _send_as(mail, TREATING, _incoming(bad, "<page-bad@cabinet.mss.test>"), APP_MAILBOX)
    _send_as(mail, TREATING, compose(Outgoing(sender=TREATING, recipients=[APP_MAILBOX], subject="Question sur Mme X",
                                              message_id="<page-plain@cabinet.mss.test>", body="Bonjour", nil="O")),
             APP_MAILBOX)

    ours = {"<page-good@cabinet.mss.test>", "<page-bad@cabinet.mss.test>", "<page-plain@cabinet.mss.test>"}

    async def three() -> bool:
        rows = await agent.store.transaction(lambda c: repo.list_inbox(c, 500))
        return {r.message_id for r in rows} >= ours

    await wait_until(three, timeout=40, what="three messages in the inbox")
    assert _item(agent).shown_label() == f"{INBOX_TRAY_LABEL} (3 non lus)"

    url = await _tray(agent)
    assert url.startswith(f"{agent.server.url}/web/messages.html#jeton=")
    page = await browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    await expect(page.locator("#state")).to_have_text("connecté", timeout=15_000)
    rows = page.locator("#inbox tbody tr")
    await expect(page.locator("#message")).to_contain_text("messages reçus, dont 3 non lus.")
    await expect(rows.filter(has_text="non lu")).to_have_count(2)  # the refused one says "Refusé"
    accepted = page.locator('tr[data-message-id="<page-good@cabinet.mss.test>"]')
    await expect(accepted).to_contain_text(TREATING)
    await expect(accepted).to_contain_text("ADRTROIS DOMINIQUE, né(e) le 26/02/1997")
    await expect(accepted).to_contain_text("Document reçu, non lu")
    refused = page.locator('tr[data-message-id="<page-bad@cabinet.mss.test>"]')
    await expect(refused).to_contain_text("Refusé : Archive IHE_XDM incomplète : le document DOC0001.XML annoncé est "
                                          "absent.")
    await expect(refused.get_by_role("button", name="Ouvrir le PDF")).to_have_count(0)
    plain = page.locator('tr[data-message-id="<page-plain@cabinet.mss.test>"]')
    await expect(plain).to_contain_text("Message reçu, non lu")
    await page.screenshot(path=artifact(request, "1-unread.png"), full_page=True)

    async with page.expect_download() as info:
        await accepted.get_by_role("button", name="Ouvrir le PDF").click()
    download = await info.value
    assert download.suggested_filename == "cr.pdf"
    assert Path(await download.path()).read_bytes() == MINIMAL_PDF
    await expect(accepted).to_contain_text("Document reçu, lu")  # opening it marked it read
    await wait_until(lambda: _item(agent).shown_label() == f"{INBOX_TRAY_LABEL} (2 non lus)", what="2 unread")

    await refused.get_by_role("button", name="Marquer comme lu").click()
    await expect(refused).to_contain_text("Refusé (lu) : Archive IHE_XDM incomplète")
    await expect(page.locator("#message")).to_contain_text("messages reçus, dont 1 non lu.")
    await wait_until(lambda: _item(agent).shown_label() == f"{INBOX_TRAY_LABEL} (1 non lu)", what="1 unread")
    await page.get_by_label("non lus seulement").check()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Question sur Mme X")
    await page.get_by_label("non lus seulement").uncheck()
    await page.screenshot(path=artifact(request, "2-read.png"), full_page=True)
    assert errors == []
    # The count is the store's (it survives a restart), not only the memory's.
    assert await agent.store.transaction(repo.unseen_count) == service.unseen == 1
