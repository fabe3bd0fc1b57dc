"""INSi lookups in the background: the INSi client's lifecycle and the outbox handler that calls it.

Every INSi call is an outbox job (`ins.lookup` for records opened, cards inserted and Datamatrix scans,
`ins.batch_lookup` for the start-of-day batch, plugins/ins/batch.py), so a call interrupted by a crash
runs again at the next start and the caller never waits. The answer lands in the store, then
`identity_updated` is emitted (the hook, then the `identity.updated` event for the LGC).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.errors import PluginNotReady, RetryJobLater
from plugins.ins import repository as repo
from plugins.ins.card import card_from_dict, card_search
from plugins.ins.insi.client import InsiClient, InsiSettings
from plugins.ins.insi.saml import PsAttributes
from plugins.ins.insi.signer import Signer
from plugins.ins.insi.types import InsiError, SearchOutcome, SearchTraits
from plugins.ins.models import Traits
from plugins.ins.outcome import CARD_MISSING, NEXT_STEPS, RETRYABLE, summarise
from plugins.ins.settings import LOOKUP_ATTEMPTS, PASSPHRASE_SECRET, InsSettings
from plugins.ins.status import Status, after_insi_success
from plugins.ins.traits import rniv_form

if TYPE_CHECKING:
    from agent.acting import ActingUsers
    from agent.context import OutboxPort
    from agent.emitter import Emitter
    from agent.outbox import Job
    from agent.secrets import SecretStore
    from agent.store import Store

INSTANCE_SETTING = "ins.instance_id"
CARD_WAIT = 60.0  # seconds between two looks for a CPS when no insertion was seen (insertion hurries it)
HANDLERS = ("ins.lookup", "ins.batch_lookup")


class LookupDeferred(RetryJobLater):
    """INSi did not answer: the identity shows it now, the outbox retries the call later."""


class Lookups:
    def __init__(self, *, store: Store, outbox: OutboxPort, emitter: Emitter, secrets: SecretStore,
                 acting: ActingUsers, settings: InsSettings, signer: Signer | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.emitter = emitter
        self.secrets = secrets
        self.acting = acting
        self.settings = settings
        self.signer = signer  # CPS mode: a signer given here, else the CPS the card layer plugs in
        self.client: InsiClient | None = None
        self.signs_with_card = False
        self._limiter = _RateLimiter(settings.batch_rate_per_second)
        # The outbox claims jobs up to the handler's registered concurrency; these bound what reaches INSi.
        self._lookups = asyncio.Semaphore(settings.lookup_concurrency)
        self._batch = asyncio.Semaphore(settings.batch_concurrency)
        self._last_error: str | None = None
        self._calls = 0

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        s = self.settings  # plugin.py checked `configured` before importing this module
        signer = self.signer or self.acting.card_signer  # the CPS in a reader (PKCS#11), if any
        # Signing with the card in a reader: the client signs with whichever card is in when it signs.
        self.signs_with_card = s.auth == "cps" and signer is not None and signer is self.acting.card_signer
        if s.auth == "cps" and signer is None:
            raise PluginNotReady("mode CPS : insérez la carte CPS (aucun signataire disponible)")
        instance_id = await self.store.get_setting(INSTANCE_SETTING)
        if instance_id is None:
            instance_id = str(uuid.uuid4())
            await self.store.set_setting(INSTANCE_SETTING, instance_id)
        insi_settings = InsiSettings(
            url=s.url or "", auth=s.auth, ca_files=list(s.ca_files), pkcs12_path=s.pkcs12_path,
            pkcs12_passphrase=self.secrets.get(PASSPHRASE_SECRET), idam=s.idam,
            software_name=s.software_name, software_version=__version__, instance_id=instance_id,
            emitter=s.emitter, connect_timeout=s.connect_timeout, total_timeout=s.total_timeout,
            max_attempts=s.max_attempts, search_timeout=s.search_timeout, signer=signer,
            ps=PsAttributes(national_id=s.ps.national_id, billing_id=s.ps.billing_id,
                            activity_sector=s.ps.activity_sector, specialty_code=s.ps.specialty_code),
            concurrency=max(s.lookup_concurrency, s.batch_concurrency),
        )
        client = InsiClient(insi_settings)
        if self.signs_with_card:
            client.follow_signer(lambda: self.acting.card_signer)
        try:
            await client.start()
        except InsiError as exc:
            await client.close()
            raise PluginNotReady(exc.message_fr) from exc
        self.client = client

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def status(self) -> dict[str, Any]:
        return {"state": "ok" if self._last_error is None else "erreur", "url": self.settings.url,
                "auth": self.settings.auth, "calls": self._calls, "last_error": self._last_error}

    # -- the background lookup (outbox handler) ---------------------------------------------------
    async def resume_waiting(self) -> None:
        """A CPS is in again: lookups deferred for want of a card run now rather than at their next look."""
        for handler in HANDLERS:
            await self.outbox.hurry(handler)

    async def run_lookup(self, job: Job) -> None:
        client = self.client
        if client is None:
            raise PluginNotReady("client INSi non démarré")
        identity_id = job.payload["identity_id"]
        row = await self.store.transaction(lambda c: repo.get(c, identity_id))
        if row is None or row.insi_state != "pending":
            return  # already answered (a re-run after a crash) or the identity is gone
        batch = "batch_id" in job.payload
        outcome, summary, final = await self.search(client, row, attempts=job.attempts, batch=batch)
        waits_for_card = summary["outcome"] == CARD_MISSING
        answer = held(outcome, summary, final)
        updated = await self.store.transaction(lambda c: self.record(c, identity_id, answer))
        if updated is None:
            return
        await self.emitter.emit("identity_updated", identity_id=identity_id, status=updated.status,
                                insi_outcome=summary["outcome"])
        if batch and final:
            done, total = await self.store.transaction(
                lambda c: repo.finish_batch_item(c, job.payload["batch_id"], job.payload["position"]))
            self.emitter.publish("batch.progress", {"batch_id": job.payload["batch_id"], "done": done,
                                                    "total": total})
        if waits_for_card:  # a card insertion hurries these jobs (card_inserted); this is the fallback
            raise LookupDeferred(CARD_MISSING, retry_after=CARD_WAIT, count_attempt=False)
        if not final:
            # Half-jittered exponential delay from the configuration (the registration cannot read it).
            delay = min(self.settings.retry_max, self.settings.retry_delay * 2 ** job.attempts)
            raise LookupDeferred(summary["outcome"], retry_after=delay * random.uniform(0.5, 1.0))

    async def search(self, client: InsiClient, row: repo.IdentityRow, *, attempts: int,
                     batch: bool = False) -> tuple[SearchOutcome, dict[str, Any], bool]:
        """One INSi search for `row` (stored, or held in the local spool while the database is away): the
        outcome, the summary the panels show, and whether it is final (no retry due)."""
        local = Traits.from_dict(row.traits)
        async with self._batch if batch else self._lookups:
            if batch:
                await self._limiter.wait()
            self._calls += 1
            outcome = await self._search(client, row, local)
        summary = summarise(outcome, local, expected_ins=row.expected_ins)
        waits_for_card = summary["outcome"] == CARD_MISSING
        retry = summary["outcome"] in RETRYABLE or waits_for_card
        self._last_error = summary.get("message") if retry else None
        final = not waits_for_card and (not retry or attempts + 1 >= LOOKUP_ATTEMPTS)
        if retry and final:
            summary["message"] = NEXT_STEPS["gave_up"]
        return outcome, summary, final

    async def _search(self, client: InsiClient, row: repo.IdentityRow, local: Traits) -> SearchOutcome:
        if row.card is not None and row.source == "vitale":
            card, beneficiary = card_from_dict(row.card)
            return await client.search_by_vitale(card_search(card, beneficiary))
        sent = rniv_form(local)  # INSi takes A–Z only: accents and ligatures spelled out
        return await client.search_by_traits(SearchTraits(
            birth_name=sent.birth_name, first_names=sent.first_names, sex=sent.sex, birth_date=sent.birth_date,
            birth_place=sent.birth_place))

    @staticmethod
    def record(conn: sqlite3.Connection, identity_id: str, answer: dict[str, Any]) -> repo.IdentityRow | None:
        """Store an INSi answer (`held(...)`: summary, exchanges, active INS, final) on the identity, with
        its calls in the audit table; also the merge of an answer held in the local spool."""
        row = repo.get(conn, identity_id)
        if row is None:
            return None
        for ex in answer["exchanges"]:
            repo.record_call(conn, identity_id, **ex)
        summary, active = answer["summary"], answer["active"]
        before = row.status
        row.insi = summary
        row.insi_at = time.time()
        row.insi_state = "done" if answer["final"] else "pending"
        if summary["outcome"] == "found" and active is not None:
            new_status = after_insi_success(Status(row.status), row.attributes, consistent=summary["consistent"])
            row.status = new_status.value
            row.ins = dict(active)
        repo.update(conn, row)
        if row.status != before:
            repo.audit(conn, row.id, actor={"kind": "system", "source": "insi"}, action="insi_result",
                       status_before=before, status_after=row.status, insi_message_id=summary.get("message_id"))
        return row


def held(outcome: SearchOutcome, summary: dict[str, Any], final: bool) -> dict[str, Any]:
    """An INSi answer as JSON-safe data: what `Lookups.record` stores (now, or after a spool merge)."""
    response = outcome.response
    active = response.active if summary["outcome"] == "found" and response is not None else None
    return {"summary": summary, "final": final,
            "active": {"matricule": active.matricule, "key": active.key or "", "oid": active.oid} if active else None,
            "exchanges": [{"operation": ex.operation, "message_id": ex.message_id, "started_at": ex.started_at,
                           "duration_ms": ex.duration_ms, "http_status": ex.http_status, "error": ex.error,
                           "request_xml": ex.request_xml, "response_xml": ex.response_xml}
                          for ex in outcome.exchanges]}


class _RateLimiter:
    """At most `rate` batch calls per second across all workers (INSi is a shared national service)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._clock = clock

    async def wait(self) -> None:
        now = self._clock()
        delay = self._next - now
        self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)
