"""End to end against the real operator (Postfix submission + Dovecot): a validated document is mailed."""

from __future__ import annotations

import email
import email.header
import email.policy
import hashlib
import io
import zipfile

from lxml import etree

from agent.documents import publish
from plugins.common.clinical import cda
from plugins.mss import repository as repo
from tests.plugins.mss.conftest import (
    APP_MAILBOX,
    PATIENT_ADDRESS,
    QUALIFIED_INS,
    TREATING,
    AgentFactory,
    document,
    wait_until,
)
from tests.plugins.mss.mailservers import MailServers

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


def _messages_for(mail: MailServers, address: str, message_id: str) -> list[email.message.Message]:
    out = []
    for raw in mail.delivered(address):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        if msg.get("Message-ID") == message_id:
            out.append(msg)
    return out


async def _rows(agent, document_id: str) -> list[repo.MessageRow]:  # type: ignore[no-untyped-def]
    return await agent.store.transaction(lambda c: repo.list_messages(c, document_id=document_id))


def _check_xdm(data: bytes, *, ins: str | None = QUALIFIED_INS) -> etree._Element:
    """Unzip, parse METADATA.XML, check the CDA's hash and size: the receiver's own checks."""
    z = zipfile.ZipFile(io.BytesIO(data))
    names = set(z.namelist())
    assert {"INDEX.HTM", "README.TXT", "IHE_XDM/SUBSET01/METADATA.XML", "IHE_XDM/SUBSET01/DOC0001.XML"} <= names
    meta = etree.fromstring(z.read("IHE_XDM/SUBSET01/METADATA.XML"))
    entry = meta.find(f".//{{{RIM}}}ExtrinsicObject")
    assert entry is not None
    slots = {s.get("name"): [v.text for v in s.iter(f"{{{RIM}}}Value")] for s in entry.iter(f"{{{RIM}}}Slot")}
    doc = z.read("IHE_XDM/SUBSET01/" + slots["URI"][0])
    assert slots["hash"] == [hashlib.sha1(doc).hexdigest()]
    assert slots["size"] == [str(len(doc))]
    header = cda.read_header(doc)
    assert header.type_code == "57833-6"
    if ins is not None:
        assert header.ins == ins
    else:  # no INS at all in the CDA: the local id alone
        assert [root for root, _ in header.patient_ids] == [IPP_OID]
    return meta


async def test_mss_qualified_patient_gets_xdm_with_headers(make_agent: AgentFactory, mail: MailServers) -> None:
    agent = await make_agent()
    doc = document()
    await publish(agent, doc)
    rows = await wait_until(lambda: _sent(agent, doc.id, 2), what="two messages sent")
    patient_row = next(r for r in rows if r.recipients[0].role == "patient")
    pro_row = next(r for r in rows if r.recipients[0].role == "treating")
    msgs = await wait_until(lambda: _messages_for(mail, PATIENT_ADDRESS, patient_row.message_id),
                            what="patient mail delivered by Dovecot")
    assert len(msgs) == 1
    msg = msgs[0]
    assert str(msg["Subject"]) == "XDM/1.0/DDM+Prescription de produits de santé HELENE-CELINE MARIE 03/02/1946"
    assert msg["X-MSS-CODECDA"] == "57833-6"
    assert msg["X-MSS-INS"] == "O"
    assert msg["X-MSS-NIL"] == "VIGIE-TEST-NIL"
    assert msg["X-MSS-MES"] is None  # replies allowed by default
    assert msg["Disposition-Notification-To"] == APP_MAILBOX
    assert msg["To"] == PATIENT_ADDRESS
    names = [p.get_filename() for p in msg.iter_attachments()]
    assert names[0] == "IHE_XDM.ZIP" and names[1].endswith(".pdf")
    xdm = next(p for p in msg.iter_attachments() if p.get_filename() == "IHE_XDM.ZIP").get_content()
    meta = _check_xdm(xdm)
    recipients = [v.text for s in meta.iter(f"{{{RIM}}}Slot") if s.get("name") == "intendedRecipient"
                  for v in s.iter(f"{{{RIM}}}Value")]
    assert recipients == [f"||^^Internet^{PATIENT_ADDRESS}"]
    # The professional copy went separately, to the médecin traitant, with the same XDM rules.
    pro = await wait_until(lambda: _messages_for(mail, TREATING, pro_row.message_id), what="pro mail")
    assert pro[0]["X-MSS-INS"] == "O"
    # Each sent message is in the application mailbox's Sent folder.
    sent = [email.message_from_bytes(r)["Message-ID"] for r in mail.delivered(APP_MAILBOX, "Sent")]
    assert patient_row.message_id in sent and pro_row.message_id in sent


async def _sent(agent, document_id: str, count: int) -> list[repo.MessageRow] | None:  # type: ignore[no-untyped-def]
    rows = await _rows(agent, document_id)
    if len(rows) == count and all(r.state in ("sent", "delivered", "read") for r in rows):
        return rows
    return None


IPP_OID = "1.2.250.1.999.7.1"


async def _unqualified_pro_mail(agent, mail: MailServers, doc) -> email.message.Message:  # type: ignore[no-untyped-def]
    """Unqualified INS: the patient send refused (French reason), the médecin traitant's mail sent: it."""
    await publish(agent, doc)
    rows = await wait_until(lambda: _settled(agent, doc.id, 2), what="both groups settled")
    patient = next(r for r in rows if r.recipients[0].role == "patient")
    assert patient.state == "failed" and "INS n'est pas qualifiée" in (patient.reason or "")
    pro = next(r for r in rows if r.recipients[0].role == "treating")
    assert pro.state in ("sent", "delivered")
    return (await wait_until(lambda: _messages_for(mail, TREATING, pro.message_id), what="pro mail"))[0]


async def test_mss_unqualified_ins_no_patient_send(make_agent: AgentFactory, mail: MailServers) -> None:
    """Unqualified INS: no patient mail (French reason); professionals get the XDM, its CDA naming the
    patient by the practice's local id (never an INS), and `X-MSS-INS: N`."""
    msg = await _unqualified_pro_mail(await make_agent(ipp_oid=IPP_OID), mail,
                                      document(qualified=False, identity_id="ident-unq"))
    assert msg["X-MSS-INS"] == "N" and msg["X-MSS-CODECDA"] == "57833-6"
    assert str(msg["Subject"]) == "XDM/1.0/DDM+Prescription de produits de santé HELENE-CELINE MARIE 03/02/1946"
    names = [p.get_filename() for p in msg.iter_attachments()]
    assert names == ["IHE_XDM.ZIP", "Ordonnance du 04-12-2026.pdf"]
    xdm = next(p for p in msg.iter_attachments() if p.get_filename() == "IHE_XDM.ZIP").get_content()
    meta = _check_xdm(xdm, ins=None)
    patient_ids = {e.get("value") for e in meta.iter(f"{{{RIM}}}ExternalIdentifier")
                   if (e.find(f"{{{RIM}}}Name/{{{RIM}}}LocalizedString").get("value") or "").endswith("patientId")}
    assert patient_ids == {f"ident-unq^^^&{IPP_OID}&ISO^PI"}


async def test_mss_unqualified_without_ipp_oid_pros_get_the_pdf_alone(make_agent: AgentFactory,
                                                                      mail: MailServers) -> None:
    """No OID for the practice's local ids: the patient cannot be named in a CDA, so the PDF goes alone."""
    msg = await _unqualified_pro_mail(await make_agent(), mail, document(qualified=False))
    assert msg["X-MSS-INS"] is None  # no CDA: no XDM either
    assert not str(msg["Subject"]).startswith("XDM/1.0/DDM+")
    assert [p.get_filename() for p in msg.iter_attachments()] == ["Ordonnance du 04-12-2026.pdf"]


async def _settled(agent, document_id: str, count: int) -> list[repo.MessageRow] | None:  # type: ignore[no-untyped-def]
    rows = await _rows(agent, document_id)
    if len(rows) == count and all(r.state in ("sent", "delivered", "read", "failed") for r in rows):
        return rows
    return None


async def test_mss_invisible_to_patient_refused_to_patient_allowed_to_pros(make_agent: AgentFactory,
                                                                          mail: MailServers) -> None:
    agent = await make_agent()
    doc = document(masking=("invisible_to_patient",))
    await publish(agent, doc)
    rows = await wait_until(lambda: _settled(agent, doc.id, 2), what="settled")
    patient = next(r for r in rows if r.recipients[0].role == "patient")
    assert patient.state == "failed" and "invisible au patient" in (patient.reason or "")
    assert not patient.raw  # nothing composed for the patient
    pro = next(r for r in rows if r.recipients[0].role == "treating")
    msg = (await wait_until(lambda: _messages_for(mail, TREATING, pro.message_id), what="pro mail"))[0]
    assert msg["X-MSS-INS"] == "O"


async def test_mss_opposition_blocks_patient_only(make_agent: AgentFactory, mail: MailServers, lgc_for) -> None:  # type: ignore[no-untyped-def]
    agent = await make_agent()
    lgc = await lgc_for(agent)
    assert await lgc.result("mss.opposition", {"identity_id": "id-opp", "opposed": True}) == {
        "identity_id": "id-opp", "opposed": True}
    doc = document(identity_id="id-opp")
    await publish(agent, doc)
    rows = await wait_until(lambda: _settled(agent, doc.id, 2), what="settled")
    patient = next(r for r in rows if r.recipients[0].role == "patient")
    assert patient.state == "failed" and "opposé" in (patient.reason or "")
    # The LGC follows each message's state through events and reads it back.
    pro = next(r for r in rows if r.recipients[0].role == "treating")
    await lgc.event("mss.message.updated", lambda p: p["message_id"] == pro.message_id and p["state"] == "sent")
    listed = await lgc.result("mss.messages", {"identity_id": "id-opp"})
    assert {m["message_id"] for m in listed["sent"]} == {pro.message_id, patient.message_id}
    got = await lgc.result("mss.get", {"message_id": patient.message_id})
    assert got["state"] == "failed" and got["recipients"][0]["role"] == "patient"


async def test_mss_block_replies_sets_mes_fin(make_agent: AgentFactory, mail: MailServers) -> None:
    agent = await make_agent(block_patient_replies=True)
    doc = document()
    await publish(agent, doc)
    rows = await wait_until(lambda: _sent(agent, doc.id, 2), what="sent")
    patient = next(r for r in rows if r.recipients[0].role == "patient")
    msg = (await wait_until(lambda: _messages_for(mail, PATIENT_ADDRESS, patient.message_id), what="mail"))[0]
    assert msg["X-MSS-MES"] == "FIN"
