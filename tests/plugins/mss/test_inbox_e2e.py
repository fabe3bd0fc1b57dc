"""The inbox against Dovecot: incoming XDM offered or refused (nothing lost), and no patient data in logs."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import pytest

from agent.documents import publish
from plugins.common.clinical import cda
from plugins.common.clinical.example import example_metadata
from plugins.mss import repository as repo
from plugins.mss.message import Attachment, Outgoing, compose
from plugins.mss.xdm import build_xdm
from tests.plugins.mss.conftest import (
    APP_MAILBOX,
    MINIMAL_PDF,
    QUALIFIED_INS,
    TREATING,
    AgentFactory,
    document,
    wait_until,
)
from tests.plugins.mss.mailservers import MailServers
from tests.plugins.mss.test_delivery_e2e import _send_as


def _incoming(xdm: bytes, mid: str) -> bytes:
    return compose(Outgoing(sender=TREATING, recipients=[APP_MAILBOX], subject="XDM/1.0/DDM+CR ADRTROIS DOMINIQUE",
                            message_id=mid, body="Compte rendu", nil="OTHER-LPS", cda_codes=["57833-6"],
                            ins_qualified=True,
                            attachments=[Attachment("IHE_XDM.ZIP", xdm, "application", "zip"),
                                         Attachment("cr.pdf", MINIMAL_PDF, "application", "pdf")]))


async def _inbox(agent, mid: str) -> repo.InboxRow | None:  # type: ignore[no-untyped-def]
    rows = await agent.store.transaction(lambda c: repo.list_inbox(c, 500))
    return next((r for r in rows if r.message_id == mid), None)


async def test_mss_inbox_offers_valid_xdm_and_refuses_hostile(make_agent: AgentFactory, mail: MailServers,
                                                              lgc_for) -> None:  # type: ignore[no-untyped-def]
    agent = await make_agent()
    lgc = await lgc_for(agent)
    meta = example_metadata("incoming-1")
    good = build_xdm(meta, cda.build_cda(meta, MINIMAL_PDF), [APP_MAILBOX], software="Autre LPS")
    _send_as(mail, TREATING, _incoming(good, "<good-1@cabinet.mss.test>"), APP_MAILBOX)
    row = await wait_until(lambda: _inbox(agent, "<good-1@cabinet.mss.test>"), what="valid XDM in the inbox")
    assert row.status == "accepted" and row.kind == "document" and row.documents[0]["type_code"] == "57833-6"
    event = await lgc.event("mss.message.received", lambda p: p["inbox_id"] == row.id)
    assert event["status"] == "accepted" and event["documents"] == 1
    got = await lgc.result("mss.get", {"inbox_id": row.id})
    assert got["attachments"][0]["filename"] == "cr.pdf"

    z = zipfile.ZipFile(io.BytesIO(good))
    entries = {n: z.read(n) for n in z.namelist()}
    entries["../../evil.sh"] = b"rm -rf /"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as hostile:
        for name, data in entries.items():
            hostile.writestr(name, data)
    _send_as(mail, TREATING, _incoming(out.getvalue(), "<bad-1@cabinet.mss.test>"), APP_MAILBOX)
    bad = await wait_until(lambda: _inbox(agent, "<bad-1@cabinet.mss.test>"), what="hostile XDM kept")
    assert bad.status == "refused" and "hors de l'archive" in (bad.reason or "")
    raw = await agent.store.transaction(lambda c: repo.inbox_raw(c, bad.id))
    assert raw and b"IHE_XDM.ZIP" in raw  # nothing lost: the refused message is kept whole


@pytest.mark.slow
async def test_mss_no_patient_data_in_logs(make_agent: AgentFactory, mail: MailServers, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    agent = await make_agent()
    doc = document()
    await publish(agent, doc)

    async def done() -> bool:
        rows = await agent.store.transaction(lambda c: repo.list_messages(c, document_id=doc.id))
        return len(rows) == 2 and all(r.state in ("sent", "delivered", "read") for r in rows)

    await wait_until(done, what="sent")
    await agent.stop()
    texts = [caplog.text] + [p.read_text(errors="replace") for p in (tmp_path / "logs").glob("**/*") if p.is_file()]
    for text in texts:
        for secret in (QUALIFIED_INS, "Hélène", "HELENE", "CELINE", "1946-02-03", "03/02/1946", "ELODIE"):
            assert secret not in text, secret
