"""Validated documents: the hand-over from the plugins that produce documents to those that share them.

A producing plugin (e-prescription today; letters and reports later) calls `publish(context, document)` on
the same click that validates/prints the document. `publish` enqueues one durable outbox job
(`document_validated`, key `document:<id>`) that carries the whole document (PDF included, base64).
The job's handler calls every implementation of the `document_validated` hook (the DMP feed, the
MSSanté sender...).

Why a job and not a plain hook call: the document must not be lost when the consumer is absent,
down or not started yet. The core registers the `document_validated` job handler only when at least
one plugin implements the hook; until then the jobs stay `pending` in the outbox, untouched (the
outbox never claims a job whose handler is not registered, and never counts an attempt for it), and
they run at the first start of an agent that has a consumer (e.g. once the DMP plugin is installed).

Delivery is at least once and shared by every consumer: if one implementation raises, the job is
retried and every implementation sees the document again, so a consumer deduplicates by
`document.id` (which is also the natural XDS uniqueId / MSS Message-ID seed).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from agent.errors import PermanentJobError, RetryJobLater
from agent.hookcall import call_one

if TYPE_CHECKING:
    from agent.app import Agent
    from agent.context import Decisions, OutboxPort
    from agent.emitter import Emitter
    from agent.outbox import Job

log = logging.getLogger(__name__)

JOB_HANDLER = "document_validated"
HOOK = "document_validated"
CONSUMER_WAIT = 5.0  # seconds before a job whose consumer plugin has not started is looked at again
CONSUMER_TIMEOUT = 30.0  # a consumer returns quickly (it queues its own network work) or fails


@dataclass(frozen=True)
class DocumentAuthor:
    """Who validated the document (the XDS authorPerson / CDA assignedAuthor)."""

    name: str  # as printed, e.g. "Dr Marie Durand"
    rpps: str | None = None  # 11 digits; the XCN id is "8" + RPPS
    profession: str | None = None  # e.g. "Médecin"
    specialty: str | None = None  # e.g. "Médecine générale"
    am_number: str | None = None  # structure's Assurance Maladie number (authorInstitution hint)


@dataclass(frozen=True)
class PatientIns:
    """A patient's INS, present only when the identity is qualified (status QUAL)."""

    matricule: str  # 15 characters, key included
    oid: str  # 1.2.250.1.213.1.4.8 (NIR), .9 (NIA), .10/.11 (test/demo)


@dataclass(frozen=True)
class ValidatedDocument:
    """A document a practitioner validated. Carries personal data: never log it (only its id)."""

    id: str  # unique, stable across retries (e.g. a UUID); consumers deduplicate on it
    pdf: bytes = field(repr=False)
    type_code: str  # LOINC / TRE_A05 code of JDV_J66 (e.g. 57833-6), assigned by the producer, never the user
    type_label: str  # e.g. "Prescription de produits de santé"
    title: str
    author: DocumentAuthor
    created_at: float  # epoch seconds
    source_plugin: str
    mime: str = "application/pdf"
    patient_ins: PatientIns | None = field(default=None, repr=False)  # None unless the identity is qualified
    # Producer-specific extras, JSON-serialisable (e.g. the e-prescription identifier, patient traits for
    # the CDA header, the 2D code state).
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["pdf"] = base64.b64encode(self.pdf).decode("ascii")
        data["metadata"] = dict(self.metadata)
        return data

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> ValidatedDocument:
        raw = dict(data)
        raw["pdf"] = base64.b64decode(raw["pdf"])
        raw["author"] = DocumentAuthor(**raw["author"])
        raw["patient_ins"] = PatientIns(**raw["patient_ins"]) if raw.get("patient_ins") else None
        return cls(**raw)


class DocumentPorts(Protocol):
    """What publishing needs: a `PluginContext` has it (and so has the agent, for the host's tests)."""

    @property
    def outbox(self) -> OutboxPort: ...

    @property
    def emitter(self) -> Emitter: ...

    @property
    def decisions(self) -> Decisions: ...


async def publish(ports: DocumentPorts, document: ValidatedDocument) -> int:
    """Queue `document` for every `document_validated` consumer, durably; returns the outbox job id.

    Idempotent: publishing the same `document.id` twice queues it once.
    """
    # The payload (base64 of the PDF, ~80 kB for an ordonnance) is built in a worker thread, not on the event loop.
    payload = await asyncio.to_thread(document.to_payload)
    job_id = await ports.outbox.enqueue(JOB_HANDLER, {"document": payload}, key=f"document:{document.id}")
    ports.emitter.publish("document.validated", {
        "document_id": document.id, "type_code": document.type_code, "source_plugin": document.source_plugin,
        "consumers": len(ports.decisions.implementations(HOOK)),
    })
    return job_id


def consumer_impls(agent: Agent) -> list[Any]:
    return list(getattr(agent.plugins.hook, HOOK).get_hookimpls())


def register_dispatch(agent: Agent) -> bool:
    """Register the `document_validated` job handler if some plugin consumes documents.

    Without a consumer the handler stays unregistered: the jobs wait in the outbox, attempts untouched.
    """
    if not consumer_impls(agent):
        return False

    async def dispatch(job: Job) -> None:
        try:
            document = await asyncio.to_thread(ValidatedDocument.from_payload, job.payload["document"])  # base64
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentJobError(f"malformed document payload ({type(exc).__name__})") from exc
        failures: list[str] = []
        for impl in consumer_impls(agent):
            state = agent.plugins.states.get(impl.plugin_name)
            if state is None or state.status == "disabled":
                continue
            if not state.started:
                # The consumer exists but is not ready (e.g. DMP not configured yet): wait for it.
                raise RetryJobLater(f"consumer {impl.plugin_name} not started", retry_after=CONSUMER_WAIT,
                                    count_attempt=False)
            try:
                await call_one(impl, {"document": document}, CONSUMER_TIMEOUT)
            except Exception as exc:  # retried as a whole: consumers deduplicate by document.id
                log.warning("document %s: consumer %s failed: %s", document.id, impl.plugin_name,
                            type(exc).__name__)
                failures.append(f"{impl.plugin_name}: {type(exc).__name__}")
        if failures:
            raise RuntimeError("; ".join(failures))

    agent.outbox.register(JOB_HANDLER, dispatch, concurrency=4, max_attempts=20, base_delay=5.0, max_delay=900.0)
    return True
