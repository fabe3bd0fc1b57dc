"""Durability, authentication failures, receipts and [FIN], against the real Postfix/Dovecot operator."""

from __future__ import annotations

import email
import email.policy
import smtplib
import ssl
import time

from agent.documents import publish
from plugins.mss import repository as repo
from plugins.mss.receipts import build_mdn
from tests.plugins.mss.conftest import (
    APP_MAILBOX,
    PATIENT_ADDRESS,
    PRACTITIONER,
    QUALIFIED_INS,
    TREATING,
    AgentFactory,
    document,
    wait_until,
)
from tests.plugins.mss.mailservers import TEST_PASSWORD, MailServers


async def _rows(agent, document_id: str) -> list[repo.MessageRow]:  # type: ignore[no-untyped-def]
    return await agent.store.transaction(lambda c: repo.list_messages(c, document_id=document_id))


def _copies(mail: MailServers, address: str, message_id: str) -> int:
    return sum(1 for raw in mail.delivered(address) if email.message_from_bytes(raw)["Message-ID"] == message_id)


async def _pro(agent, doc_id: str, states: tuple[str, ...]) -> repo.MessageRow | None:  # type: ignore[no-untyped-def]
    rows = [r for r in await _rows(agent, doc_id) if r.recipients and r.recipients[0].role == "treating"]
    return rows[0] if rows and rows[0].state in states else None


async def test_mss_server_down_queued_then_sent_once(make_agent: AgentFactory, mail: MailServers) -> None:
    agent = await make_agent()
    mail.stop_postfix()
    try:
        doc = document(mss={"to_patient": False})
        await publish(agent, doc)

        async def waiting_with_reason() -> repo.MessageRow | None:
            r = await _pro(agent, doc.id, ("queued",))
            return r if r and r.reason and "injoignable" in r.reason else None

        row = await wait_until(waiting_with_reason, what="queued with a French reason")
        assert row.state == "queued"
    finally:
        mail.start_postfix()
    sent = await wait_until(lambda: _pro(agent, doc.id, ("sent", "delivered", "read")), timeout=60, what="sent")
    await wait_until(lambda: _copies(mail, TREATING, sent.message_id) == 1, what="delivered")
    time.sleep(1.0)
    assert _copies(mail, TREATING, sent.message_id) == 1


async def test_mss_wrong_certificate_refused_in_french(make_agent: AgentFactory, mail: MailServers) -> None:
    rogue = mail.pki.rogue_client
    agent = await make_agent(pkcs12=str(rogue.p12), passphrase=rogue.passphrase)
    doc = document(mss={"to_patient": False})
    await publish(agent, doc)
    row = await wait_until(lambda: _pro(agent, doc.id, ("failed",)), what="failed")
    assert "Certificat de la boîte applicative refusé" in (row.reason or "")
    assert _copies(mail, TREATING, row.message_id) == 0


async def test_mss_expired_certificate_refused(make_agent: AgentFactory, mail: MailServers) -> None:
    expired = mail.pki.expired_client
    agent = await make_agent(pkcs12=str(expired.p12), passphrase=expired.passphrase)
    doc = document(mss={"to_patient": False})
    await publish(agent, doc)
    row = await wait_until(lambda: _pro(agent, doc.id, ("failed",)), what="failed")
    assert "refusé" in (row.reason or "")


async def test_mss_tls_name_mismatch_refused(make_agent: AgentFactory, mail: MailServers) -> None:
    agent = await make_agent(smtp_host="127.0.0.1", imap_host="127.0.0.1")
    doc = document(mss={"to_patient": False})
    await publish(agent, doc)
    row = await wait_until(lambda: _pro(agent, doc.id, ("failed",)), what="failed")
    assert "ne correspond pas à son adresse (127.0.0.1)" in (row.reason or "")


async def test_mss_personal_mailbox_bearer_token(make_agent: AgentFactory, mail: MailServers,
                                                 memory_keyring) -> None:  # type: ignore[no-untyped-def]
    refresh = mail.psc.issuer.enrol(PRACTITIONER)
    memory_keyring.set_password("vigie", "mss.psc_refresh", refresh)
    agent = await make_agent(mailbox=PRACTITIONER, auth="token", psc_token_url=mail.psc.running.token_url)
    doc = document(mss={"to_patient": False})
    await publish(agent, doc)
    row = await wait_until(lambda: _pro(agent, doc.id, ("sent", "delivered", "read")), what="sent by token")
    assert _copies(mail, TREATING, row.message_id) == 1
    sent = [email.message_from_bytes(r)["Message-ID"] for r in mail.delivered(PRACTITIONER, "Sent")]
    assert row.message_id in sent
    # Expired session: the token is refused and PSC will not refresh it -> French error, nothing sent.
    mail.psc.issuer.revoke(refresh)
    mail.psc.issuer.expire_all()
    doc2 = document(mss={"to_patient": False})
    await publish(agent, doc2)

    async def refused() -> repo.MessageRow | None:
        r = await _pro(agent, doc2.id, ("queued", "failed"))
        return r if r and r.reason and "Pro Santé Connect" in r.reason else None

    row2 = await wait_until(refused, timeout=40, what="token refused in French")
    assert _copies(mail, TREATING, row2.message_id) == 0


def _send_as(mail: MailServers, user: str, raw: bytes, to: str) -> None:
    context = ssl.create_default_context(cafile=str(mail.pki.ca))
    with smtplib.SMTP(mail.host, mail.submission_port, timeout=10) as smtp:
        smtp.starttls(context=context)
        smtp.login(user, TEST_PASSWORD)
        smtp.sendmail(user, [to], raw)


async def test_mss_dsn_delivered_then_mdn_read(make_agent: AgentFactory, mail: MailServers) -> None:
    agent = await make_agent()
    doc = document(mss={"to_patient": False})
    await publish(agent, doc)
    # Postfix's success DSN (NOTIFY=SUCCESS) comes back to the application mailbox: delivered.
    row = await wait_until(lambda: _pro(agent, doc.id, ("delivered",)), timeout=40, what="delivered by DSN")
    original = next(email.message_from_bytes(r) for r in mail.delivered(TREATING)
                    if email.message_from_bytes(r)["Message-ID"] == row.message_id)
    _send_as(mail, TREATING, build_mdn(original, TREATING), APP_MAILBOX)
    await wait_until(lambda: _pro(agent, doc.id, ("read",)), timeout=40, what="read by MDN")


async def test_mss_mdn_error_marks_failed_with_code(make_agent: AgentFactory, mail: MailServers) -> None:
    agent = await make_agent()
    doc = document(mss={"to_patient": False})
    await publish(agent, doc)
    row = await wait_until(lambda: _pro(agent, doc.id, ("sent", "delivered")), what="sent")
    original = await wait_until(lambda: next((email.message_from_bytes(r) for r in mail.delivered(TREATING)
                                              if email.message_from_bytes(r)["Message-ID"] == row.message_id), None),
                                what="original delivered")
    _send_as(mail, TREATING, build_mdn(original, TREATING, error=("E04", "Patient inconnu")), APP_MAILBOX)
    failed = await wait_until(lambda: _pro(agent, doc.id, ("failed",)), timeout=40, what="failed by MDN")
    assert failed.recipients[0].code == "E04" and "Patient inconnu" in (failed.recipients[0].reason or "")


async def test_mss_end_conversation_sends_exact_fin(make_agent: AgentFactory, mail: MailServers, lgc_for) -> None:  # type: ignore[no-untyped-def]
    agent = await make_agent()

    def qualify(c) -> None:  # type: ignore[no-untyped-def]
        now = time.time()
        c.execute("INSERT INTO ins_identities (id, source, status, traits, traits_key, ins_matricule, ins_key, ins_oid,"
                  " created_at, updated_at) VALUES ('id-fin', 'test', 'QUAL', '{}', 'k', ?, ?, ?, ?, ?)",
                  (QUALIFIED_INS[:13], QUALIFIED_INS[13:], "1.2.250.1.213.1.4.8", now, now))
        c.execute("INSERT INTO ins_identities (id, source, status, traits, traits_key, created_at, updated_at) "
                  "VALUES ('id-prov', 'test', 'PROV', '{}', 'k2', ?, ?)", (now, now))

    await agent.store.transaction(qualify)
    lgc = await lgc_for(agent)
    result = await lgc.result("mss.end_conversation", {"identity_id": "id-fin"})
    mid = result["message_id"]
    await wait_until(lambda: _copies(mail, PATIENT_ADDRESS, mid) == 1, what="[FIN] delivered")
    msg = next(email.message_from_bytes(r, policy=email.policy.default) for r in mail.delivered(PATIENT_ADDRESS)
               if email.message_from_bytes(r)["Message-ID"] == mid)
    assert msg["Subject"] == "[FIN]"
    assert msg["X-MSS-NIL"] == "VIGIE-TEST-NIL"
    refused = await lgc.call("mss.end_conversation", {"identity_id": "id-prov"})
    assert "INS n'est pas qualifiée" in refused["error"]["message"]


async def test_mss_unknown_outcome_looks_in_sent_before_resending(make_agent: AgentFactory, mail: MailServers) -> None:
    """The state a kill -9 between SMTP and the store leaves (`sending`): the retry finds the message in
    Sent and does not send it twice; a message absent from Sent is sent (once)."""
    agent = await make_agent()
    doc = document(mss={"to_patient": False})
    await publish(agent, doc)
    row = await wait_until(lambda: _pro(agent, doc.id, ("sent", "delivered", "read")), what="sent")
    await wait_until(lambda: _copies(mail, TREATING, row.message_id) == 1, what="delivered")

    def back_to_sending(c) -> None:  # type: ignore[no-untyped-def]
        r = repo.get_message(c, row.message_id)
        assert r is not None
        for rec in r.recipients:
            rec.state = "sending"
        r.state = "sending"
        repo.save_message(c, r)

    await agent.store.transaction(back_to_sending)
    await agent.outbox.enqueue("mss.deliver", {"message_id": row.message_id}, key="retry-after-crash")
    again = await wait_until(lambda: _pro(agent, doc.id, ("sent", "delivered", "read")), what="settled again")
    await agent.outbox.wait_idle(10)
    assert again.state in ("sent", "delivered", "read")
    time.sleep(1.0)
    assert _copies(mail, TREATING, row.message_id) == 1
    in_sent = [r for r in mail.delivered(APP_MAILBOX, "Sent") if email.message_from_bytes(r)["Message-ID"] ==
               row.message_id]
    assert len(in_sent) == 1  # a resend would have appended a second copy
