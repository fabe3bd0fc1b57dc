"""The e-prescription capability: validate, ask the téléservice, render, keep, share, print.

`create` is what the practitioner's click runs: the téléservice call is bounded by a short timeout;
whatever it answers (OK, KO, nothing, module off) an ordonnance is produced — with the QR code only on
OK — kept in the store, and published as a validated document (DMP feed, MSSanté) through the outbox.
Printing failures are reported and leave the document in place for another try.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import logging
import os
import sqlite3
import time
import uuid
from typing import TYPE_CHECKING, Any

from agent.documents import DocumentAuthor, DocumentPorts, PatientIns, ValidatedDocument, publish
from agent.errors import StoreUnavailable, UserFacingError
from agent.rpc import NOT_FOUND
from plugins.eprescription import offline
from plugins.eprescription import repository as repo
from plugins.eprescription.models import TYPE_CODE, TYPE_LABEL, Prescription, TwoDCode
from plugins.eprescription.printing import KEPT_ADVICE, Printer, PrintFailed
from plugins.eprescription.settings import EprescriptionSettings
from plugins.eprescription.teleservice import FALLBACK, AnswerState, Teleservice, TeleserviceAnswer, build_request
from plugins.eprescription.validation import field_label, parse_prescription

if TYPE_CHECKING:
    from agent.emitter import Emitter
    from agent.spool import Spool
    from agent.store import Store

log = logging.getLogger(__name__)

PRINT_FAILED = -32020  # documented in docs/local-api.md
EXPORT_FAILED = -32021
SOURCE_PLUGIN = "eprescription"


def _read_ins(conn: sqlite3.Connection, identity_id: str) -> dict[str, str] | None | bool:
    """The INS plugin's read API; False when the identity (or the INS plugin's table) is unknown."""
    from plugins.ins.repository import qualified_ins

    try:
        return qualified_ins(conn, identity_id)
    except sqlite3.OperationalError:  # INS plugin disabled: its table does not exist
        return False


def _render(prescription: Prescription, code: TwoDCode | None) -> bytes:
    # reportlab and zxing-cpp are imported on first use, in this worker thread: the plugin's startup and
    # the event loop never wait for them (the plugin warms the import up in the background).
    render: Any = importlib.import_module("plugins.eprescription.render")
    pdf: bytes = render.render_pdf(prescription, code)
    return pdf


class EprescriptionService:
    def __init__(self, *, store: Store, emitter: Emitter, documents: DocumentPorts, settings: EprescriptionSettings,
                 teleservice: Teleservice,
                 printer: Printer, spool: Spool | None = None) -> None:
        self.store = store
        self.spool = spool  # shared store only: ordonnances made while the database is away (offline.py)
        self.emitter = emitter
        self.documents = documents  # where validated ordonnances go (agent/documents.py)
        self.settings = settings
        self.teleservice = teleservice
        self.printer = printer
        self.last_answer: TeleserviceAnswer | None = None

    async def start(self) -> None:
        # A crash between keeping an ordonnance and queueing its sharing job must not lose the sharing.
        rows = await self.store.fetchall("SELECT id FROM eprescription_documents WHERE document_job IS NULL")
        for r in rows:
            row = await self._load(str(r[0]))
            try:
                prescription = await asyncio.to_thread(parse_prescription, row.prescription)
            except UserFacingError:  # rules changed since it was made: keep it, do not block the start
                log.error("ordonnance %s could not be queued for sharing: it no longer validates", row.id)
                continue
            await self._publish(row, prescription)

    async def close(self) -> None:
        await self.teleservice.close()

    def status(self) -> dict[str, Any]:
        off = self.settings.disabled_reason
        last = self.last_answer
        return {"state": "désactivé" if off else "configuré", "reason": off,
                "last": last.as_dict() if last is not None else None}

    # -- create -----------------------------------------------------------------------------
    async def create(self, raw: dict[str, Any], *, print_now: bool = False,
                     printer: str | None = None) -> dict[str, Any]:
        raw = dict(raw)
        raw.setdefault("page_size", self.settings.page_size)
        prescription = await asyncio.to_thread(parse_prescription, raw)  # decodes the signature image
        ins_answer: dict[str, str] | None | bool = None
        away = False  # the practice database is away: the ordonnance is kept in the local spool (offline.py)
        if prescription.patient.identity_id:
            try:
                ins_answer = await self.store.transaction(
                    lambda c: _read_ins(c, prescription.patient.identity_id or ""))
            except StoreUnavailable:
                if self.spool is None:
                    raise
                away = True
            if ins_answer is False:
                raise UserFacingError("Identité du patient inconnue de Vigie (identity_id) : vérifiez le dossier.",
                                      code=NOT_FOUND, data={"errors": [{"field": "patient.identity_id",
                                                                        "label": field_label("patient.identity_id"),
                                                                        "message": "Identité inconnue."}]})
        ins = ins_answer if isinstance(ins_answer, dict) else None
        prescription_id = uuid.uuid4().hex
        answer = await self._ask(build_request(prescription, prescription_id, ins))
        code = (TwoDCode(answer.identifier, answer.qr_payload or answer.identifier)
                if answer.state is AnswerState.OK and answer.identifier else None)
        pdf = await asyncio.to_thread(_render, prescription, code)
        row = repo.DocumentRow(
            id=prescription_id, created_at=time.time(), prescription_date=prescription.date.isoformat(),
            page_size=prescription.page_size, teleservice_state=answer.state.value,
            identifier=answer.identifier if code else None, reason=answer.reason, error_code=answer.error_code,
            elapsed_ms=round(answer.elapsed_ms, 1), pdf=pdf, prescription=raw, patient_ins=ins, document_job=None,
            print_state=None, print_message=None, printed_at=None)
        if not away:
            try:
                await self.store.transaction(lambda c: repo.insert(c, row))
            except StoreUnavailable:
                if self.spool is None:
                    raise
                away = True
        if code is None:
            log.info("ordonnance %s produced without 2D code (téléservice %s)", prescription_id, answer.state.value)
        if away:
            return await self._keep_locally(row, prescription, pdf, print_now=print_now, printer=printer)
        await self._publish(row, prescription)
        self.emitter.publish("prescription.created", {
            "prescription_id": prescription_id, "code_present": code is not None,
            "teleservice_state": answer.state.value})
        result = row.summary()
        if print_now:
            result["print"] = await self._print_reporting(row, printer)
        result["pdf"] = base64.b64encode(pdf).decode("ascii")
        return result

    async def _keep_locally(self, row: repo.DocumentRow, prescription: Prescription, pdf: bytes, *,
                            print_now: bool, printer: str | None) -> dict[str, Any]:
        """The database is away: print now, keep the row and its sharing in the spool (merged when back)."""
        assert self.spool is not None
        printed: dict[str, Any] | None = None
        if print_now:
            target = printer or self.settings.printer
            try:
                job = await self.printer.print_pdf(row.pdf, printer=target, title=f"Ordonnance {row.id[:8]}")
                row.print_state, row.print_message, row.printed_at = "printed", job, time.time()
                printed = {"state": "printed", "message": None, "job": job}
            except PrintFailed as exc:
                row.print_state, row.print_message, row.printed_at = "failed", exc.message, time.time()
                printed = {"state": "failed", "message": f"{exc.message} {KEPT_ADVICE}", "job": None}
        document = self._document(row, prescription)
        await self.spool.add(offline.SPOOL_KIND, offline.spooled(row, document, prescription.patient.identity_id),
                             op_id=row.id)
        self.emitter.publish("prescription.created", {
            "prescription_id": row.id, "code_present": row.code_present, "teleservice_state": row.teleservice_state})
        result = row.summary()
        result.update(queued_locally=True, queued_message=offline.QUEUED_MESSAGE)
        if printed is not None:
            result["print"] = printed
        result["pdf"] = base64.b64encode(pdf).decode("ascii")
        return result

    async def _ask(self, request: dict[str, Any]) -> TeleserviceAnswer:
        """The téléservice, bounded twice: by its client's timeout and, whatever the client does, here."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.timeout + 0.5):
                answer = await self.teleservice.register(request)
        except TimeoutError:
            answer = TeleserviceAnswer(AnswerState.TIMEOUT, elapsed_ms=(time.perf_counter() - started) * 1000,
                                       reason=f"Le téléservice e-prescription n'a pas répondu : {FALLBACK}.")
        except Exception as exc:  # a client bug must not keep the practitioner from printing
            log.error("e-prescription téléservice client failed: %s", type(exc).__name__, exc_info=True)
            answer = TeleserviceAnswer(AnswerState.KO, error_code="erreur_interne",
                                       reason=f"Erreur interne du client e-prescription : {FALLBACK}.")
        self.last_answer = answer
        return answer

    async def _publish(self, row: repo.DocumentRow, prescription: Prescription) -> None:
        document = self._document(row, prescription)
        job_id = await publish(self.documents, document)
        await self.store.transaction(lambda c: repo.set_document_job(c, row.id, job_id))
        row.document_job = job_id

    @staticmethod
    def _document(row: repo.DocumentRow, prescription: Prescription) -> ValidatedDocument:
        pr, pt = prescription.prescriber, prescription.patient
        return ValidatedDocument(
            id=row.id, pdf=row.pdf, type_code=TYPE_CODE, type_label=TYPE_LABEL,
            title=f"Ordonnance du {prescription.date:%d/%m/%Y}",
            author=DocumentAuthor(name=pr.display_name, rpps=pr.rpps, profession=pr.profession,
                                  specialty=pr.specialty, am_number=pr.am_number),
            created_at=row.created_at, source_plugin=SOURCE_PLUGIN,
            patient_ins=PatientIns(**row.patient_ins) if row.patient_ins else None,
            metadata={
                "eprescription_identifier": row.identifier, "code_present": row.code_present,
                "teleservice_state": row.teleservice_state, "prescription_date": row.prescription_date,
                "ald": prescription.bizone, "page_size": row.page_size,
                "patient": {"birth_name": pt.birth_name, "used_name": pt.used_name, "first_names": pt.first_names,
                            "sex": pt.sex, "birth_date": pt.birth_date.isoformat() if pt.birth_date else None,
                            "identity_id": pt.identity_id},
            },
        )

    # -- print, export, get -------------------------------------------------------------------
    async def _load(self, prescription_id: str) -> repo.DocumentRow:
        row = await self.store.transaction(lambda c: repo.get(c, prescription_id))
        if row is None:
            raise UserFacingError("Ordonnance introuvable.", code=NOT_FOUND)
        return row

    async def _print_reporting(self, row: repo.DocumentRow, printer: str | None) -> dict[str, Any]:
        target = printer or self.settings.printer
        try:
            job = await self.printer.print_pdf(row.pdf, printer=target, title=f"Ordonnance {row.id[:8]}")
        except PrintFailed as exc:
            message = exc.message
            await self.store.transaction(lambda c: repo.record_print(c, row.id, "failed", message))
            self.emitter.publish("prescription.printed", {"prescription_id": row.id, "state": "failed",
                                                               "message": message})
            return {"state": "failed", "message": f"{message} {KEPT_ADVICE}", "job": None}
        await self.store.transaction(lambda c: repo.record_print(c, row.id, "printed", job))
        self.emitter.publish("prescription.printed", {"prescription_id": row.id, "state": "printed",
                                                           "message": None})
        return {"state": "printed", "message": None, "job": job}

    async def print(self, prescription_id: str, printer: str | None = None) -> dict[str, Any]:
        row = await self._load(prescription_id)
        result = await self._print_reporting(row, printer)
        if result["state"] != "printed":
            raise UserFacingError(result["message"], code=PRINT_FAILED, data={"prescription_id": prescription_id})
        return {"prescription_id": prescription_id, **result}

    async def export(self, prescription_id: str, *, save: bool = False) -> dict[str, Any]:
        """The PDF in base64; with `save`, also written to the configured export folder (the LGC names no
        path: a local API client must not choose where the agent writes)."""
        row = await self._load(prescription_id)
        filename = f"ordonnance-{row.prescription_date}-{row.id[:8]}.pdf"
        result: dict[str, Any] = {"prescription_id": row.id, "filename": filename, "code_present": row.code_present,
                                  "path": None, "pdf": base64.b64encode(row.pdf).decode("ascii")}
        if save:
            target = self.settings.export_dir / filename

            def write() -> None:
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(".pdf.part")
                # Health data: readable by this user only, from the first byte (not chmod'ed afterwards).
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(row.pdf)
                partial.replace(target)  # never a half-written ordonnance under the final name

            try:
                await asyncio.to_thread(write)
            except OSError as exc:
                raise UserFacingError(f"Export impossible dans {self.settings.export_dir} : {exc.strerror}. "
                                      "L'ordonnance est conservée.", code=EXPORT_FAILED) from None
            result["path"] = str(target)
        return result

    async def get(self, *, prescription_id: str | None = None, identifier: str | None = None) -> dict[str, Any]:
        if prescription_id:
            return (await self._load(prescription_id)).summary()
        row = await self.store.transaction(lambda c: repo.find_by_identifier(c, identifier or ""))
        if row is None:
            raise UserFacingError("Aucune ordonnance de ce poste ne porte cet identifiant.", code=NOT_FOUND)
        return row.summary()

    async def scanned(self, identifier: str, source: str) -> str | None:
        """A printed e-prescription was scanned: find it back and tell the LGC."""
        row = await self.store.transaction(lambda c: repo.find_by_identifier(c, identifier))
        self.emitter.publish("prescription.scanned", {
            "identifier": identifier, "prescription_id": row.id if row else None, "source": source})
        return row.id if row else None

