"""The MSSanté capability: mail validated documents durably, watch the inbox, match receipts.

Flow of a validated document (same click as the DMP feed):
1. `document_validated` -> `enqueue_document`: the document is kept and one outbox job
   `mss.document` (key `mss:doc:<id>`) is queued; the hook returns at once.
2. `mss.document` job: recipients chosen (recipients.py rules), the CDA built by the shared builder,
   one message per group (professionals; the patient) composed **once** and stored with its fixed
   Message-ID, then one `mss.deliver` job per message (key = Message-ID).
3. `mss.deliver` job: `sending` is committed before SMTP; `submitted` right after the server accepted
   it; then APPEND to Sent; `sent`. After a crash in `sending` (unknown outcome) the job looks the
   Message-ID up in Sent before resending; in `submitted` it only appends to Sent. The remaining
   window (accepted by the server, process killed before `submitted` is committed: milliseconds) is
   the one SMTP cannot close.
Receipts (DSN: delivered / failed; MDN: read / failed with code and label) move each recipient's
state; every change is one `mss.message.updated` event.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import functools
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agent.context import OutboxPort
from agent.cpu_lane import CpuLane
from agent.cpu_pool import CpuPool
from agent.documents import ValidatedDocument
from agent.errors import PermanentJobError, UserFacingError
from agent.outbox import Job
from agent.rpc import NOT_FOUND
from agent.store import Store
from plugins.mss import clinical, incoming, message, recipients
from plugins.mss import repository as repo
from plugins.mss.auth import AuthFailed, PscTokenSource, certificate_context, server_context
from plugins.mss.compose import compose_document
from plugins.mss.directory import Directory
from plugins.mss.inbox import Fetched, InboxWatcher
from plugins.mss.jobs import JOB_DELIVER, JOB_DOCUMENT
from plugins.mss.settings import MssSettings
from plugins.mss.transport import Endpoint, Login, MailError, SendResult, append_sent, in_sent, smtp_send

log = logging.getLogger(__name__)

EVENT_UPDATED = "mss.message.updated"
EVENT_RECEIVED = "mss.message.received"


class EventPort(Protocol):
    def publish(self, name: str, params: Mapping[str, Any] | None = None) -> None: ...


@dataclass(frozen=True)
class Ports:
    """What the service needs from the host (and nothing more)."""

    store: Store
    outbox: OutboxPort
    events: EventPort
    secret: Callable[[str], str | None]
    qualified_ins: Callable[[sqlite3.Connection, str], dict[str, str] | None | bool]
    # The received-messages count changed (a message came in: `arrived`; one was seen): the tray redraws.
    inbox_changed: Callable[[int, bool], None] = lambda inbox_id, arrived: None


def envid(message_id: str) -> str:
    return message_id.strip("<>").split("@", 1)[0]


class MssService:
    def __init__(self, ports: Ports, settings: MssSettings) -> None:
        self.ports = ports
        self.store = ports.store
        self.settings = settings
        self.endpoint = Endpoint(settings.smtp_host, settings.smtp_port, settings.imap_host, settings.imap_port,
                                 settings.imap_tls, settings.timeout)
        self._context: Any = None
        self.tokens: PscTokenSource | None = None
        if settings.auth == "token" and settings.psc_token_url:
            self.tokens = PscTokenSource(settings.psc_token_url, settings.psc_client_id,
                                         lambda: ports.secret("mss.psc_refresh"), timeout=min(settings.timeout, 10))
        self.directory = Directory(settings.directory_url, lambda: ports.secret("mss.directory_key"),
                                   self._cache_get, self._cache_put)
        self.watcher: InboxWatcher | None = None
        self.last_error: str | None = None
        # Composing (the email package, the XDM) is Python code: in its own process, not a thread holding the
        # GIL against the event loop (agent/cpu_pool.py). Started at the first message.
        self.cpu = CpuPool("mss-compose")
        # The lighter CPU steps (the document's clinical metadata, classifying a receipt, the PDFs of a message)
        # in one thread rather than one default-executor thread per job (agent/cpu_lane.py).
        self.lane = CpuLane("mss")
        self.unseen = 0  # received messages not yet seen on the page (the tray entry's count; kept in memory)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, *, watch_inbox: bool = True) -> None:
        s = self.settings
        self.unseen = await self.store.transaction(repo.unseen_count)
        try:
            if s.auth == "certificate":
                assert s.pkcs12 is not None
                self._context = await asyncio.to_thread(certificate_context, s.ca_files, s.pkcs12,
                                                        self.ports.secret("mss.pkcs12"))
            else:
                self._context = await asyncio.to_thread(server_context, s.ca_files)
        except AuthFailed as exc:
            self.last_error = exc.message
            raise
        if watch_inbox:
            self.watcher = InboxWatcher(self.endpoint, self.login, self._last_uid, self._on_fetched,
                                        self._on_uidvalidity, poll_interval=s.poll_interval, use_idle=s.idle)
            self.watcher.start()

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
        await self.cpu.close()
        self.lane.close()

    async def login(self) -> Login:
        if self.settings.auth == "token":
            assert self.tokens is not None
            try:
                token = await self.tokens.token()
            except AuthFailed as exc:
                raise MailError(exc.message, permanent=exc.permanent, code="psc") from None
            return Login(self.settings.mailbox, self._context, "XOAUTH2", token)
        return Login(self.settings.mailbox, self._context, "EXTERNAL")

    def status(self) -> dict[str, Any]:
        w = self.watcher
        return {"state": "erreur" if (self.last_error or (w and w.last_error)) else "ok",
                "mailbox": self.settings.mailbox, "auth": self.settings.auth,
                "reason": self.last_error or (w.last_error if w else None), "inbox_cycles": w.cycles if w else 0}

    # -- 1. validated documents ----------------------------------------------------------------
    def wants(self, document: ValidatedDocument) -> bool:
        options = dict(document.metadata.get("mss") or {})
        return bool(options.get("send", self.settings.send_on_validate))

    async def enqueue_document(self, document: ValidatedDocument, options: dict[str, Any] | None = None,
                               *, key_suffix: str = "") -> int:
        # The payload (base64 of the PDF) is built in the store's thread, not on the event loop.
        await self.store.transaction(lambda c: repo.keep_document(c, document.id, document.to_payload()))
        return await self.ports.outbox.enqueue(JOB_DOCUMENT, {"document_id": document.id, "options": options or {},
                                                              "suffix": key_suffix},
                                               key=f"mss:doc:{document.id}{key_suffix}")

    def _options(self, document: ValidatedDocument, override: dict[str, Any]) -> dict[str, Any]:
        base = {"to_patient": self.settings.to_patient, "to_treating": self.settings.to_treating,
                "block_replies": self.settings.block_patient_replies, "recipients": []}
        base.update({k: v for k, v in dict(document.metadata.get("mss") or {}).items() if k in base})
        base.update({k: v for k, v in override.items() if k in base})
        return base

    async def _professionals(self, document: ValidatedDocument, options: dict[str, Any]
                             ) -> list[recipients.Recipient]:
        out = [recipients.Recipient(str(r["address"]), str(r.get("role") or "professional"), str(r.get("name") or ""))
               for r in options.get("recipients") or [] if r.get("address")]
        people = []
        if options.get("to_treating"):
            people.append(("treating", document.metadata.get("treating_physician")))
        people.append(("prescriber", document.metadata.get("prescriber")))
        for role, person in people:
            if not isinstance(person, dict):
                continue
            if person.get("mailbox"):
                out.append(recipients.Recipient(str(person["mailbox"]), role, str(person.get("name") or "")))
            elif person.get("rpps"):
                try:
                    found = await self.directory.search(rpps=str(person["rpps"]))
                except UserFacingError:
                    found = []
                if found:
                    out.append(recipients.Recipient(found[0].mailbox, role, found[0].name))
        return out

    async def run_document_job(self, job: Job) -> None:
        document_id = str(job.payload["document_id"])
        payload = await self.store.transaction(lambda c: repo.get_document(c, document_id))
        if payload is None:
            raise PermanentJobError("document not kept")
        document = await asyncio.to_thread(ValidatedDocument.from_payload, payload)  # base64 of the PDF
        options = self._options(document, dict(job.payload.get("options") or {}))
        identity_id = (document.metadata.get("patient") or {}).get("identity_id")
        opposed = await self.store.transaction(lambda c: repo.opposed(c, identity_id))
        prepared = await self.lane.run(clinical.prepare, document, self.settings)
        facts = recipients.PatientFacts(
            qualified_matricule=document.patient_ins.matricule if document.patient_ins else None,
            invisible_to_patient="invisible_to_patient" in prepared.masking, opposed=opposed)
        pros = await self._professionals(document, options)
        chosen, refusals = recipients.choose(pros, facts, to_patient=bool(options.get("to_patient")))
        suffix = str(job.payload.get("suffix") or "")
        groups = [("pro", [r for r in chosen if not r.is_patient]), ("patient", [r for r in chosen if r.is_patient])]
        for group, members in groups:
            refused_here = [f for f in refusals if (f.role == "patient") == (group == "patient")]
            if not members and not refused_here:
                continue
            mid = message.message_id(document.id + suffix, group, self.settings.domain)
            raw = b""
            if members:
                raw = await self.cpu.run(compose_document, self.settings, document, prepared, members, mid,
                                         group == "patient" and bool(options.get("block_replies")))
            states = [repo.RecipientState(r.address, r.role, r.name) for r in members]
            states += [repo.RecipientState("", f.role, "", "failed", f.reason, "refused") for f in refused_here]
            state, reason = repo.aggregate(states)
            now = time.time()
            row = repo.MessageRow(mid, document.id, identity_id, "document", states, state, reason, False, raw, now,
                                  now)
            created = await self.store.transaction(functools.partial(repo.insert_message, row=row))
            if created:
                self._publish(row)
            if members:
                await self.ports.outbox.enqueue(JOB_DELIVER, {"message_id": mid}, key=f"mss:deliver:{mid}")

    # -- [FIN] ---------------------------------------------------------------------------------
    async def end_conversation(self, identity_id: str) -> dict[str, Any]:
        ins = await self.store.transaction(lambda c: self.ports.qualified_ins(c, identity_id))
        if ins is False:
            raise UserFacingError("Identité inconnue.", code=NOT_FOUND)
        if not ins or not isinstance(ins, dict):
            raise UserFacingError(recipients.NOT_QUALIFIED)
        address = recipients.patient_address(ins["matricule"])
        mid = message.message_id(uuid.uuid4().hex, "fin", self.settings.domain)
        raw = message.compose(message.Outgoing(
            sender=self.settings.mailbox, recipients=[address], subject=message.FIN_SUBJECT, message_id=mid,
            body="Fin de l'échange.\n", nil=self.settings.nil, request_mdn=False))
        now = time.time()
        row = repo.MessageRow(mid, None, identity_id, "fin", [repo.RecipientState(address, "patient")], "queued", None,
                              False, raw, now, now)
        await self.store.transaction(lambda c: repo.insert_message(c, row))
        self._publish(row)
        await self.ports.outbox.enqueue(JOB_DELIVER, {"message_id": mid}, key=f"mss:deliver:{mid}")
        return {"message_id": mid, "state": "queued"}

    # -- 3. delivery ---------------------------------------------------------------------------
    async def run_deliver_job(self, job: Job) -> None:
        mid = str(job.payload["message_id"])
        row = await self.store.transaction(lambda c: repo.get_message(c, mid))
        if row is None or row.state in repo.FINAL:
            return
        try:
            login = await self.login()
            if row.state == "sending":  # unknown outcome of a previous attempt: was it sent?
                if await asyncio.to_thread(in_sent, self.endpoint, login, mid):
                    await self._set(row, "sent", recipients_state="sent")
                    return
            if row.state != "submitted":
                await self._set(row, "sending", recipients_state="sending")
                live = [r.address for r in row.recipients if r.state != "failed" and r.address]
                loop = asyncio.get_running_loop()

                def accepted(result: SendResult) -> None:
                    # In the SMTP thread, right after the server's 250: commit "submitted" before QUIT.
                    asyncio.run_coroutine_threadsafe(self._submitted(row, result), loop).result(30)

                await asyncio.to_thread(smtp_send, self.endpoint, login, self.settings.mailbox, live, row.raw,
                                        envid(mid), accepted)
            await asyncio.to_thread(append_sent, self.endpoint, login, row.raw)
            await self._set(row, "sent", recipients_state="sent")
            if self.watcher is not None:
                self.watcher.poke()
        except MailError as exc:
            if exc.code == "token-refused" and self.tokens is not None:
                self.tokens.invalidate()  # the next attempt asks PSC for a fresh token
            if exc.refused:
                for r in row.recipients:
                    if r.address in exc.refused:
                        r.state, r.reason, r.code = "failed", exc.refused[r.address], exc.code
            if exc.permanent:
                for r in row.recipients:
                    if r.state != "failed":
                        r.state, r.reason, r.code = "failed", exc.message, exc.code
                await self._set(row, None, reason=exc.message)
                raise PermanentJobError(exc.code or "mail error") from None
            if exc.code in ("connect", "psc", "token-refused"):
                # Certainly not submitted: back to "queued" (else "sending" stays: the next attempt
                # looks in Sent before resending).
                for r in row.recipients:
                    if r.state == "sending":
                        r.state = "queued"
            await self._set(row, None, reason=exc.message)
            raise RuntimeError(exc.code or "mail error") from None

    async def _submitted(self, row: repo.MessageRow, result: SendResult) -> None:
        row.dsn = result.dsn
        for r in row.recipients:
            if r.address in result.refused:
                r.state, r.reason, r.code = "failed", result.refused[r.address], "refused"
        await self._set(row, "submitted", recipients_state="submitted")

    async def _set(self, row: repo.MessageRow, state: str | None, *, recipients_state: str | None = None,
                   reason: str | None = None, quiet: bool = False) -> None:
        def write(c: sqlite3.Connection) -> None:
            # Read-merge-write in one transaction: a DSN can arrive (and be applied to the stored row) while
            # the delivery job still holds its copy, between the server's 250 and "sent" (a loaded machine:
            # APPEND to Sent takes a while). Its receipt outcome must survive the job's "sent".
            stored = repo.get_message(c, row.message_id)
            if stored is not None:
                keep_receipts(row.recipients, stored.recipients)
            if recipients_state:
                for r in row.recipients:
                    if r.state != "failed" and repo.ORDER.index(r.state) < repo.ORDER.index(recipients_state):
                        r.state = recipients_state
            agg, agg_reason = repo.aggregate(row.recipients)
            if state in ("sending", "submitted") and agg != "failed":
                agg = state
            row.state = agg
            row.reason = reason if reason is not None else agg_reason
            repo.save_message(c, row)

        await self.store.transaction(write)
        if state == "sent" and row.state != "sent":
            # A receipt came back before the job reached Sent (applied quietly, see _apply_receipt): the LGC
            # still hears "sent", then where the message already is, so its states only move forward.
            self._publish(row, "sent")
        if not quiet:
            self._publish(row)

    def _publish(self, row: repo.MessageRow, state: str | None = None) -> None:
        # "submitted" is internal (between SMTP and Sent): the LGC sees "sending" until "sent".
        state = state or ("sending" if row.state == "submitted" else row.state)
        self.ports.events.publish(EVENT_UPDATED, {"message_id": row.message_id, "document_id": row.document_id,
                                                  "state": state, "reason": row.reason})

    # -- inbox ---------------------------------------------------------------------------------
    async def _last_uid(self) -> tuple[int, int]:
        def read(c: sqlite3.Connection) -> tuple[int, int]:
            return int(repo.kv_get(c, "uidvalidity") or 0), int(repo.kv_get(c, "last_uid") or 0)

        return await self.store.transaction(read)

    async def _on_uidvalidity(self, validity: int) -> None:
        def write(c: sqlite3.Connection) -> None:
            repo.kv_set(c, "uidvalidity", str(validity))
            repo.kv_set(c, "last_uid", "0")

        await self.store.transaction(write)

    async def _on_fetched(self, item: Fetched) -> None:
        verdict = await self.lane.run(incoming.classify, item.raw)

        def write(c: sqlite3.Connection) -> int | None:
            inbox_id = repo.insert_inbox(c, item.uidvalidity, item.uid, item.raw, message_id=verdict.message_id,
                                         sender=verdict.sender, kind=verdict.kind, status=verdict.status,
                                         reason=verdict.reason, ins=verdict.ins, documents=verdict.documents,
                                         subject=verdict.subject, patient=verdict.patient)
            repo.kv_set(c, "uidvalidity", str(item.uidvalidity))
            repo.kv_set(c, "last_uid", str(item.uid))
            return inbox_id

        inbox_id = await self.store.transaction(write)
        if inbox_id is None:
            return
        if verdict.kind in repo.SHOWN:
            self.unseen += 1
            self.ports.inbox_changed(inbox_id, True)
        for receipt in verdict.receipts:
            await self._apply_receipt(receipt)
        if verdict.kind == "document":
            self.ports.events.publish(EVENT_RECEIVED, {"inbox_id": inbox_id, "status": verdict.status,
                                                       "reason": verdict.reason, "documents": len(verdict.documents)})

    async def _apply_receipt(self, receipt: Any) -> None:
        mid = receipt.original_message_id
        if not mid and receipt.envelope_id:
            mid = f"<{receipt.envelope_id}@{self.settings.domain}>"
        if not mid:
            return
        row = await self.store.transaction(lambda c: repo.get_message(c, mid.strip()))
        if row is None:
            return
        changed = False
        for r in row.recipients:
            if receipt.recipient and r.address.lower() != receipt.recipient:
                continue
            if receipt.state == "failed":
                label = receipt.label or "erreur signalée par le destinataire"
                r.state, r.code = "failed", receipt.code
                r.reason = f"Échec ({receipt.code or '?'}) : {label}"
                changed = True
            elif receipt.state in ("delivered", "read") and r.state != "failed" and \
                    repo.ORDER.index(receipt.state) > repo.ORDER.index(r.state):
                r.state = receipt.state
                changed = True
        if changed:
            # Still in flight (the delivery job between the server's 250 and "sent"): stored now, announced
            # when the job says "sent", so that the LGC never sees a state go back.
            await self._set(row, None, quiet=row.state in ("sending", "submitted"))

    # -- reads ---------------------------------------------------------------------------------
    async def messages(self, identity_id: str | None, document_id: str | None, limit: int) -> dict[str, Any]:
        sent = await self.store.transaction(lambda c: repo.list_messages(c, identity_id=identity_id,
                                                                          document_id=document_id, limit=limit))
        received = [] if (identity_id or document_id) else await self.store.transaction(
            lambda c: repo.list_inbox(c, limit))
        return {"sent": [r.public() for r in sent], "received": [r.public() for r in received]}

    async def get(self, message_id: str | None, inbox_id: int | None) -> dict[str, Any]:
        if message_id:
            row = await self.store.transaction(lambda c: repo.get_message(c, message_id))
            if row is None:
                raise UserFacingError("Message introuvable.", code=NOT_FOUND)
            return row.public()
        assert inbox_id is not None
        item = await self.store.transaction(lambda c: repo.get_inbox(c, inbox_id))
        if item is None:
            raise UserFacingError("Message introuvable.", code=NOT_FOUND)
        out = item.public()
        if item.status == "accepted" and item.kind == "document":
            raw = await self.store.transaction(lambda c: repo.inbox_raw(c, inbox_id))
            out["attachments"] = await self.lane.run(_pdfs, raw or b"")
        return out

    async def mark_seen(self, inbox_id: int) -> dict[str, Any]:
        changed = await self.store.transaction(lambda c: repo.mark_seen(c, inbox_id))
        if changed is None:
            raise UserFacingError("Message introuvable.", code=NOT_FOUND)
        if changed:
            self.unseen = max(0, self.unseen - 1)
            self.ports.inbox_changed(inbox_id, False)
        return {"inbox_id": inbox_id, "seen": True, "unseen": self.unseen}

    def unseen_detail(self) -> str | None:
        """The tray entry's "(N non lus)"."""
        n = self.unseen
        return None if n == 0 else f"{n} non lu" if n == 1 else f"{n} non lus"

    async def record_opposition(self, identity_id: str, opposed: bool, by: str) -> None:
        await self.store.transaction(lambda c: repo.set_opposition(c, identity_id, opposed, by))

    async def resend(self, document_id: str, options: dict[str, Any]) -> dict[str, Any]:
        payload = await self.store.transaction(lambda c: repo.get_document(c, document_id))
        if payload is None:
            raise UserFacingError("Document inconnu de la messagerie sécurisée.", code=NOT_FOUND)
        document = ValidatedDocument.from_payload(payload)
        job = await self.enqueue_document(document, options, key_suffix=f":{uuid.uuid4().hex[:12]}")
        return {"document_id": document_id, "job_id": job, "state": "queued"}

    async def _cache_get(self, key: str) -> tuple[list[dict[str, Any]], float] | None:
        import json

        r = await self.store.fetchone("SELECT result, fetched_at FROM mss_directory WHERE query = ?", (key,))
        return (json.loads(r[0]), float(r[1])) if r else None

    async def _cache_put(self, key: str, entries: list[dict[str, Any]]) -> None:
        import json

        await self.store.execute("INSERT INTO mss_directory VALUES (?, ?, ?) ON CONFLICT (query) DO UPDATE SET "
                                 "result = excluded.result, fetched_at = excluded.fetched_at",
                                 (key, json.dumps(entries), time.time()))


def keep_receipts(mine: list[repo.RecipientState], stored: list[repo.RecipientState]) -> None:
    """Receipts (DSN, MDN) alone set delivered / read, or a failure the sender did not see: a writer
    holding an older copy (the delivery job, whose states stop at "sent") never takes them back."""
    for m, s in zip(mine, stored, strict=False):
        if m.address != s.address or m.state == "failed":
            continue
        ahead = s.state in ("delivered", "read") and repo.ORDER.index(s.state) > repo.ORDER.index(m.state)
        if ahead or s.state == "failed":
            m.state, m.reason, m.code = s.state, s.reason, s.code


def _pdfs(raw: bytes) -> list[dict[str, Any]]:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    out = []
    for part in msg.walk():
        if part.get_content_type() == "application/pdf":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                out.append({"filename": part.get_filename(), "pdf": base64.b64encode(data).decode("ascii")})
    return out
