"""The sandbox operator's mailboxes, in memory: folders of (UID, flags, bytes), IDLE wake-ups, receipts.

It also plays the far end so the demo shows every state: a patient's Mon espace santé mailbox and the
directory's practitioners "read" what they receive and answer with an MDN (RFC 8098) after a short
delay; an address outside the known domains bounces (DSN failure); NOTIFY=SUCCESS gets a success DSN.
"""

from __future__ import annotations

import asyncio
import email
import email.utils
from collections.abc import Callable
from dataclasses import dataclass, field
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from plugins.mss.receipts import build_mdn

UIDVALIDITY = 1


@dataclass
class Stored:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


@dataclass
class Mailbox:
    folders: dict[str, list[Stored]] = field(default_factory=lambda: {"INBOX": [], "Sent": []})
    next_uid: dict[str, int] = field(default_factory=lambda: {"INBOX": 1, "Sent": 1})

    def add(self, folder: str, raw: bytes, flags: set[str] | None = None) -> Stored:
        self.folders.setdefault(folder, [])
        uid = self.next_uid.get(folder, 1)
        self.next_uid[folder] = uid + 1
        item = Stored(uid, raw, set(flags or ()))
        self.folders[folder].append(item)
        return item


@dataclass
class MailState:
    domains: tuple[str, ...]
    boxes: dict[str, Mailbox] = field(default_factory=dict)
    mdn_delay: float = 1.0
    _waiters: set[asyncio.Event] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    on_accept: Callable[[bytes], None] | None = None

    def known(self, address: str) -> bool:
        return address.lower().rsplit("@", 1)[-1] in self.domains

    def box(self, address: str) -> Mailbox:
        return self.boxes.setdefault(address.lower(), Mailbox())

    def waiter(self) -> asyncio.Event:
        ev = asyncio.Event()
        self._waiters.add(ev)
        return ev

    def forget(self, ev: asyncio.Event) -> None:
        self._waiters.discard(ev)

    def _wake(self) -> None:
        for ev in list(self._waiters):
            ev.set()

    def deliver(self, address: str, raw: bytes) -> None:
        self.box(address).add("INBOX", raw)
        self._wake()

    def submitted(self, sender: str, recipients: list[tuple[str, bool]], raw: bytes, envid: str | None) -> None:
        """A message accepted by submission: deliver, then the far end's receipts."""
        delivered: list[str] = []
        for rcpt, notify_success in recipients:
            if self.known(rcpt):
                self.deliver(rcpt, raw)
                delivered.append(rcpt)
                if notify_success:
                    self.deliver(sender, dsn(sender, rcpt, raw, envid, ok=True))
                self._later(self.mdn_delay, self._mdn, sender, rcpt, raw)
            else:
                self.deliver(sender, dsn(sender, rcpt, raw, envid, ok=False))

    def _later(self, delay: float, fn: Callable[..., None], *args: object) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            fn(*args)

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _mdn(self, sender: str, rcpt: str, raw: bytes) -> None:
        original = email.message_from_bytes(raw)
        if original.get("Disposition-Notification-To") and original.get("Subject") != "[FIN]":
            self.deliver(sender, build_mdn(original, rcpt))


def dsn(sender: str, rcpt: str, raw: bytes, envid: str | None, *, ok: bool) -> bytes:
    original = email.message_from_bytes(raw)
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@sandbox.mssante.test"
    report["To"] = sender
    report["Subject"] = "Successful Mail Delivery Report" if ok else "Undelivered Mail Returned to Sender"
    report["Message-ID"] = email.utils.make_msgid(domain="sandbox.mssante.test")
    report["Date"] = email.utils.formatdate()
    report.attach(MIMEText("Message distribué." if ok else "Adresse inconnue de l'opérateur.", "plain", "utf-8"))
    status = MIMEBase("message", "delivery-status")
    per_message = "Reporting-MTA: dns; sandbox.mssante.test\r\n" + (
        f"Original-Envelope-Id: {envid}\r\n" if envid else "")
    per_rcpt = (f"Final-Recipient: rfc822; {rcpt}\r\nAction: {'delivered' if ok else 'failed'}\r\n"
                f"Status: {'2.0.0' if ok else '5.1.1'}\r\n"
                + ("" if ok else "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"))
    # The generator wants the per-message and per-recipient field blocks as Message objects.
    status.set_payload([email.message_from_string(per_message), email.message_from_string(per_rcpt)])
    report.attach(status)
    headers = MIMEBase("text", "rfc822-headers")
    headers.set_payload("".join(f"{k}: {v}\r\n" for k, v in original.items() if k.lower() in
                                ("message-id", "from", "to", "date")))
    report.attach(headers)
    return report.as_bytes()
