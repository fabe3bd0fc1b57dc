"""The INS capability: identities, INSi lookups in the background, qualification with audit.

Every INSi call goes through the durable outbox (`ins.lookup` for records opened, cards inserted and
Datamatrix scans, `ins.batch_lookup` for the start-of-day batch), so a call interrupted by a crash runs
again at the next start and the caller never waits. Results land in the store, then an
`identity.updated` event reaches the tray, the popup and the LGC.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.errors import PluginNotReady, RetryJobLater, UserFacingError
from agent.rpc import INVALID_PARAMS, NOT_FOUND
from hardware.ports import VitaleCard
from plugins.ins import repository as repo
from plugins.ins import view as views
from plugins.ins.card import card_from_dict, card_search, card_to_dict, card_traits
from plugins.ins.insi.client import InsiClient, InsiSettings
from plugins.ins.insi.saml import PsAttributes
from plugins.ins.insi.signer import Signer, SoftwareSigner
from plugins.ins.insi.types import InsiError, SearchOutcome, SearchTraits
from plugins.ins.models import Actor, Traits
from plugins.ins.outcome import CARD_MISSING, NEXT_STEPS, RETRYABLE, summarise
from plugins.ins.qualify_rules import apply_qualification
from plugins.ins.settings import LOOKUP_ATTEMPTS, PASSPHRASE_SECRET, InsSettings
from plugins.ins.status import Status, after_insi_success, insi_allowed
from plugins.ins.traits import normalise_traits, rniv_form, validate_traits

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.outbox import Job

log = logging.getLogger(__name__)

INSTANCE_SETTING = "ins.instance_id"
QUALIFY_REFUSED = -32010  # documented in docs/local-api.md
DATAMATRIX_REFUSED = -32011


CARD_WAIT = 60.0  # seconds between two looks for a CPS when no insertion was seen (insertion hurries it)


class LookupDeferred(RetryJobLater):
    """INSi did not answer: the identity shows it now, the outbox retries the call later."""


def traits_key(traits: Traits) -> str:
    strict = {k: v for k, v in traits.to_dict().items() if k not in ("used_name", "used_first_name")}
    return hashlib.sha256(json.dumps(strict, sort_keys=True).encode()).hexdigest()


class InsService:
    def __init__(self, *, agent: Agent, settings: InsSettings, signer: Signer | None = None) -> None:
        self.agent = agent
        self.store = agent.store
        self.settings = settings
        self.signer = signer  # CPS mode: the card layer plugs the CPS in; the sandbox a software key
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
        if s.sandbox_passphrase and self.agent.config.sandbox:
            # Throwaway sandbox certificate: its passphrase goes through the keyring like a real one.
            self.agent.secrets.set(PASSPHRASE_SECRET, s.sandbox_passphrase)
        signer = self.signer or self.agent.card_signer  # the CPS in a reader (PKCS#11), if any
        # Signing with the card in a reader: the client signs with whichever card is in when it signs.
        self.signs_with_card = s.auth == "cps" and signer is not None and signer is self.agent.card_signer
        if s.auth == "cps" and signer is None:
            if not (s.sandbox_signer and self.agent.config.sandbox):
                raise PluginNotReady("mode CPS : insérez la carte CPS (aucun signataire disponible)")
            # Sandbox only: a software key stands in for the CPS card.
            signer = await asyncio.to_thread(SoftwareSigner.from_files, Path(s.sandbox_signer["key"]),
                                             Path(s.sandbox_signer["cert"]))
        instance_id = await self.store.get_setting(INSTANCE_SETTING)
        if instance_id is None:
            instance_id = str(uuid.uuid4())
            await self.store.set_setting(INSTANCE_SETTING, instance_id)
        insi_settings = InsiSettings(
            url=s.url or "", auth=s.auth, ca_files=list(s.ca_files), pkcs12_path=s.pkcs12_path,
            pkcs12_passphrase=self.agent.secrets.get(PASSPHRASE_SECRET), idam=s.idam,
            software_name=s.software_name, software_version=__version__, instance_id=instance_id,
            emitter=s.emitter, connect_timeout=s.connect_timeout, total_timeout=s.total_timeout,
            max_attempts=s.max_attempts, search_timeout=s.search_timeout, signer=signer,
            ps=PsAttributes(national_id=s.ps.national_id, billing_id=s.ps.billing_id,
                            activity_sector=s.ps.activity_sector, specialty_code=s.ps.specialty_code),
            concurrency=max(s.lookup_concurrency, s.batch_concurrency),
        )
        client = InsiClient(insi_settings)
        if self.signs_with_card:
            client.follow_signer(lambda: self.agent.card_signer)
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

    def actor(self) -> Actor:
        """The acting user: the CPS/CPE in a reader when there is one, else the configured user."""
        user = self.agent.acting_user
        if user.from_card:
            kind = "ps" if user.kind == "cps" else user.kind
            return Actor(kind=kind, name=user.name or "", national_id=user.national_id, profession=user.profession)
        u = self.settings.user
        return Actor(kind=u.kind, name=u.name, national_id=u.national_id, profession=u.profession)

    # -- submit -----------------------------------------------------------------------------
    def parse_traits(self, raw: dict[str, Any]) -> Traits:
        traits = normalise_traits(Traits.from_dict(raw))
        errors = validate_traits(traits)
        if errors:
            raise UserFacingError(
                "Traits d'identité invalides : " + " ; ".join(f"{field} : {', '.join(msgs)}"
                                                            for field, msgs in errors.items()),
                code=INVALID_PARAMS, data={"fields": errors},
            )
        return traits

    async def submit(self, raw_traits: dict[str, Any], *, local_id: str | None, source: str,
                     expected_ins: dict[str, str] | None = None) -> dict[str, Any]:
        traits = self.parse_traits(raw_traits)
        now = time.time()

        row, needs_call = await self.store.transaction(
            lambda conn: self._upsert(conn, traits, local_id, source, now, expected_ins=expected_ins))
        if needs_call:
            await self._enqueue_lookup(row)
        return {"identity_id": row.id, "status": row.status}

    async def _enqueue_lookup(self, row: repo.IdentityRow) -> None:
        await self.agent.outbox.enqueue(
            "ins.lookup", {"identity_id": row.id}, key=f"lookup:{row.id}:{row.insi_requested_at}"
        )
        self.agent.events.publish("identity.updated", {"identity_id": row.id, "status": row.status,
                                                       "insi_outcome": "pending"})

    def _upsert(self, conn: sqlite3.Connection, traits: Traits, local_id: str | None, source: str, now: float,
                *, expected_ins: dict[str, str] | None = None, card: dict[str, Any] | None = None
                ) -> tuple[repo.IdentityRow, bool]:
        """Record a submission (record opened, batch line, card beneficiary, scan) in one place: find or create
        the identity, keep what the source adds, mark it pending when INSi must be called, persist."""
        row, created, needs_call = self._match(conn, traits, local_id, source, now)
        if expected_ins is not None and row.expected_ins != expected_ins:
            row.expected_ins = expected_ins  # another scanned INS: check it against INSi too
            needs_call = needs_call or (insi_allowed(Status(row.status), row.attributes)
                                        and row.insi_state != "pending")
        if card is not None and row.card is None:
            row.card = card
        if needs_call:
            row.insi_state, row.insi_requested_at = "pending", now
        if created:
            repo.insert(conn, row)
            repo.audit(conn, row.id, actor={"kind": "system", "source": source}, action="created",
                       status_after=row.status, traits_after=row.traits)
        else:
            repo.update(conn, row)
        return row, needs_call

    def _match(self, conn: sqlite3.Connection, traits: Traits, local_id: str | None, source: str,
               now: float) -> tuple[repo.IdentityRow, bool, bool]:
        """The identity these traits belong to, whether it is new (not stored yet), and whether INSi must be
        called (dedupe window, re-check period)."""
        key = traits_key(traits)
        row = repo.find_by_local_id(conn, local_id) if local_id else None
        if row is None:
            row = repo.find_by_traits(conn, key)
        if row is None:
            row = repo.IdentityRow(
                id=str(uuid.uuid4()), local_id=local_id, source=source, status=Status.PROV.value, attributes=[],
                traits=traits.to_dict(), traits_key=key, ins=None, insi=None, insi_state="idle", created_at=now,
                updated_at=now, insi_requested_at=None, insi_at=None, qualified_at=None,
            )
            return row, True, insi_allowed(Status(row.status), row.attributes)
        if local_id and row.local_id is None:
            row.local_id = local_id
        idle = row.insi_state != "pending"
        if row.status == Status.QUAL.value:
            # The INS traits of a qualified identity are the reference; a re-check is due only after
            # the configured period (the official rule is unknown: insi.md §12).
            due = (row.qualified_at or 0) + self.settings.recheck_days * 86400 <= now
            return row, False, due and idle and insi_allowed(Status(row.status), row.attributes)
        if row.traits_key != key:
            before = row.traits
            row.traits, row.traits_key = traits.to_dict(), key
            repo.audit(conn, row.id, actor={"kind": "system", "source": source}, action="traits_changed",
                       status_before=row.status, status_after=row.status, traits_before=before,
                       traits_after=row.traits)
            return row, False, insi_allowed(Status(row.status), row.attributes) and idle
        # Same traits again (record reopened, card reinserted): one call per dedupe window, and none
        # while the previous answer is usable.
        recent = row.insi_requested_at is not None and now - row.insi_requested_at < self.settings.dedupe_window
        answered = row.insi is not None and row.insi.get("outcome") == "found"
        return row, False, insi_allowed(Status(row.status), row.attributes) and idle and not recent and not answered

    # -- Vitale card and scans (hooks from the card and scanner layers) -------------------------------
    async def card_read(self, reader: str, card: VitaleCard) -> list[str]:
        """One identity per beneficiary, each looked up with `rechercherInsAvecCarteVitale`."""
        now = time.time()
        rows: list[repo.IdentityRow] = []
        for b in card.beneficiaries:
            upsert = functools.partial(self._upsert, traits=card_traits(card, b), local_id=None, source="vitale",
                                       now=now, card=card_to_dict(card, b))
            row, needs_call = await self.store.transaction(upsert)
            if needs_call:
                await self._enqueue_lookup(row)
            rows.append(row)
        return [r.id for r in rows]

    async def datamatrix_scanned(self, content: dict[str, Any], source: str) -> dict[str, Any]:
        """Traits search with the scanned traits; the returned INS is then compared with the scanned one."""
        raw = {k: content.get(k) for k in ("birth_name", "first_names", "sex", "birth_date", "birth_place")}
        expected = {"matricule": str(content.get("matricule", "")), "oid": str(content.get("oid", ""))}
        return await self.submit(raw, local_id=None, source=f"datamatrix:{source}", expected_ins=expected)

    # -- batch ----------------------------------------------------------------------------------
    async def batch(self, patients: list[dict[str, Any]]) -> dict[str, Any]:
        parsed: list[tuple[int, Traits | None, str | None, str | None]] = []
        for position, patient in enumerate(patients):
            try:
                parsed.append((position, self.parse_traits(patient["traits"]), patient.get("local_id"), None))
            except UserFacingError as exc:
                parsed.append((position, None, patient.get("local_id"), exc.message))
        batch_id = str(uuid.uuid4())
        now = time.time()

        def work(conn: sqlite3.Connection) -> tuple[list[tuple[int, str]], int, list[dict[str, Any]]]:
            items: list[tuple[str, str]] = []
            queued: list[tuple[int, str]] = []
            rejected: list[dict[str, Any]] = []
            for position, traits, local_id, problem in parsed:
                if traits is None:
                    rejected.append({"position": position, "message": problem})
                    continue
                row, needs_call = self._upsert(conn, traits, local_id, "batch", now)
                if needs_call:
                    queued.append((len(items), row.id))
                items.append((row.id, "pending" if needs_call else "skipped"))
            repo.create_batch(conn, batch_id, items)
            return queued, len(items) - len(queued), rejected

        queued, skipped, rejected = await self.store.transaction(work)
        total = len(queued) + skipped
        # Announced before the first job is queued: a fast lookup must not report progress before the start.
        self.agent.events.publish("batch.progress", {"batch_id": batch_id, "done": skipped, "total": total})
        for position, identity_id in queued:
            await self.agent.outbox.enqueue(
                "ins.batch_lookup", {"identity_id": identity_id, "batch_id": batch_id, "position": position},
                key=f"batch:{batch_id}:{position}",
            )
        return {"batch_id": batch_id, "total": total, "queued": len(queued), "skipped": skipped,
                "rejected": rejected}

    # -- the background lookup (outbox handler) ---------------------------------------------------
    async def resume_waiting_lookups(self) -> None:
        """A CPS is in again: lookups deferred for want of a card run now rather than at their next look."""
        for handler in ("ins.lookup", "ins.batch_lookup"):
            await self.agent.outbox.hurry(handler)

    async def run_lookup(self, job: Job) -> None:
        client = self.client
        if client is None:
            raise PluginNotReady("client INSi non démarré")
        identity_id = job.payload["identity_id"]
        row = await self.store.transaction(lambda c: repo.get(c, identity_id))
        if row is None or row.insi_state != "pending":
            return  # already answered (a re-run after a crash) or the identity is gone
        batch = "batch_id" in job.payload
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
        final = not waits_for_card and (not retry or job.attempts + 1 >= LOOKUP_ATTEMPTS)
        if retry and final:
            summary["message"] = NEXT_STEPS["gave_up"]
        updated = await self.store.transaction(lambda c: self._record(c, identity_id, outcome, summary, final))
        if updated is None:
            return
        self.agent.events.publish("identity.updated", {"identity_id": identity_id, "status": updated.status,
                                                       "insi_outcome": summary["outcome"]})
        if batch and final:
            done, total = await self.store.transaction(
                lambda c: repo.finish_batch_item(c, job.payload["batch_id"], job.payload["position"]))
            self.agent.events.publish("batch.progress", {"batch_id": job.payload["batch_id"], "done": done,
                                                         "total": total})
        if waits_for_card:  # a card insertion hurries these jobs (card_inserted); this is the fallback
            raise LookupDeferred(CARD_MISSING, retry_after=CARD_WAIT, count_attempt=False)
        if not final:
            # Half-jittered exponential delay from the configuration (the registration cannot read it).
            delay = min(self.settings.retry_max, self.settings.retry_delay * 2 ** job.attempts)
            raise LookupDeferred(summary["outcome"], retry_after=delay * random.uniform(0.5, 1.0))

    async def _search(self, client: InsiClient, row: repo.IdentityRow, local: Traits) -> SearchOutcome:
        if row.card is not None and row.source == "vitale":
            card, beneficiary = card_from_dict(row.card)
            return await client.search_by_vitale(card_search(card, beneficiary))
        sent = rniv_form(local)  # INSi takes A–Z only: accents and ligatures spelled out
        return await client.search_by_traits(SearchTraits(
            birth_name=sent.birth_name, first_names=sent.first_names, sex=sent.sex, birth_date=sent.birth_date,
            birth_place=sent.birth_place))

    def _record(self, conn: sqlite3.Connection, identity_id: str, outcome: SearchOutcome, summary: dict[str, Any],
                final: bool) -> repo.IdentityRow | None:
        row = repo.get(conn, identity_id)
        if row is None:
            return None
        for ex in outcome.exchanges:
            repo.record_call(conn, identity_id, operation=ex.operation, message_id=ex.message_id,
                             started_at=ex.started_at, duration_ms=ex.duration_ms, http_status=ex.http_status,
                             error=ex.error, request_xml=ex.request_xml, response_xml=ex.response_xml)
        before = row.status
        row.insi = summary
        row.insi_at = time.time()
        row.insi_state = "done" if final else "pending"
        response = outcome.response
        if summary["outcome"] == "found" and response is not None and response.active is not None:
            new_status = after_insi_success(Status(row.status), row.attributes, consistent=summary["consistent"])
            row.status = new_status.value
            active = response.active
            row.ins = {"matricule": active.matricule, "key": active.key or "", "oid": active.oid}
        repo.update(conn, row)
        if row.status != before:
            repo.audit(conn, row.id, actor={"kind": "system", "source": "insi"}, action="insi_result",
                       status_before=before, status_after=row.status, insi_message_id=summary.get("message_id"))
        return row

    # -- read --------------------------------------------------------------------------------------
    async def _load(self, identity_id: str) -> repo.IdentityRow:
        row = await self.store.transaction(lambda c: repo.get(c, identity_id))
        if row is None:
            raise UserFacingError("Identité inconnue : ouvrez à nouveau le dossier du patient.", code=NOT_FOUND)
        return row

    async def get(self, identity_id: str) -> dict[str, Any]:
        return views.identity_get(await self._load(identity_id), self.actor(), self.settings.documents)

    async def view(self, identity_id: str) -> dict[str, Any]:
        row = await self._load(identity_id)
        qualification = None
        if row.status == Status.QUAL.value:  # who qualified it, when, how: the audit's last word on it
            entries = await self.store.transaction(lambda c: repo.audit_rows(c, identity_id))
            qualification = next((e for e in reversed(entries) if e["action"] == "qualified"), None)
        return views.identity_view(row, self.actor(), self.settings.documents, qualification)

    async def relaunch(self, identity_id: str) -> dict[str, Any]:
        """"Relancer la recherche INSi" (panel button): a new search with the record's current traits, where
        the last answer was final and a new one may differ (views.RELAUNCHABLE)."""
        now = time.time()

        def work(conn: sqlite3.Connection) -> repo.IdentityRow:
            row = repo.get(conn, identity_id)
            if row is None:
                raise UserFacingError("Identité inconnue : ouvrez à nouveau le dossier du patient.", code=NOT_FOUND)
            if not views.relaunch_action(row, (row.insi or {}).get("outcome"))["allowed"] \
                    or not insi_allowed(Status(row.status), row.attributes):
                raise UserFacingError("Pas de nouvelle recherche INSi possible pour cette identité maintenant : "
                                      "suivez l'indication du panneau.", code=QUALIFY_REFUSED)
            row.insi_state, row.insi_requested_at = "pending", now
            repo.update(conn, row)
            repo.audit(conn, row.id, actor=_actor_record(self.actor()), action="insi_relaunched",
                       status_before=row.status, status_after=row.status)
            return row

        row = await self.store.transaction(work)
        await self._enqueue_lookup(row)
        return {"identity_id": row.id, "status": row.status}

    async def audit(self, identity_id: str) -> list[dict[str, Any]]:
        await self._load(identity_id)
        return await self.store.transaction(lambda c: repo.audit_rows(c, identity_id))

    # -- printing ---------------------------------------------------------------------------------------
    async def datamatrix(self, identity_id: str) -> dict[str, Any]:
        """The INS Datamatrix of a qualified identity (PNG and SVG), for the LGC's documents. The matricule
        and OID appear on documents only for a qualified identity [EXI ID 29]: any other status is refused."""
        row = await self._load(identity_id)
        if row.status != Status.QUAL.value or not row.ins:
            raise UserFacingError(
                f"Datamatrix INS impossible : l'identité n'est pas qualifiée (statut {row.status}). Qualifiez-la "
                "d'abord (vérification d'une pièce d'identité) ; seul un INS qualifié figure sur les documents.",
                code=DATAMATRIX_REFUSED)
        # Pure generator of the scanner package (imported lazily: Pillow and libdmtx only when printing).
        from plugins.ins.datamatrix_print import render_datamatrix

        return {"identity_id": identity_id, **await asyncio.to_thread(render_datamatrix, row.traits, row.ins)}

    # -- qualify ------------------------------------------------------------------------------------
    async def qualify(self, identity_id: str, method: str, document_type: str | None) -> dict[str, Any]:
        actor = self.actor()
        documents = self.settings.documents

        def work(conn: sqlite3.Connection) -> repo.IdentityRow:
            row = repo.get(conn, identity_id)
            if row is None:
                raise UserFacingError("Identité inconnue : ouvrez à nouveau le dossier du patient.", code=NOT_FOUND)
            local = Traits.from_dict(row.traits)
            insi_traits = views.insi_traits(row)
            decision = views.decide(row, actor, method, document_type, documents)  # as the panel says
            if not decision.allowed or insi_traits is None:
                raise UserFacingError(decision.reason_fr or "Qualification impossible.", code=QUALIFY_REFUSED)
            before_traits, before_status = row.traits, row.status
            row.traits = apply_qualification(local, insi_traits).to_dict()
            row.traits_key = traits_key(Traits.from_dict(row.traits))
            row.status, row.qualified_at = Status.QUAL.value, time.time()
            repo.update(conn, row)
            repo.audit(conn, row.id, actor=_actor_record(actor), action="qualified", method=method,
                       document_type=document_type if method == "document" else None, status_before=before_status,
                       status_after=row.status, traits_before=before_traits, traits_after=row.traits,
                       insi_message_id=(row.insi or {}).get("message_id"))
            return row

        row = await self.store.transaction(work)
        self.agent.events.publish("identity.updated", {"identity_id": identity_id, "status": row.status,
                                                       "insi_outcome": (row.insi or {}).get("outcome")})
        return views.identity_get(row, actor, documents)


def _actor_record(actor: Actor) -> dict[str, Any]:
    return {"kind": actor.kind, "name": actor.name, "national_id": actor.national_id, "profession": actor.profession}


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
