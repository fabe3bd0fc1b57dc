"""MSSanté message format (spec §2.2; Ref#2 ECO.2.x): subject, headers, attachments. Pure.

- Subject with health documents: `XDM/1.0/DDM+<libellé> <NOM> <prénom> <JJ/MM/AAAA>` (ECO.2.1.3):
  the CDA `code@displayName`, the birth name upper case without accents, the first first-name, the
  birth date. Without an XDM (identity not qualified: no CDA for it) the `XDM/1.0/DDM+` prefix is left
  out, since receivers treat that prefix as "an XDM is attached".
- `X-MSS-CODECDA` (CDA codes), `X-MSS-INS` (`O` for a qualified INS, else `N`; with a CDA only),
  `X-MSS-NIL` on every mail, `X-MSS-MES: FIN` on a patient mail when the practitioner blocks replies.
- `Message-ID` derived from the document and the recipient group: the same send always has the same
  id (the idempotence key looked up in Sent after a crash); `In-Reply-To`/`References` for a reply.
- `Disposition-Notification-To` asks for an MDN (RFC 8098).
- Attachments: `IHE_XDM.ZIP` then the PDF (ECO.2.1.1).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

FIN_SUBJECT = "[FIN]"
XDM_PREFIX = "XDM/1.0/DDM+"
_NAMESPACE = uuid.UUID("9b1f2f0e-5c2a-4a57-8f43-3c8f5d6c1e21")  # Vigie MSS Message-ID namespace (fixed)
POLICY = email.policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class PatientLine:
    birth_name: str
    first_name: str
    birth_date: dt.date | None


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def subject(label: str, patient: PatientLine, *, with_xdm: bool) -> str:
    nom = strip_accents(patient.birth_name).upper().strip()
    prenom = patient.first_name.strip()
    date = patient.birth_date.strftime("%d/%m/%Y") if patient.birth_date else ""
    text = " ".join(p for p in (label.strip()[:40], nom, prenom, date) if p)
    return (XDM_PREFIX + text) if with_xdm else text


def message_id(seed: str, group: str, domain: str) -> str:
    """`<hex@domain>`, fixed by `seed` (the document id) and `group` (pro, patient, fin…)."""
    return f"<{uuid.uuid5(_NAMESPACE, f'{group}:{seed}').hex}@{domain}>"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


@dataclass(frozen=True)
class Outgoing:
    sender: str
    recipients: Sequence[str]
    subject: str
    message_id: str
    body: str
    nil: str
    attachments: Sequence[Attachment] = ()
    cda_codes: Sequence[str] = ()
    ins_qualified: bool | None = None  # None: no CDA attached (no X-MSS-INS)
    block_replies: bool = False
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    request_mdn: bool = True
    date: dt.datetime | None = None
    sender_name: str = ""


def compose(m: Outgoing) -> bytes:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = email.utils.formataddr((m.sender_name, m.sender)) if m.sender_name else m.sender
    msg["To"] = ", ".join(m.recipients)
    msg["Subject"] = m.subject
    msg["Date"] = email.utils.format_datetime(m.date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = m.message_id
    if m.in_reply_to:
        msg["In-Reply-To"] = m.in_reply_to
        msg["References"] = " ".join([*m.references, m.in_reply_to] if m.in_reply_to not in m.references
                                     else m.references)
    if m.request_mdn:
        msg["Disposition-Notification-To"] = m.sender
    if m.cda_codes:
        msg["X-MSS-CODECDA"] = ",".join(m.cda_codes)
    if m.ins_qualified is not None:
        msg["X-MSS-INS"] = "O" if m.ins_qualified else "N"
    msg["X-MSS-NIL"] = m.nil
    if m.block_replies:
        msg["X-MSS-MES"] = "FIN"
    msg.set_content(m.body, charset="utf-8")
    for a in m.attachments:
        msg.add_attachment(a.content, maintype=a.maintype, subtype=a.subtype, filename=a.filename)
    return msg.as_bytes()


def body_text(title: str, author: str, *, patient: bool) -> str:
    if patient:
        return (f"Bonjour,\n\nVotre professionnel de santé, {author}, vous adresse le document « {title} ».\n"
                "Il est joint à ce message.\n\nCordialement.\n")
    return (f"Bonjour,\n\nVeuillez trouver ci-joint le document « {title} » ({author}).\n"
            "Le fichier IHE_XDM.ZIP contient le document structuré et ses métadonnées.\n\nBien confraternellement.\n")
