"""What an incoming message is, and whether its health documents can be offered (pure, CPU-bound).

`classify(raw)` -> `Incoming`: a receipt (MDN/DSN, see receipts.py), a message with an `IHE_XDM.ZIP`
(unpacked and checked by xdm.read_xdm: paths, sizes, bombs, SHA-1 and size of every document, then
the patient: every document of one patient, named by an INS (`NH`) or, for a patient whose INS is
not qualified, by the sender's local id (`PI`); that id among the CDA's patient ids; `X-MSS-INS: O`
only with an INS), or a plain message. A refused XDM keeps its French reason; the raw message is kept by
the caller either way (nothing is lost).
"""

from __future__ import annotations

import email
import email.header
import email.message
import email.policy
import email.utils
from dataclasses import dataclass, field
from typing import Any

from plugins.common.clinical import cda
from plugins.mss.receipts import Receipt, parse_receipt
from plugins.mss.xdm import ATTACHMENT_NAME, XdmRefused, parse_cx, read_xdm

MAX_RAW = 40 * 1024 * 1024


@dataclass
class Incoming:
    kind: str  # receipt | document | message
    message_id: str | None
    sender: str | None
    status: str = "accepted"  # accepted | refused
    reason: str | None = None
    ins: str | None = None
    receipts: list[Receipt] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    subject: str | None = None  # without the `XDM/1.0/DDM+` prefix receivers hide (SC.MSS/UX.28)
    patient: dict[str, Any] | None = None  # {"name", "birth_date"} from the first CDA header


def _subject(msg: email.message.Message) -> str | None:
    raw = msg.get("Subject")
    if raw is None:
        return None
    try:
        text = str(email.header.make_header(email.header.decode_header(str(raw))))
    except (ValueError, LookupError):
        text = str(raw)
    text = " ".join(text.split())
    return text.removeprefix("XDM/1.0/DDM+") or None


def _xdm_part(msg: email.message.Message) -> email.message.Message | None:
    for part in msg.walk():
        name = (part.get_filename() or "").upper()
        if name == ATTACHMENT_NAME or (name.endswith(".ZIP") and "XDM" in name):
            return part
    return None


def classify(raw: bytes) -> Incoming:
    msg = email.message_from_bytes(raw[:MAX_RAW], policy=email.policy.compat32)
    message_id = (msg.get("Message-ID") or "").strip() or None
    sender = email.utils.parseaddr(msg.get("From", ""))[1].lower() or None
    subject = _subject(msg)
    if len(raw) > MAX_RAW:
        return Incoming("message", message_id, sender, "refused", "Message trop volumineux : non traité.")
    receipts = parse_receipt(msg)
    if receipts:
        return Incoming("receipt", message_id, sender, receipts=receipts)
    part = _xdm_part(msg)
    if part is None:
        return Incoming("message", message_id, sender, subject=subject)
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return Incoming("document", message_id, sender, "refused", "Pièce jointe IHE_XDM.ZIP illisible.",
                        subject=subject)
    try:
        content = read_xdm(data)
        cx = parse_cx(content.patient_id)
        if cx is None or cx[2] not in ("NH", "PI"):
            raise XdmRefused("Documents refusés : plusieurs patients ou aucun identifiant patient dans les "
                             "métadonnées XDM.")
        ins = content.patient_ins  # None: a patient whose INS is not qualified, named by the sender's local id
        docs: list[dict[str, Any]] = []
        patient: dict[str, Any] | None = None
        for d in content.documents:
            entry: dict[str, Any] = {"uri": d.uri, "title": d.title, "type_code": d.type_code, "size": d.size,
                                     "sha1": d.sha1, "mime_type": d.mime_type}
            if (d.mime_type or "text/xml") == "text/xml":
                try:
                    header = cda.read_header(d.content)
                except cda.CdaError:
                    raise XdmRefused(f"Document {d.uri} refusé : ce n'est pas un CDA lisible.") from None
                if (cx[1], cx[0]) not in header.patient_ids:
                    raise XdmRefused(f"Document {d.uri} refusé : le patient du CDA diffère de celui des "
                                     "métadonnées.")
                entry["unique_id"] = header.unique_id
                patient = patient or {"name": header.patient_name, "birth_date": header.birth_date}
            docs.append(entry)
        flag = (msg.get("X-MSS-INS") or "").strip().upper()
        if flag not in ("", "O", "N"):
            raise XdmRefused("En-tête X-MSS-INS invalide.")
        if flag == "O" and ins is None:
            raise XdmRefused("En-tête X-MSS-INS « O » mais aucune INS qualifiée dans les métadonnées XDM.")
    except XdmRefused as exc:
        return Incoming("document", message_id, sender, "refused", exc.reason, subject=subject)
    return Incoming("document", message_id, sender, ins=ins, documents=docs, subject=subject, patient=patient)
