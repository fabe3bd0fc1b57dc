"""E-prescription end to end: LGC websocket → agent → téléservice sandbox → PDF → store → outbox → consumer."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.documents import JOB_HANDLER, ValidatedDocument
from agent.hookcall import call_each
from agent.hookspecs import hookimpl
from agent.rpc import INVALID_PARAMS, NOT_FOUND
from plugins.eprescription.service import PRINT_FAILED
from sandbox.eprescription.server import EprescriptionSandbox
from tests.plugins.eprescription import cupsd
from tests.plugins.eprescription.conftest import AM, RPPS, AgentFactory, Lgc, decode, pdf_text, wait_until

LEGAL_ONLY = sorted([("Code128", RPPS), ("Code128", AM)])


class Consumer:
    """Stands for the DMP plugin: receives validated documents (and can fail a few times first)."""

    def __init__(self, failures: int = 0) -> None:
        self.documents: list[ValidatedDocument] = []
        self.failures = failures
        self.calls = 0

    @hookimpl
    async def document_validated(self, document: ValidatedDocument) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("DMP unreachable")
        self.documents.append(document)


async def _job(agent: Agent, job_id: int) -> dict[str, Any]:
    row = await agent.store.fetchone("SELECT state, attempts, handler FROM outbox WHERE id = ?", (job_id,))
    assert row is not None
    return dict(row)


async def test_eprescription_e2e_ok_prints_qr_with_identifier_and_shares(make_agent: AgentFactory, lgc_for: Any,
                                                                         ordonnance: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    consumer = Consumer()
    agent = await make_agent(extra={"dmp_stand_in": consumer})
    lgc: Lgc = await lgc_for(agent)
    result = await lgc.result("prescription.create", {"prescription": ordonnance})
    assert result["code_present"] is True and result["teleservice"]["state"] == "ok"
    identifier = result["identifier"]
    pdf = base64.b64decode(result["pdf"])
    assert decode(pdf, tmp_path) == [sorted([("QRCode", identifier), *LEGAL_ONLY])]
    assert identifier in pdf_text(pdf, tmp_path)
    event = await lgc.event("prescription.created")
    assert event == {"prescription_id": result["prescription_id"], "code_present": True, "teleservice_state": "ok"}

    await wait_until(lambda: consumer.documents, what="document delivered")
    doc = consumer.documents[0]
    assert doc.id == result["prescription_id"] and doc.pdf == pdf
    assert (doc.type_code, doc.type_label, doc.mime) == ("57833-6", "Prescription de produits de santé",
                                                         "application/pdf")
    assert doc.author.rpps == RPPS and doc.author.name == "Dr Marie DURAND" and doc.source_plugin == "eprescription"
    assert doc.patient_ins is None  # no qualified identity given
    assert doc.metadata["eprescription_identifier"] == identifier and doc.metadata["code_present"] is True
    await agent.outbox.wait_idle(5)  # the handler returned; its completion is recorded right after
    assert (await _job(agent, result["document_job"]))["state"] == "done"

    found = await lgc.result("prescription.get", {"identifier": identifier})
    assert found["prescription_id"] == result["prescription_id"]


@pytest.mark.parametrize(("settings", "mode", "state", "reason"), [
    ({}, "ko", "ko", "Le téléservice e-prescription a refusé la prescription (EP-REJ-01"),
    ({"timeout": 0.3}, "timeout", "timeout", "Le téléservice e-prescription n'a pas répondu en 0.3 s"),
    ({"enabled": False}, None, "disabled", "Module e-prescription désactivé par la configuration"),
    ({"url": None}, None, "disabled", "Téléservice e-prescription non configuré"),
])
async def test_eprescription_e2e_fallback_has_no_2d_code_and_still_shares(
        make_agent: AgentFactory, lgc_for: Any, ordonnance: dict[str, Any], tmp_path: Path,
        ep_sandbox: EprescriptionSandbox, settings: dict[str, Any], mode: str | None, state: str,
        reason: str) -> None:
    consumer = Consumer()
    agent = await make_agent(extra={"dmp_stand_in": consumer}, **settings)
    lgc: Lgc = await lgc_for(agent)
    params: dict[str, Any] = {"prescription": ordonnance}
    if mode:
        ep_sandbox.state.mode = mode  # the stand-in's own setting (its admin endpoint's), not a client option
    result = await lgc.result("prescription.create", params)
    assert result["code_present"] is False and result["identifier"] is None
    assert result["teleservice"]["state"] == state
    assert result["teleservice"]["reason"].startswith(reason)
    assert result["teleservice"]["reason"].endswith("ordonnance produite sans code 2D.")
    pdf = base64.b64decode(result["pdf"])
    assert decode(pdf, tmp_path) == [LEGAL_ONLY]  # no QR code, no Datamatrix: no 2D code at all
    stored = await agent.store.fetchone(
        "SELECT teleservice_state, reason, identifier FROM eprescription_documents WHERE id = ?",
        (result["prescription_id"],))
    assert stored is not None and (stored[0], stored[2]) == (state, None) and stored[1].startswith(reason)
    await wait_until(lambda: consumer.documents, what="document delivered without 2D code")
    assert consumer.documents[0].pdf == pdf and consumer.documents[0].metadata["code_present"] is False
    if settings.get("enabled") is False or "url" in settings:
        assert sum(ep_sandbox.state.counts.values()) == 0  # module off: the téléservice is not called
    else:  # the fallback follows a real answer (or silence) of the téléservice, asked once
        assert ep_sandbox.state.counts[mode] == 1 and sum(ep_sandbox.state.counts.values()) == 1


async def test_eprescription_e2e_document_waits_in_outbox_until_a_consumer_exists(
        make_agent: AgentFactory, lgc_for: Any, ordonnance: dict[str, Any]) -> None:
    # No plugin implements document_validated (the DMP and MSSanté plugins are off).
    agent = await make_agent(disabled=("dmp", "mss"))
    lgc: Lgc = await lgc_for(agent)
    result = await lgc.result("prescription.create", {"prescription": ordonnance})
    await agent.outbox.wait_idle(5)
    job = await _job(agent, result["document_job"])
    assert job == {"state": "pending", "attempts": 0, "handler": JOB_HANDLER}
    assert await agent.outbox.unhandled() == {JOB_HANDLER: 1}
    await agent.stop()

    consumer = Consumer(failures=1)  # the DMP plugin is installed; its first try fails
    again = await make_agent(extra={"dmp_stand_in": consumer}, disabled=("dmp", "mss"))
    await wait_until(lambda: consumer.documents, what="waiting document delivered after restart")
    assert [d.id for d in consumer.documents] == [result["prescription_id"]] and consumer.calls == 2
    await again.outbox.wait_idle(5)
    assert await _job(again, result["document_job"]) == {"state": "done", "attempts": 1, "handler": JOB_HANDLER}


async def test_eprescription_e2e_qualified_ins_only_in_metadata(make_agent: AgentFactory, lgc_for: Any,
                                                                ordonnance: dict[str, Any]) -> None:
    consumer = Consumer()
    agent = await make_agent(extra={"dmp_stand_in": consumer})
    now = time.time()
    for identity_id, status in (("id-qual", "QUAL"), ("id-recup", "RECUP")):
        await agent.store.execute(
            "INSERT INTO ins_identities (id, source, status, traits, traits_key, ins_matricule, ins_key, ins_oid,"
            " created_at, updated_at) VALUES (?, 'lgc', ?, '{}', ?, '2840675123456', '78', '1.2.250.1.213.1.4.10',"
            " ?, ?)", (identity_id, status, identity_id, now, now))
    lgc: Lgc = await lgc_for(agent)
    for identity_id in ("id-qual", "id-recup"):
        ordonnance["patient"]["identity_id"] = identity_id
        result = await lgc.result("prescription.create", {"prescription": ordonnance})
        assert result["patient_ins_qualified"] is (identity_id == "id-qual")
    await wait_until(lambda: len(consumer.documents) == 2, what="both documents delivered")
    by_identity = {d.metadata["patient"]["identity_id"]: d for d in consumer.documents}
    ins = by_identity["id-qual"].patient_ins
    assert ins is not None and (ins.matricule, ins.oid) == ("284067512345678", "1.2.250.1.213.1.4.10")
    assert by_identity["id-recup"].patient_ins is None

    ordonnance["patient"]["identity_id"] = "id-unknown"
    answer = await lgc.call("prescription.create", {"prescription": ordonnance})
    assert answer["error"]["code"] == NOT_FOUND


async def test_eprescription_e2e_invalid_prescription_refused_with_fields(make_agent: AgentFactory, lgc_for: Any,
                                                                          ordonnance: dict[str, Any]) -> None:
    agent = await make_agent()
    lgc: Lgc = await lgc_for(agent)
    ordonnance["prescriber"]["rpps"] = "10000123455"
    answer = await lgc.call("prescription.create", {"prescription": ordonnance})
    assert answer["error"]["code"] == INVALID_PARAMS
    assert answer["error"]["data"]["errors"] == [
        {"field": "prescriber.rpps", "label": "Prescripteur, N° RPPS",
         "message": "Le numéro RPPS est erroné (clé de contrôle invalide)."}]
    assert (await agent.store.fetchone("SELECT COUNT(*) FROM eprescription_documents"))[0] == 0
    answer = await lgc.call("prescription.create", {"prescription": ordonnance, "sandbox_mode": "ko"})
    assert answer["error"]["code"] == INVALID_PARAMS  # no sandbox parameter in the product's method


def _fake_lp(bin_dir: Path, spool: Path, *, fail: bool = False) -> None:
    """A `lp` that records its arguments and the spooled file, as CUPS would accept the job."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    spool.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "lp"
    if fail:
        body = 'echo "lp: The printer or class does not exist." >&2\nexit 1\n'
    else:
        body = (f'n=$(ls "{spool}" | grep -c "args$")\nprintf "%s\\n" "$@" > "{spool}/job$n.args"\n'
                f'for last; do :; done\ncp "$last" "{spool}/job$n.pdf"\n'
                'echo "request id is Cabinet-$((n + 1)) (1 file(s))"\n')
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)


async def test_eprescription_e2e_print_records_job_and_failure_keeps_document(
        make_agent: AgentFactory, lgc_for: Any, ordonnance: dict[str, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, spool = tmp_path / "bin", tmp_path / "spool"
    _fake_lp(bin_dir, spool)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    agent = await make_agent(printer="Cabinet", export_dir=str(tmp_path / "exports"))
    lgc: Lgc = await lgc_for(agent)
    created = await lgc.result("prescription.create", {"prescription": ordonnance, "print": True})
    assert created["print"] == {"state": "printed", "message": None, "job": "Cabinet-1"}
    args = (spool / "job0.args").read_text().splitlines()
    assert args[:2] == ["-d", "Cabinet"] and "-t" in args and "--" in args
    assert (spool / "job0.pdf").read_bytes() == base64.b64decode(created["pdf"])
    await lgc.event("prescription.printed", lambda p: p["state"] == "printed")

    printed = await lgc.result("prescription.print", {"prescription_id": created["prescription_id"],
                                                      "printer": "Accueil"})
    assert printed["job"] == "Cabinet-2" and (spool / "job1.args").read_text().splitlines()[:2] == ["-d", "Accueil"]

    _fake_lp(bin_dir, spool, fail=True)  # the printer disappears
    answer = await lgc.call("prescription.print", {"prescription_id": created["prescription_id"]})
    assert answer["error"]["code"] == PRINT_FAILED
    # Issue 19 item 6: lp's own (English) words never reach the user; said in French with what to do.
    assert answer["error"]["message"] == ("Impression impossible sur l'imprimante « Cabinet » : elle n'existe pas sur "
                                          "ce poste ; vérifiez son nom dans les réglages d'impression. L'ordonnance "
                                          "est conservée : réessayez ou exportez-la.")
    got = await lgc.result("prescription.get", {"prescription_id": created["prescription_id"]})
    assert got["print"]["state"] == "failed"
    exported = await lgc.result("prescription.export", {"prescription_id": created["prescription_id"]})
    assert exported["pdf"] == created["pdf"] and exported["filename"].startswith("ordonnance-2026-11-02-")
    assert exported["path"] is None
    saved = await lgc.result("prescription.export", {"prescription_id": created["prescription_id"], "save": True})
    assert saved["path"] == str(tmp_path / "exports" / saved["filename"])
    assert Path(saved["path"]).read_bytes() == base64.b64decode(created["pdf"])
    assert Path(saved["path"]).stat().st_mode & 0o777 == 0o600  # health data: this user only
    # An unusable export folder (a file in its place: root would ignore a read-only mode) is reported.
    Path(saved["path"]).unlink()
    (tmp_path / "exports").rmdir()
    (tmp_path / "exports").write_text("not a folder")
    answer = await lgc.call("prescription.export", {"prescription_id": created["prescription_id"], "save": True})
    assert answer["error"]["code"] == -32021 and answer["error"]["message"].startswith("Export impossible dans ")


async def test_eprescription_e2e_scanning_a_printed_qr_finds_it_back(make_agent: AgentFactory, lgc_for: Any,
                                                                     ordonnance: dict[str, Any]) -> None:
    agent = await make_agent()
    lgc: Lgc = await lgc_for(agent)
    created = await lgc.result("prescription.create", {"prescription": ordonnance})
    parsed = agent.plugins.hook.parse_scan(data=created["identifier"].encode())
    assert parsed == {"kind": "eprescription_qr", "content": {"identifier": created["identifier"]}}
    await call_each(agent.plugins, "scan_received", kind=parsed["kind"], content=parsed["content"], source="image")
    event = await lgc.event("prescription.scanned")
    assert event == {"identifier": created["identifier"], "prescription_id": created["prescription_id"],
                     "source": "image"}

    damaged = agent.plugins.hook.parse_scan(data=b"EP-7K3M9Q2")
    assert damaged["kind"] == "eprescription_qr" and damaged["errors"][0]["field"] == "identifier"
    assert agent.plugins.hook.parse_scan(data=RPPS.encode()) is None  # the RPPS Code 128 is not ours
    answer = await lgc.call("prescription.get", {"identifier": "EP-0000000000000000"})
    assert answer["error"]["code"] == NOT_FOUND


@pytest.mark.slow
@pytest.mark.skipif(cupsd.available() is not None, reason=str(cupsd.available()))
async def test_eprescription_e2e_print_through_real_cups_pdf_printer(make_agent: AgentFactory, lgc_for: Any,
                                                                     ordonnance: dict[str, Any], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with cupsd.private_cupsd() as cups:
        cups.add_pdf_printer("VigiePDF")
        monkeypatch.setenv("CUPS_SERVER", str(cups.socket))  # the agent's `lp` talks to this scheduler
        agent = await make_agent()
        lgc: Lgc = await lgc_for(agent)
        created = await lgc.result("prescription.create", {"prescription": ordonnance})
        printed = await lgc.result("prescription.print", {"prescription_id": created["prescription_id"],
                                                          "printer": "VigiePDF"})
        job = printed["job"]
        assert job.startswith("VigiePDF-")
        await asyncio.to_thread(cups.wait_completed, job)
        number = job.rsplit("-", 1)[1]
        title = f"Ordonnance_{created['prescription_id'][:8]}"
        out = cupsd.cups_pdf_output_dir()
        files = [p for p in out.glob(f"{title}*job_{number}.pdf")]
        assert len(files) == 1, sorted(p.name for p in out.iterdir())
        try:
            # What came out of CUPS (pdftops → ghostscript → cups-pdf) still scans like the original.
            assert decode(files[0].read_bytes(), tmp_path) == [
                sorted([("QRCode", created["identifier"]), *LEGAL_ONLY])]
        finally:
            files[0].unlink()


async def test_eprescription_e2e_kept_but_unpublished_ordonnance_is_published_at_start(
        make_agent: AgentFactory, ordonnance: dict[str, Any]) -> None:
    from plugins.eprescription import repository as repo
    from plugins.eprescription.render import render_pdf
    from plugins.eprescription.validation import parse_prescription

    first = await make_agent()
    pdf = render_pdf(parse_prescription(ordonnance), None)
    # What a crash between keeping the ordonnance and queueing its sharing job leaves behind.
    row = repo.DocumentRow(id="crashed0123456789", created_at=time.time(), prescription_date="2026-11-02",
                           page_size="A4", teleservice_state="timeout", identifier=None, reason="…",
                           error_code=None, elapsed_ms=1000.0, pdf=pdf, prescription=ordonnance, patient_ins=None,
                           document_job=None, print_state=None, print_message=None, printed_at=None)
    await first.store.transaction(lambda c: repo.insert(c, row))
    await first.stop()

    consumer = Consumer()
    second = await make_agent(extra={"dmp_stand_in": consumer})
    await wait_until(lambda: consumer.documents, what="repaired publication delivered")
    assert consumer.documents[0].id == "crashed0123456789" and consumer.documents[0].pdf == pdf
    job = await second.store.fetchone("SELECT document_job FROM eprescription_documents WHERE id = ?",
                                      ("crashed0123456789",))
    assert job is not None and job[0] is not None


async def test_eprescription_e2e_printed_pdf_through_the_scanner_finds_it_back(
        make_agent: AgentFactory, lgc_for: Any, ordonnance: dict[str, Any]) -> None:
    # The whole path a reception desk takes: the ordonnance's own PDF goes through the scanner plugin's
    # image pipeline (rasterised, QR found among the Code 128s), which routes the QR to this plugin.
    agent = await make_agent()
    await wait_until(lambda: agent.plugins.states["scanner"].started, what="scanner started")
    lgc: Lgc = await lgc_for(agent)
    created = await lgc.result("prescription.create", {"prescription": ordonnance})
    assert created["code_present"]
    scanned = await lgc.result("scan.image", {"data_base64": created["pdf"]})
    assert [(c["kind"], c["format"]) for c in scanned["codes"]] == [("eprescription_qr", "QRCode")]
    event = await lgc.event("prescription.scanned")
    assert event == {"identifier": created["identifier"], "prescription_id": created["prescription_id"],
                     "source": "image"}

