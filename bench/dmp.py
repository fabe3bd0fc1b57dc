"""DMP benchmarks: building an ITI-41 (CDA + metadata + MTOM), and 200 documents through the outbox.

The feed run: an agent in this process (INS and DMP plugins; the others off) whose local API is called
over HTTP from another thread (`agent.info`, to see whether the event loop stays responsive), and the
DMP stand-in in its own process (`python -m sandbox.dmp --latency 0.3`) over real HTTPS with the
structure certificate and an INDIRECTE VIHF.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.agentproc import REPO
from bench.poller import Poller
from bench.report import BenchGroup, BenchOptions, Row, Target, machine_line

LATENCY = 0.3
TOKEN = "bench-token-dmp-0123456789"


def _pdf(size: int) -> bytes:
    head = b"%PDF-1.4\n1 0 obj<< /Length " + str(size).encode() + b" >>stream\n"
    return head + os.urandom(size - len(head) - 20) + b"\nendstream\n%%EOF\n"


def iti41_build(runs: int) -> list[Row]:
    from plugins.common.clinical.example import example_metadata
    from plugins.dmp import operations as ops
    from plugins.dmp import soap

    rows = []
    for label, size, target in (("200 kB", 200_000, 20.0), ("5 MB", 5_000_000, 150.0)):
        pdf = _pdf(size)
        meta = example_metadata("bench")
        times = []
        for i in range(runs + 1):
            t0 = time.perf_counter()
            built = ops.build_iti41(meta, pdf)
            env = soap.serialize(soap.envelope("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", "https://x",
                                               built.body, None, message_id=soap.new_message_id()))
            _, chunks = soap.mtom(env, [built.part], action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b")
            b"".join(chunks)
            if i:  # the first run warms lxml and the value-set caches up
                times.append((time.perf_counter() - t0) * 1000)
        rows.append(Row.of(f"ITI-41 build for a {label} PDF (CDA R2 N1 + base64, SHA-1, ebRIM, SOAP, MTOM body)",
                           "ms", times, target=Target("<=", target)))
    return rows


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def _feed(count: int, settings: dict[str, Any], secrets: dict[str, str],
                root: Path) -> tuple[float, list[float], float, int]:
    import keyring

    from agent.app import Agent
    from agent.config import config_from_dict
    from agent.documents import DocumentAuthor, PatientIns, ValidatedDocument, publish
    from agent.secrets import MemoryKeyring, SecretStore
    from plugins.dmp.settings import PKCS12_SECRET

    keyring.set_keyring(MemoryKeyring())  # never the developer's keyring
    SecretStore().set(PKCS12_SECRET, secrets[PKCS12_SECRET])
    concurrency = int(settings.get("concurrency", 4))
    config = config_from_dict({"api": {"port": 0, "tokens": [TOKEN]}, "store": {"path": str(root / "vigie.sqlite3")},
                               "log": {"dir": str(root / "logs")}, "plugins": {"dmp": settings},
                               "disabled_plugins": ["ui", "scanner", "cards", "eprescription"]})
    agent = Agent(config)
    await agent.start()
    try:
        deadline = time.monotonic() + 30
        while not agent.plugins.states["dmp"].started and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        pdf = _pdf(60_000)  # a one-page ordonnance is 30 to 80 kB
        sent = asyncio.Event()
        done: set[str] = set()

        def on_event(name: str, params: Any) -> None:
            if name == "dmp.document.updated" and params["state"] in ("sent", "failed"):
                done.add(params["document_id"])
                if len(done) >= count:
                    sent.set()

        agent.events.subscribe(on_event)
        with Poller(f"http://127.0.0.1:{agent.server.port}", TOKEN, interval_ms=10) as poller:
            rss0 = _rss_kb()
            t0 = time.perf_counter()
            for _ in range(count):
                await publish(agent, ValidatedDocument(
                    id=str(uuid.uuid4()), pdf=pdf, type_code="57833-6", type_label="Prescription", title="Ordonnance",
                    author=DocumentAuthor(name="Dr Olivier Sandbox", rpps="10003456789"), created_at=time.time(),
                    source_plugin="eprescription", patient_ins=PatientIns("297029912345697", "1.2.250.1.213.1.4.10"),
                    metadata={"patient": {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F",
                                          "birth_date": "1997-02-26"}}))
            rss1 = _rss_kb()
            await asyncio.wait_for(sent.wait(), timeout=count * LATENCY * 2 + 60)
            elapsed = time.perf_counter() - t0
            times = await asyncio.to_thread(poller.stop)  # its last call needs the loop: never block the loop on it
        failed = len(done) - (await agent.store.fetchone(
            "SELECT COUNT(*) FROM dmp_documents WHERE state = 'sent'"))[0]
        assert failed == 0, f"{failed} documents failed"
        return elapsed, times, (rss1 - rss0) / count, concurrency
    finally:
        await agent.stop()


def run(options: BenchOptions) -> BenchGroup:
    quick = options.quick
    group = BenchGroup(name="dmp", title="DMP plugin (ITI-41 build, outbox feed)", machine=machine_line(), quick=quick)
    group.rows.extend(iti41_build(5 if quick else 30))
    count = 40 if quick else 200
    sandbox = subprocess.Popen([sys.executable, "-m", "sandbox.dmp", "--latency", str(LATENCY)],
                               stdout=subprocess.PIPE, cwd=REPO, text=True)
    root = Path(tempfile.mkdtemp(prefix="vigie-bench-dmp-"))
    try:
        assert sandbox.stdout is not None
        started = json.loads(sandbox.stdout.readline())
        settings = dict(started["settings"], auth_mode="INDIRECTE")
        elapsed, info, per_doc_kb, concurrency = asyncio.run(_feed(count, settings, started["secrets"], root))
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    ideal = count * LATENCY / concurrency
    group.rows.append(Row.of(f"{count} documents through the outbox, {LATENCY * 1000:.0f} ms DMP, concurrency "
                             f"{concurrency}: total / ideal ({ideal:.1f} s)", "ratio", [elapsed / ideal],
                             target=Target("<=", 1.2)))
    group.rows.append(Row.of("… total time", "s", [elapsed]))
    group.rows.append(Row.of("`agent.info` over HTTP while they are in flight", "ms", info,
                             target=Target("<=", 10.0, stat="p99")))
    group.rows.append(Row.of("Memory growth per queued document (RSS, 60 kB PDF)", "kB", [per_doc_kb]))
    group.command = f"{sys.executable} -m bench dmp"
    group.notes = [
        "ITI-41 build: `plugins.dmp.operations.build_iti41` (CDA R2 N1 wrapping the PDF in base64, SHA-1 and size, "
        "ebRIM SubmitObjectsRequest) + SOAP envelope serialisation + MTOM multipart body, one CPU, no VIHF "
        "signing (an assertion is signed once per patient and hour, not per document).",
        f"Feed: documents published as `document_validated` jobs in an in-process agent (INS and DMP plugins), "
        f"each becomes a `dmp.send` job; the DMP stand-in runs in its own process with a fixed "
        f"{LATENCY * 1000:.0f} ms latency, over HTTPS with the structure certificate, VIHF INDIRECTE. Ideal = "
        "documents × latency / concurrency."
        " `agent.info` is polled every 10 ms over `POST /rpc` from another process (`bench.poller`, as an LGC would).",
        "Memory: RSS after publishing every document minus RSS before, per document (the PDF is in the outbox "
        "payload and the DMP table, on disk; what stays in memory is the job bookkeeping).",
        "`agent.info` tail, where it comes from (2026-12-04, profiles of this run with asyncio's slow-callback log, "
        "cProfile of the loop thread and py-spy): no callback on the loop runs long (the payload base64, the "
        "ITI-41 build, the SOAP/MTOM body and the answer parsing are off the loop, the outbox's JSON encoding of an "
        "enqueue takes under 1 ms; in the first seconds the "
        "loop is idle about 70 % of the time), and the slow calls bunch up in the first ~2 s, when the benchmark "
        "publishes its 200 documents at once and up to 16 `dmp.send` jobs build their ITI-41 together in worker "
        "threads: those threads hold the GIL (lxml tree building, the XDS metadata in Python), and every wake-up of "
        "the loop and of the polling thread waits for it; after that burst, with the machine quiet, no call takes "
        "more than 8 ms. The agent's 1 ms GIL switch interval bounds each wait; moving the ITI-41 build to the "
        "process pool that MSSanté composing uses (agent/cpu_pool.py) would remove them, but its lxml tree and "
        "the VIHF would have to cross the process boundary as bytes (not done).",
        "2-core machine shared with other helpers' work at the time: figures are indicative.",
    ]
    return group
