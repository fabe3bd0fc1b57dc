"""One document's MSSanté message (IHE_XDM.ZIP + PDF + MIME headers): a pure function of picklable data.

It runs in the service's process pool (agent/cpu_pool.py): composing is Python code (the email package, the
XDM's XML and zip) that a worker thread would run holding the GIL against the event loop.
"""

from __future__ import annotations

import datetime as dt

from agent.documents import ValidatedDocument
from plugins.mss import clinical, message, recipients
from plugins.mss.settings import MssSettings
from plugins.mss.xdm import ATTACHMENT_NAME, build_xdm


def compose_document(settings: MssSettings, document: ValidatedDocument, prepared: clinical.Prepared,
                     members: list[recipients.Recipient], mid: str, block: bool) -> bytes:
    addrs = recipients.addresses(members)
    patient = any(r.is_patient for r in members)
    attachments = []
    if prepared.meta is not None and prepared.cda is not None:
        xdm = build_xdm(prepared.meta, prepared.cda, addrs, software=settings.software,
                        submission_time=prepared.meta.creation_time)
        attachments.append(message.Attachment(ATTACHMENT_NAME, xdm, "application", "zip"))
    attachments.append(message.Attachment(f"{document.title}.pdf".replace("/", "-"), document.pdf,
                                          "application", "pdf"))
    with_xdm = prepared.meta is not None
    return message.compose(message.Outgoing(
        sender=settings.mailbox, recipients=addrs,
        subject=message.subject(prepared.label, prepared.patient, with_xdm=with_xdm), message_id=mid,
        body=message.body_text(document.title, prepared.author_name, patient=patient), nil=settings.nil,
        attachments=attachments, cda_codes=[prepared.type_code] if with_xdm else [],
        ins_qualified=prepared.ins_qualified if with_xdm else None, block_replies=block,
        date=dt.datetime.fromtimestamp(document.created_at, dt.UTC)))
