"""Receipts coming back to the mailbox: MDN (RFC 8098) and DSN (RFC 3461/3464). Pure parsing.

- MDN `multipart/report; report-type=disposition-notification`: `Original-Message-ID`,
  `Final-Recipient`, `Disposition: …; processed|displayed[/error]`, and the ANS `Error: code^libellé`
  field for an integration failure (struct-msg-mdn.md) -> `read`, or `failed` with code and label.
- DSN `multipart/report; report-type=delivery-status`: per recipient `Action: delivered|failed|delayed`,
  `Status`, `Diagnostic-Code`; matched by `Original-Envelope-Id` (our ENVID) or by the Message-ID of
  the returned headers -> `delivered`, or `failed` with the status code.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
from dataclasses import dataclass


@dataclass(frozen=True)
class Receipt:
    kind: str  # mdn | dsn
    original_message_id: str | None
    envelope_id: str | None
    recipient: str | None
    state: str  # delivered | read | failed | delayed
    code: str | None = None
    label: str | None = None


def _addr(value: str | None) -> str | None:
    if not value:
        return None
    text = value.split(";", 1)[-1].strip()
    return email.utils.parseaddr(text)[1].lower() or text.lower()


def _fields(part: email.message.Message) -> list[email.message.Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, email.message.Message)]
    if isinstance(payload, str):  # some servers: one text block; parse it as header fields
        blocks = [b for b in payload.replace("\r\n", "\n").split("\n\n") if b.strip()]
        return [email.message_from_string(b + "\n") for b in blocks]
    return []


def parse_receipt(msg: email.message.Message) -> list[Receipt]:
    """The receipts a message carries (empty when it is not a report)."""
    if msg.get_content_type() != "multipart/report":
        return []
    report_type = (msg.get_param("report-type") or "").lower()  # type: ignore[union-attr]
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return []
    parts: list[email.message.Message] = [p for p in payload if isinstance(p, email.message.Message)]
    returned_id: str | None = None
    for p in parts:
        if p.get_content_type() in ("text/rfc822-headers", "message/rfc822"):
            inner = p.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
                returned_id = inner[0].get("Message-ID")
            elif isinstance(inner, str):
                returned_id = email.message_from_string(inner).get("Message-ID")
    out: list[Receipt] = []
    for p in parts:
        ctype = p.get_content_type()
        if report_type == "disposition-notification" and ctype == "message/disposition-notification":
            for block in _fields(p)[:1]:
                disposition = (block.get("Disposition") or "").lower()
                error = block.get("Error")
                modifier = disposition.split(";", 1)[-1]
                failed = bool(error) or "error" in modifier or "failed" in modifier
                code = label = None
                if error:
                    code, _, label = str(error).partition("^")
                state = "failed" if failed else "read"
                out.append(Receipt("mdn", (block.get("Original-Message-ID") or returned_id or "").strip() or None,
                                   None, _addr(block.get("Final-Recipient") or block.get("Original-Recipient")),
                                   state, code or None, label or None))
        elif report_type == "delivery-status" and ctype == "message/delivery-status":
            blocks = _fields(p)
            envid = (blocks[0].get("Original-Envelope-Id") or "").strip() or None if blocks else None
            for block in blocks[1:]:
                action = (block.get("Action") or "").strip().lower()
                if action not in ("delivered", "failed", "delayed", "relayed", "expanded"):
                    continue
                state = {"relayed": "delivered", "expanded": "delivered"}.get(action, action)
                status = (block.get("Status") or "").strip() or None
                diag = (block.get("Diagnostic-Code") or "").split(";", 1)[-1].strip() or None
                out.append(Receipt("dsn", returned_id, envid, _addr(block.get("Final-Recipient")), state, status,
                                   diag))
    return out


def build_mdn(original: email.message.Message, reporter: str, *, error: tuple[str, str] | None = None,
              mode: str = "automatic-action/MDN-sent-automatically", disposition: str = "processed") -> bytes:
    """An MDN answering `original` (what a receiving LPS sends; used by the sandbox and the tests)."""
    from email.mime.base import MIMEBase
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    report = MIMEMultipart("report", report_type="disposition-notification")
    report["From"] = reporter
    report["To"] = str(original.get("Disposition-Notification-To") or original.get("From") or "")
    subject = original.get("Subject", "")
    report["Subject"] = (f"[KO Intégration système !][{error[0]}] {subject}" if error else f"Accusé de lecture : "
                         f"{subject}")
    report["Message-ID"] = email.utils.make_msgid(domain=reporter.rsplit("@", 1)[-1])
    report["Date"] = email.utils.formatdate(localtime=False)
    report["In-Reply-To"] = original.get("Message-ID", "")
    report.attach(MIMEText("Le message a été traité." if not error else f"Erreur : {error[1]}", "plain", "utf-8"))
    fields = ["Reporting-UA: vigie; Vigie", f"Original-Recipient: rfc822;{reporter}",
              f"Final-Recipient: rfc822;{reporter}", f"Original-Message-ID: {original.get('Message-ID', '')}",
              f"Disposition: {mode}; {disposition}" + ("/error" if error else "")]
    if error:
        fields.append(f"Error: {error[0]}^{error[1]}")
    part = MIMEBase("message", "disposition-notification")
    part.set_payload("\r\n".join(fields) + "\r\n")
    report.attach(part)
    return report.as_bytes(policy=email.policy.SMTP)
