"""agent.documents: validated documents wait in the outbox for a consumer, durably, without using attempts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.app import Agent
from agent.config import Config
from agent.documents import JOB_HANDLER, DocumentAuthor, PatientIns, ValidatedDocument, publish
from agent.hookspecs import hookimpl
from agent.outbox import Outbox
from agent.plugins import PluginHost
from agent.store import Store

DOC = ValidatedDocument(
    id="doc-1", pdf=b"%PDF-1.4 test\x00\xff", type_code="57833-6", type_label="Prescription de produits de santé",
    title="Ordonnance du 02/11/2026", author=DocumentAuthor(name="Dr Marie DURAND", rpps="10000123454"),
    created_at=1.5, source_plugin="test", patient_ins=PatientIns("284067512345678", "1.2.250.1.213.1.4.10"),
    metadata={"code_present": False},
)


def test_documents_payload_round_trip() -> None:
    assert ValidatedDocument.from_payload(DOC.to_payload()) == DOC
    shown = repr(DOC)  # what a hook trace would log: no PDF, INS or producer metadata (patient data)
    assert "pdf=" not in shown and "284067512345678" not in shown and "metadata" not in shown


async def test_documents_outbox_keeps_unhandled_job_across_restarts(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    await store.open()
    try:
        first = Outbox(store)
        job_id = await first.enqueue(JOB_HANDLER, DOC.to_payload(), key="document:doc-1")
        await first.start()
        await first.wait_idle(5)
        await first.stop()
        second = Outbox(store)  # a restart, still without the handler
        await second.start()
        await second.wait_idle(5)
        assert await second.unhandled() == {JOB_HANDLER: 1}
        row = await store.fetchone("SELECT state, attempts FROM outbox WHERE id = ?", (job_id,))
        assert row is not None and tuple(row) == ("pending", 0)
        seen: list[str] = []

        async def handler(job: Any) -> None:
            seen.append(ValidatedDocument.from_payload(job.payload).id)

        second.register(JOB_HANDLER, handler)
        await second.wait_idle(5)
        await second.stop()
        assert seen == ["doc-1"] and await second.unhandled() == {}
    finally:
        await store.close()


class Consumer:
    def __init__(self) -> None:
        self.ids: list[str] = []

    @hookimpl
    def document_validated(self, document: ValidatedDocument) -> None:
        self.ids.append(document.id)


async def test_documents_malformed_payload_is_dead_not_retried(agent_config: Config) -> None:
    host = PluginHost()
    consumer = Consumer()
    host.register(consumer, "consumer")
    agent = Agent(agent_config, host=host, load_plugins=False)
    await agent.start()
    try:
        job_id = await agent.outbox.enqueue(JOB_HANDLER, {"document": {"id": "x"}}, key="document:x")
        await agent.outbox.wait_idle(5)
        row = await agent.store.fetchone("SELECT state, attempts FROM outbox WHERE id = ?", (job_id,))
        assert row is not None and tuple(row) == ("dead", 1)
        assert consumer.ids == []  # a malformed payload never reaches a consumer
        assert await publish(agent, DOC) == await publish(agent, DOC)  # idempotent on the document id
        await agent.outbox.wait_idle(5)
        assert consumer.ids == ["doc-1"]
    finally:
        await agent.stop()
