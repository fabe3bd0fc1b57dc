"""The DMP feed: every validated document goes to the patient's DMP, in the background, durably, once.

Doctrine (mission.md): feeding is opt-out. `accept(document)` (the `document_validated` hook, i.e. the
click that validated the document) records the document and queues one outbox job `dmp.send`; nothing
asks the user. "Ne pas envoyer" is `cancel` while queued, or `dmp: {"send": false}` in the document's
metadata; a recorded feeding opposition (`consent(kind="feeding", granted=False)`) cancels it too. Only
a qualified INS feeds: until the identity is qualified the document waits (state `queued`, with a
French reason), and it goes by itself once it is (the `identity.updated` event hurries the jobs).

Idempotence: `in_flight` is set (committed) before the ITI-41 leaves; after a crash or an unknown
outcome (timeout, connection lost), the next attempt first looks the document's uniqueId up (TD3.1)
and only resends when it is absent. Transport faults and 5xx are retried with the outbox's backoff; a
rejection is final (state `failed`, French reason). Every change emits `dmp.document.updated`.

The service takes only the ports it uses (store, outbox, emitter, settings, passphrase, signer and
acting-user providers, INS lookup), so it does not depend on the whole Agent.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from agent.context import OutboxPort
from agent.documents import PatientIns, ValidatedDocument
from agent.errors import PermanentJobError, RetryJobLater, UserFacingError
from agent.outbox import Job
from agent.panels import Badge
from agent.store import Store
from plugins.common.clinical import valuesets as vs
from plugins.dmp import repository as repo
from plugins.dmp import view
from plugins.dmp.errors import CARD, CONFIG, REJECTED, DmpError
from plugins.dmp.metadata import REFUSE, metadata_for, problem, unique_id
from plugins.dmp.settings import DmpSettings

# The XML/crypto stack (lxml, cryptography, aiohttp's client: the client, the SOAP operations, CDA/XDS, the
# VIHF) is imported where it is used, not here: an agent whose DMP is not configured starts the service (its
# documents wait in it) without loading it (`python -m bench agent_host`, RSS after start).
if TYPE_CHECKING:
    from plugins.common import xmldsig
    from plugins.common.clinical import xds
    from plugins.dmp.client import DmpClient
    from plugins.dmp.vihf import VihfContext

log = logging.getLogger(__name__)
JOB = "dmp.send"
UPDATE_JOB = "dmp.update"
EVENT = "dmp.document.updated"
ACTIVE = ("queued", "sending")  # the states the send job may change
WAIT_QUALIFICATION = 600.0  # seconds; the identity.updated event brings the job forward anyway
WAIT_CARD = 60.0
WAIT_CONFIG = 900.0
CONSENT_KINDS = ("consultation", "feeding")
NOT_CONSENTED = ("Consentement du patient à la consultation de son DMP non recueilli : informez le patient puis "
                 "enregistrez son accord (dmp.consent).")


@dataclass(frozen=True)
class Ports:
    store: Store
    outbox: OutboxPort
    emit: Callable[[str, dict[str, Any]], None]
    current_signer: Callable[[], xmldsig.Signer | None]  # the CPS in a reader (DIRECTE mode)
    acting_user: Callable[[], Any]  # agent.acting.ActingUser (who records a consent)
    qualified_ins: Callable[[sqlite3.Connection, str], dict[str, str] | None | bool]  # INS plugin read API
    traits: Callable[[sqlite3.Connection, str], dict[str, Any] | None]  # INS plugin: the identity's traits
    spawn: Callable[[Any], Any] | None = None  # the host's task spawner (cancelled when it stops)


class DmpService:
    def __init__(self, settings: DmpSettings, ports: Ports, *, passphrase: str | None,
                 type_code: Callable[[ValidatedDocument], str | None]) -> None:
        self.settings = settings
        self.ports = ports
        self.type_code = type_code
        self._passphrase = passphrase
        self._client: DmpClient | None = None
        self.last_error: str | None = None
        self.states: dict[str, str] = {}  # document id -> state, for the tray count (status is sync)
        self.reasons: dict[str, str] = {}  # document id -> why it waits (French), for the tray hint
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Load the states; open the client if configured (a missing configuration only makes documents wait)."""
        rows = await self.ports.store.transaction(
            lambda c: c.execute("SELECT document_id, state FROM dmp_documents WHERE state IN ('queued', 'sending')"
                                ).fetchall())
        self.states = {r[0]: r[1] for r in rows}
        try:
            await self._ensure_client()
        except RetryJobLater:
            log.warning("DMP client not started: %s", self.last_error)

    @property
    def client(self) -> DmpClient:
        """The DMP client, made at its first use (its module loads the XML/crypto stack)."""
        if self._client is None:
            from plugins.dmp.client import DmpClient

            self._client = DmpClient(self.settings, passphrase=self._passphrase,
                                     current_signer=self.ports.current_signer)
        return self._client

    async def _ensure_client(self) -> None:
        if self._client is not None and self._client.started:
            return
        if self.settings.missing:  # what the client's start would say, without loading its stack to say it
            self.last_error = self.settings.missing
            raise RetryJobLater("DMP not configured", retry_after=WAIT_CONFIG, count_attempt=False)
        try:
            await self.client.start()
            self.last_error = None
        except DmpError as exc:
            self.last_error = exc.message
            raise RetryJobLater("DMP not configured", retry_after=WAIT_CONFIG, count_attempt=False) from None

    def badge(self) -> Badge | None:
        """The tray count: documents not yet in the DMP; `attention` when one waits for the user (an identity
        to qualify, a CPS card to insert), with the first such reason as the hint."""
        count = sum(1 for state in self.states.values() if state in ACTIVE)
        if not count:
            return None
        for_user = [r for r in self.reasons.values() if r.startswith(("Identité non qualifiée", "Carte CPS"))]
        hint = for_user[0] if for_user else next(iter(self.reasons.values()), None)
        return Badge(count, "Documents en attente d'envoi au DMP", attention=bool(for_user), hint=hint)

    async def _client_ready(self) -> None:
        try:
            await self._ensure_client()
        except RetryJobLater:
            raise UserFacingError(f"DMP indisponible : {self.last_error}") from None

    def status(self) -> dict[str, Any]:
        waiting = sum(1 for state in self.states.values() if state in ("queued", "sending"))
        return {"state": "ok" if self.last_error is None else "erreur", "url": self.settings.url,
                "auth_mode": self.settings.auth_mode, "waiting": waiting, "last_error": self.last_error}

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.close()

    # -- intake -----------------------------------------------------------------------------------
    async def accept(self, document: ValidatedDocument) -> None:
        """Record the document and queue its send (idempotent by document id)."""
        code = self.type_code(document) or document.type_code
        options = dict(document.metadata.get("dmp") or {})
        masking = [m for m in options.get("masking", []) if m in vs.MASKING_OPTIONS]
        identity_id = (document.metadata.get("patient") or {}).get("identity_id")
        state, reason = "queued", None
        if options.get("send") is False:
            state, reason = "cancelled", "Envoi au DMP refusé pour ce document (« ne pas envoyer »)."
        found = problem(document, self.settings, code)
        if state == "queued" and found is not None:
            state, reason = ("failed", found.reason) if found.kind == REFUSE else ("queued", found.reason)

        def work(conn: sqlite3.Connection) -> bool:
            if state == "queued" and identity_id:
                opposed = repo.consent(conn, identity_id, "feeding")
                if opposed is not None and not opposed["granted"]:
                    return repo.insert(conn, document_id=document.id, identity_id=identity_id, state="cancelled",
                                       reason="Le patient s'est opposé à l'alimentation de son DMP.",
                                       unique_id=unique_id(document.id), type_code=code, title=document.title,
                                       masking=masking, payload=document.to_payload())
            return repo.insert(conn, document_id=document.id, identity_id=identity_id, state=state, reason=reason,
                               unique_id=unique_id(document.id), type_code=code, title=document.title,
                               masking=masking, payload=document.to_payload())

        inserted = await self.ports.store.transaction(work)
        row = await self._row(document.id)
        if row.state == "queued":
            await self.ports.outbox.enqueue(JOB, {"document_id": document.id}, key=f"dmp:{document.id}")
        if inserted:
            self._emit(row)

    def spawn(self, coro: Any) -> None:
        """Run a short follow-up (hurrying jobs) from a sync callback; exceptions are logged."""
        task = self.ports.spawn(coro) if self.ports.spawn else asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("DMP follow-up failed: %s", type(task.exception()).__name__)

    async def identity_changed(self, identity_id: str, status: str) -> None:
        if status == "QUAL":
            await self.ports.outbox.hurry(JOB)

    def card_changed(self) -> None:
        if self._client is not None:
            self._client.forget_vihf()

    async def card_available(self) -> None:
        await self.ports.outbox.hurry(JOB)
        await self.ports.outbox.hurry(UPDATE_JOB)

    # -- the outbox job ----------------------------------------------------------------------------
    async def run_send(self, job: Job, max_attempts: int) -> None:
        """One `dmp.send` job. Several run at once; the client lets `concurrency` exchanges be in flight, so
        the store work and the CDA build of the next documents overlap the DMP's latency."""
        document_id = str(job.payload["document_id"])
        row = await self._row(document_id, payload=True)
        if row.state not in ("queued", "sending") or row.payload is None:
            return  # sent, cancelled or failed meanwhile
        document = await asyncio.to_thread(ValidatedDocument.from_payload, row.payload)  # base64 of the PDF
        if document.patient_ins is None and row.identity_id:
            document = await self._refresh_ins(document, row.identity_id)
        found = problem(document, self.settings, row.type_code)
        if found is not None:
            if found.kind == REFUSE:
                await self._set(document_id, only_from=ACTIVE, state="failed", reason=found.reason)
                return
            await self._set(document_id, only_from=ACTIVE, state="queued", reason=found.reason)
            raise RetryJobLater("identity not qualified", retry_after=WAIT_QUALIFICATION, count_attempt=False)
        try:
            await self._ensure_client()
        except RetryJobLater:
            await self._set(document_id, only_from=ACTIVE, state="queued", reason=f"En attente : {self.last_error}")
            raise
        from plugins.dmp import operations as ops

        ctx = self._vihf_context(document)
        meta = metadata_for(document, self.settings, row.type_code, masking=row.masking)
        try:
            if row.in_flight:  # a previous attempt may have reached the DMP: ask before resending
                existing = await ops.find_by_unique_id(self.client, ctx, meta.unique_id)
                if existing is not None:
                    await self._sent(document_id, existing.entry_uuid)
                    return
            if not await self.ports.store.transaction(lambda c: repo.update(
                    c, document_id, only_from=("queued", "sending"), state="sending", reason=None, in_flight=1)):
                return  # cancelled between the read and now
            self._emit(await self._row(document_id))
            await ops.send(self.client, ctx, meta, document.pdf, attempt=str(job.attempts))
        except DmpError as exc:
            await self._failed_attempt(document_id, exc, job, max_attempts)
            return
        await self._sent(document_id, meta.entry_uuid)

    async def _failed_attempt(self, document_id: str, exc: DmpError, job: Job, max_attempts: int) -> None:
        log.info("DMP send of %s: %s (%s)", document_id, exc.kind, exc.detail or exc.codes)
        if exc.kind == REJECTED:
            await self._set(document_id, only_from=ACTIVE, state="failed", reason=exc.message, in_flight=0)
            return
        if exc.kind in (CARD, CONFIG):
            await self._set(document_id, only_from=ACTIVE, state="queued", reason=exc.message)
            raise RetryJobLater(exc.kind, retry_after=WAIT_CARD if exc.kind == CARD else WAIT_CONFIG,
                                count_attempt=False)
        if job.attempts + 1 >= max_attempts:
            reason = f"{exc.message} Échec après {max_attempts} essais : renvoyez le document (dmp.send)."
            await self._set(document_id, only_from=ACTIVE, state="failed", reason=reason)
            raise PermanentJobError("DMP unreachable, attempts exhausted")
        await self._set(document_id, only_from=ACTIVE, state="queued",
                        reason=f"{exc.message} Nouvel essai automatique.")
        raise RuntimeError(f"DMP transport failure ({exc.detail or 'unknown'})")

    async def _sent(self, document_id: str, entry_uuid: str) -> None:
        await self._set(document_id, state="sent", reason=None, in_flight=0, entry_uuid=entry_uuid,
                        sent_at=time.time())

    async def _refresh_ins(self, document: ValidatedDocument, identity_id: str) -> ValidatedDocument:
        ins = await self.ports.store.transaction(lambda c: self.ports.qualified_ins(c, identity_id))
        if not isinstance(ins, dict):
            return document
        updated = replace(document, patient_ins=PatientIns(matricule=ins["matricule"], oid=ins["oid"]))
        await self.ports.store.transaction(lambda c: repo.update(c, document.id, payload=updated.to_payload()))
        return updated

    # -- LGC API ------------------------------------------------------------------------------------
    async def cancel(self, document_id: str) -> dict[str, Any]:
        row = await self._row(document_id)
        if row.state == "cancelled":
            return row.public()
        if not await self.ports.store.transaction(lambda c: repo.update(
                c, document_id, only_from=("queued", "failed"), state="cancelled",
                reason="Envoi au DMP annulé (« ne pas envoyer »).")):
            raise UserFacingError("Trop tard pour annuler : le document est en cours d'envoi ou déjà dans le DMP "
                                  "(masquez-le ou supprimez-le avec dmp.mask).")
        row = await self._row(document_id)
        self._emit(row)
        return row.public()

    async def resend(self, document_id: str) -> dict[str, Any]:
        row = await self._row(document_id)
        if row.state in ("queued", "sending", "sent"):
            return row.public()
        await self._set(document_id, state="queued", reason=None)
        await self.ports.outbox.enqueue(JOB, {"document_id": document_id}, key=f"dmp:{document_id}:{row.updated_at}")
        return (await self._row(document_id)).public()

    async def documents(self, identity_id: str) -> dict[str, Any]:
        await self._client_ready()

        from plugins.dmp import operations as ops

        local = await self.ports.store.transaction(lambda c: repo.by_identity(c, identity_id))
        ins = await self._ins(identity_id)
        consent = await self.ports.store.transaction(lambda c: repo.consent(c, identity_id, "consultation"))
        if consent is None or not consent["granted"]:
            raise UserFacingError(NOT_CONSENTED)
        ctx = self._vihf_context_for(ins)
        patient_id = f"{ins.matricule}^^^&{ins.oid}&ISO^NH"
        try:
            try:
                entries = await ops.find_documents(self.client, ctx, patient_id)
            except DmpError as exc:
                if "DMPNotAuthorized" not in exc.codes:
                    raise
                # The consent is recorded: add this professional's access authorisation (TD0.3), then read.
                if not await ops.authorize(self.client, ctx):
                    raise UserFacingError("Le DMP refuse l'autorisation d'accès (le patient s'y est opposé).") from None
                entries = await ops.find_documents(self.client, ctx, patient_id)
        except DmpError as exc:
            raise UserFacingError(exc.message) from None
        ours = {r.unique_id: r.document_id for r in local}
        return {"identity_id": identity_id, "documents": [_entry_view(e, ours) for e in entries],
                "local": [r.public() for r in local]}

    async def retrieve(self, identity_id: str, unique: str) -> dict[str, Any]:
        await self._client_ready()

        from plugins.common.clinical import cda
        from plugins.dmp import operations as ops

        ins = await self._ins(identity_id)
        consent = await self.ports.store.transaction(lambda c: repo.consent(c, identity_id, "consultation"))
        if consent is None or not consent["granted"]:
            raise UserFacingError(NOT_CONSENTED)
        ctx = self._vihf_context_for(ins)
        try:
            entry = await ops.find_by_unique_id(self.client, ctx, unique)
            repository = entry.first("repositoryUniqueId") if entry is not None else None
            if entry is None or repository is None:
                raise UserFacingError("Document introuvable dans le DMP.")
            content = await ops.retrieve(self.client, ctx, repository, unique)
            header = await asyncio.to_thread(cda.read_header, content)
        except DmpError as exc:
            raise UserFacingError(exc.message) from None
        except cda.CdaError:
            raise UserFacingError("Document du DMP illisible (CDA non structuré attendu).") from None
        return {"unique_id": unique, "title": header.title, "type_code": header.type_code, "mime": header.media_type,
                "content": base64.b64encode(header.pdf).decode("ascii")}

    async def mask(self, document_id: str, masking: list[str], delete: bool = False) -> dict[str, Any]:
        row = await self._row(document_id)
        if row.state in ("queued", "failed", "cancelled") and not delete:
            await self._set(document_id, masking=masking)  # applied by the send itself
            return (await self._row(document_id)).public()
        if row.state != "sent":
            raise UserFacingError("Document en cours d'envoi : réessayez dans un instant.")
        version = row.meta_version
        await self._set(document_id, masking=masking, meta_version=version + (0 if delete else 1))
        await self.ports.outbox.enqueue(UPDATE_JOB, {"document_id": document_id, "delete": delete,
                                                     "version": version},
                                        key=f"dmp-update:{document_id}:{version}:{int(delete)}")
        return (await self._row(document_id)).public()

    async def run_update(self, job: Job) -> None:
        await self._ensure_client()

        from plugins.common.clinical import xds
        from plugins.dmp import operations as ops

        document_id = str(job.payload["document_id"])
        row = await self._row(document_id, payload=True)
        if row.payload is None:
            raise PermanentJobError("document payload gone")
        document = await asyncio.to_thread(ValidatedDocument.from_payload, row.payload)  # base64 of the PDF
        ctx = self._vihf_context(document)
        meta = metadata_for(document, self.settings, row.type_code, masking=row.masking)
        try:
            entry = await ops.find_by_unique_id(self.client, ctx, meta.unique_id)
            if entry is None or entry.status != xds.APPROVED:
                return  # deleted meanwhile: nothing to update
            if job.payload.get("delete"):
                await ops.update_status(self.client, ctx, meta, entry.entry_uuid, new=xds.DELETED,
                                        seed=f"{document_id}:delete")
                await self._set(document_id, state="cancelled", reason="Document supprimé du DMP.")
                return
            if [c for c, _ in entry.confidentiality] == list(meta.confidentiality_codes):
                return  # already applied (a re-run after a crash)
            await ops.update_metadata(self.client, ctx, meta, entry, seed=f"{document_id}:{job.payload['version']}",
                                      previous_version=str(job.payload["version"]))
            self._emit(await self._row(document_id))
        except DmpError as exc:
            if exc.kind == REJECTED:
                await self._set(document_id, reason=f"Masquage refusé par le DMP : {exc.message}")
                raise PermanentJobError(exc.message) from None
            raise RuntimeError(exc.kind) from None

    async def dmp_status(self, identity_id: str) -> dict[str, Any]:
        await self._client_ready()

        from plugins.dmp import operations as ops

        ins = await self._ins(identity_id)
        try:
            result = await ops.status(self.client, self._vihf_context_for(ins))
        except DmpError as exc:
            raise UserFacingError(exc.message) from None
        return {"identity_id": identity_id, "exists": result.exists, "closed": result.closed,
                "authorization": result.authorization, "treating_physician": result.treating_physician}

    async def consent(self, identity_id: str, kind: str, granted: bool | None, how: str | None) -> dict[str, Any]:
        if granted is None:
            recorded = await self.ports.store.transaction(lambda c: repo.consent(c, identity_id, kind))
            return recorded or {"identity_id": identity_id, "kind": kind, "granted": None}
        user = self.ports.acting_user()
        name = getattr(user, "name", None) or self.settings.practitioner_name
        by_id = getattr(user, "national_id", None) or (f"8{self.settings.practitioner.rpps}"
                                                       if self.settings.practitioner.rpps else None)
        return await self.ports.store.transaction(lambda c: repo.set_consent(
            c, identity_id, kind, granted=granted, by_name=name, by_id=by_id, how=how or "oral"))

    async def counts(self) -> dict[str, int]:
        return await self.ports.store.transaction(repo.counts)

    async def document(self, document_id: str) -> dict[str, Any]:
        return (await self._row(document_id)).public()

    async def local_view(self, identity_id: str) -> dict[str, Any]:
        """`dmp.view`: the documents Vigie holds for the patient, from its own records (no DMP call)."""
        rows = await self.ports.store.transaction(lambda c: repo.by_identity(c, identity_id))
        return view.identity_view(identity_id, [r.public() for r in rows])

    async def document_view(self, document_id: str) -> dict[str, Any] | None:
        """The popup panel's view of one document, None when it is unknown."""
        row = await self.ports.store.transaction(lambda c: repo.get(c, document_id, payload=False))
        if row is None:
            return None
        traits = await self.patient_traits(row.identity_id) if row.identity_id else {}
        return {**view.document_view(row.public()), "patient": view.patient_label(traits)}

    async def qualified_ins(self, identity_id: str) -> PatientIns | None:
        ins = await self.ports.store.transaction(lambda c: self.ports.qualified_ins(c, identity_id))
        if ins is False:
            raise UserFacingError("Patient inconnu de Vigie : soumettez d'abord son identité (identity.submit).")
        return PatientIns(matricule=ins["matricule"], oid=ins["oid"]) if isinstance(ins, dict) else None

    async def patient_traits(self, identity_id: str) -> dict[str, Any]:
        traits = await self.ports.store.transaction(lambda c: self.ports.traits(c, identity_id))
        return traits or {"identity_id": identity_id}

    # -- helpers -------------------------------------------------------------------------------------
    async def _ins(self, identity_id: str) -> PatientIns:
        ins = await self.ports.store.transaction(lambda c: self.ports.qualified_ins(c, identity_id))
        if ins is False:
            raise UserFacingError("Patient inconnu de Vigie.")
        if not isinstance(ins, dict):
            raise UserFacingError("Identité non qualifiée : qualifiez l'identité du patient (INS) pour accéder à son "
                                  "DMP.")
        return PatientIns(matricule=ins["matricule"], oid=ins["oid"])

    def _vihf_context(self, document: ValidatedDocument) -> VihfContext:
        assert document.patient_ins is not None
        return self._vihf_context_for(document.patient_ins, document.author.rpps, document.author.name)

    def _vihf_context_for(self, ins: PatientIns, rpps: str | None = None, name: str | None = None) -> VihfContext:
        from plugins.dmp.vihf import VihfContext

        s = self.settings
        user = self.ports.acting_user()
        national_id = getattr(user, "national_id", None) if s.auth_mode == "DIRECTE" else None
        rpps = rpps or s.practitioner.rpps
        return VihfContext(
            mode=s.auth_mode, ps_national_id=national_id or f"8{rpps}",
            ps_name=getattr(user, "name", None) or name or s.practitioner_name, profession=s.practitioner.profession,
            specialty=s.practitioner.specialty, structure_id=s.structure_id, activity_sector=s.activity_sector,
            patient_ins=ins.matricule, patient_ins_oid=ins.oid, lps_id=s.lps_id, lps_name=s.lps_name,
            lps_version=s.lps_version, homologation=s.homologation)

    async def _row(self, document_id: str, *, payload: bool = False) -> repo.Row:
        row = await self.ports.store.transaction(lambda c: repo.get(c, document_id, payload=payload))
        if row is None:
            raise UserFacingError("Document inconnu du module DMP.")
        return row

    async def _set(self, document_id: str, *, only_from: tuple[str, ...] | None = None, **changes: Any) -> None:
        """Update and emit; with `only_from`, only while the state is one of those (a concurrent
        `cancel` is never overwritten by the send job)."""
        if await self.ports.store.transaction(lambda c: repo.update(c, document_id, only_from=only_from, **changes)):
            self._emit(await self._row(document_id))

    def _emit(self, row: repo.Row) -> None:
        if row.state in ("queued", "sending"):
            self.states[row.document_id] = row.state
            if row.reason:
                self.reasons[row.document_id] = row.reason
            else:
                self.reasons.pop(row.document_id, None)
        else:
            self.states.pop(row.document_id, None)
            self.reasons.pop(row.document_id, None)
        self.ports.emit(EVENT, {"document_id": row.document_id, "identity_id": row.identity_id, "state": row.state,
                                "dmp_unique_id": row.unique_id if row.state == "sent" else None,
                                "reason": row.reason, "masking": row.masking})


def _entry_view(e: xds.EntryView, ours: dict[str, str]) -> dict[str, Any]:
    return {"unique_id": e.unique_id, "title": e.title, "status": (e.status or "").rsplit(":", 1)[-1],
            "type_code": e.codes.get("type_code", ("",))[0], "class_code": e.codes.get("class_code", ("",))[0],
            "creation_time": e.creation_time, "masking": list(vs.masking_options(c for c, _ in e.confidentiality)),
            "document_id": ours.get(e.unique_id or "")}
