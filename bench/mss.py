"""MSSanté benchmarks: building a message (CDA + IHE_XDM.ZIP + MIME), and submitting through real Postfix.

The mail servers are the tests' private Postfix + Dovecot (tests/plugins/mss/mailservers.py, needs
root); without them only the build figures are measured.
"""

from __future__ import annotations

import concurrent.futures
import os
import ssl
import statistics
import sys
import time
import uuid
from typing import Any

from bench.report import BenchGroup, BenchOptions, Row, Target, machine_line


def _document(pdf_bytes: int):  # type: ignore[no-untyped-def]
    from tests.plugins.mss.conftest import document

    doc = document()
    pdf = b"%PDF-1.4\n" + os.urandom(pdf_bytes - 20) + b"\n%%EOF\n"  # incompressible, as a scanned PDF
    return type(doc)(**{**doc.__dict__, "pdf": pdf})


def build_rows(runs: int) -> list[Row]:
    from plugins.mss import clinical, message
    from plugins.mss.settings import MssSettings
    from plugins.mss.xdm import ATTACHMENT_NAME, build_xdm

    settings = MssSettings(mailbox="logiciel@cabinet.mss.test")
    doc = _document(200 * 1024)
    xdm_times: list[float] = []
    mime_times: list[float] = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        prepared = clinical.prepare(doc, settings)
        assert prepared.meta is not None and prepared.cda is not None
        xdm = build_xdm(prepared.meta, prepared.cda, ["a@b.mssante.fr"], software="Vigie")
        t1 = time.perf_counter()
        message.compose(message.Outgoing(
            sender=settings.mailbox, recipients=["a@b.mssante.fr"], subject="s", message_id=f"<{i}@x>", body="b",
            nil="N", attachments=[message.Attachment(ATTACHMENT_NAME, xdm, "application", "zip"),
                                  message.Attachment("d.pdf", doc.pdf, "application", "pdf")]))
        t2 = time.perf_counter()
        if i:
            xdm_times.append((t1 - t0) * 1000)
            mime_times.append((t2 - t1) * 1000)
    return [Row.of("XDM build for a 200 kB PDF (CDA R2 N1 + METADATA.XML + IHE_XDM.ZIP)", "ms", xdm_times,
                   target=Target("<=", 20.0), with_p99=True),
            Row.of("MIME message with IHE_XDM.ZIP + PDF (email package, base64)", "ms", mime_times, with_p99=True)]


async def _loop_lag(work: Any) -> tuple[list[float], float]:
    """Overshoot of a 1 ms sleep on the event loop (ms) while `work()` runs, and the work's duration (s)."""
    import asyncio

    lags: list[float] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - t - 0.001) * 1000)

    watcher = asyncio.create_task(watch())
    t0 = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - t0
    done.set()
    await watcher
    return lags, elapsed


def lag_rows(count: int, rounds: int) -> tuple[list[Row], list[str]]:
    """The event loop's lag while `count` 200 kB documents are composed, in the service's process pool
    (agent/cpu_pool.py) and, interleaved in the same runs, in one worker thread (what the pool replaced)."""
    import asyncio

    from agent.cpu_pool import CpuPool
    from plugins.mss import clinical, recipients
    from plugins.mss.compose import compose_document
    from plugins.mss.settings import MssSettings

    settings = MssSettings(mailbox="logiciel@cabinet.mss.test")
    docs = [_document(200 * 1024) for _ in range(count)]
    prepared = [clinical.prepare(d, settings) for d in docs]
    members = [recipients.Recipient("dr.martin@cabinet.mss.test", "professional", "Dr Martin")]

    async def measure() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        pool = CpuPool("bench-compose")
        await pool.run(compose_document, settings, docs[0], prepared[0], members, "<w@x>", False)  # spawn
        lags: dict[str, list[float]] = {"pool": [], "thread": []}
        spans: dict[str, list[float]] = {"pool": [], "thread": []}
        try:
            for _ in range(rounds):
                async def in_pool() -> None:
                    for i, d in enumerate(docs):
                        await pool.run(compose_document, settings, d, prepared[i], members, f"<{i}@x>", False)

                async def in_thread() -> None:
                    for i, d in enumerate(docs):
                        await asyncio.to_thread(compose_document, settings, d, prepared[i], members, f"<{i}@x>",
                                                False)

                for name, work in (("thread", in_thread), ("pool", in_pool)):
                    lag, span = await _loop_lag(work)
                    lags[name] += lag
                    spans[name].append(span)
        finally:
            await pool.close()
        return lags, spans

    lags, spans = asyncio.run(measure())
    rows = [Row.of(f"Event-loop lag while {count} messages (200 kB PDF) are composed in the process pool", "ms",
                   lags["pool"], target=Target("<=", 10.0, stat="p99")),
            Row.of(f"… the same {count} composed in one worker thread (before the pool)", "ms", lags["thread"],
                   with_p99=True)]
    notes = [f"Loop lag: the overshoot of a 1 ms `asyncio.sleep`, sampled back to back on the agent's loop while "
             f"{count} documents are composed one after the other ({rounds} rounds, thread and pool interleaved, "
             f"GIL switch interval {sys.getswitchinterval() * 1000:.0f} ms as the agent sets it); composing took "
             f"{statistics.median(spans['pool']):.2f} s in the pool and {statistics.median(spans['thread']):.2f} s "
             "in the thread (median per round)."]
    return rows, notes


def postfix_rows(count: int) -> tuple[list[Row], list[str]]:
    from tests.plugins.mss.mailservers import APP_MAILBOX, available, mail_servers

    reason = available()
    if reason:
        return [], [f"Postfix figures skipped: {reason}"]
    from plugins.mss.transport import Endpoint, Login, smtp_send

    raw_doc = _document(200 * 1024)
    with mail_servers() as mail:
        mail.add_user("dr.bench@cabinet.mss.test")
        context = ssl.create_default_context(cafile=str(mail.pki.ca))
        context.load_cert_chain(mail.pki.app_client.cert_pem, mail.pki.app_client.key_pem)
        ep = Endpoint(mail.host, mail.submission_port, mail.host, mail.imaps_port, "implicit", 30.0)
        login = Login(APP_MAILBOX, context, "EXTERNAL")
        import base64

        body = base64.encodebytes(raw_doc.pdf).replace(b"\n", b"\r\n")  # a 200 kB attachment, as on the wire

        def one(_: int) -> float:
            t0 = time.perf_counter()
            raw = b"Subject: bench\r\nMessage-ID: <" + uuid.uuid4().hex.encode() + b"@x>\r\n\r\n" + body
            smtp_send(ep, login, APP_MAILBOX, ["dr.bench@cabinet.mss.test"], raw, "e")
            return (time.perf_counter() - t0) * 1000

        t0 = time.perf_counter()
        sequential = [one(i) for i in range(count)]
        seq_total = time.perf_counter() - t0
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(count)))
        par_total = time.perf_counter() - t0
    rows = [Row.of(f"Submit one 200 kB message to Postfix (STARTTLS + client certificate), {count} in a row", "ms",
                   sequential, with_p99=True),
            Row.of(f"{count} messages, sequential (total)", "s", [seq_total]),
            Row.of(f"{count} messages, 4 in parallel (total)", "s", [par_total])]
    notes = [f"Parallel/sequential ratio: {par_total / seq_total:.2f} (median per message "
             f"{statistics.median(sequential):.1f} ms)."]
    return rows, notes


def _rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _agent_rows(mail, count: int, inbox: int, tmp: str) -> list[Row]:  # type: ignore[no-untyped-def]
    import asyncio
    import imaplib

    import keyring

    from agent.app import Agent
    from agent.config import config_from_dict
    from agent.documents import publish
    from agent.plugins import PluginHost
    from agent.secrets import MemoryKeyring, SecretStore
    from bench.poller import Poller
    from plugins.mss import repository as repo
    from tests.conftest import TEST_TOKEN
    from tests.plugins.mss.conftest import document, mss_settings

    keyring.set_keyring(MemoryKeyring())
    SecretStore().set("mss.pkcs12", mail.pki.app_client.passphrase)
    # The inbox to sync: `inbox` messages already waiting in the application mailbox.
    context = ssl.create_default_context(cafile=str(mail.pki.ca))
    context.load_cert_chain(mail.pki.app_client.cert_pem, mail.pki.app_client.key_pem)

    def fill() -> None:
        conn = imaplib.IMAP4_SSL(mail.host, mail.imaps_port, ssl_context=context)
        conn.authenticate("EXTERNAL", lambda _: b"")
        for i in range(inbox):
            conn.append("INBOX", None, None, b"From: dr@x.mssante.fr\r\nSubject: courrier %d\r\nMessage-ID: <in-%d@x>"
                        b"\r\nX-MSS-NIL: X\r\n\r\n" % (i, i) + b"Bonjour, " * 300 + b"\r\n")
        conn.logout()

    await asyncio.to_thread(fill)
    config = config_from_dict({
        "api": {"port": 0, "tokens": [TEST_TOKEN]}, "store": {"path": f"{tmp}/vigie.sqlite3"},
        "log": {"dir": f"{tmp}/logs"}, "disabled_plugins": ["ui", "cards", "scanner", "dmp"],
        "plugins": {"mss": mss_settings(mail, poll_interval=5.0)},
    })
    rss0 = _rss_mb()
    agent = Agent(config, host=PluginHost())
    t0 = time.perf_counter()
    await agent.start()
    try:
        for _ in range(6000):  # polled: the benchmark looks from outside, as the LGC would
            if await agent.store.transaction(repo.inbox_count) >= inbox:
                break
            await asyncio.sleep(0.05)
        sync = time.perf_counter() - t0
        rss1 = _rss_mb()
        docs = [document(mss={"to_patient": False}) for _ in range(count)]
        with Poller(agent.server.url, TEST_TOKEN, interval_ms=10) as poller:  # another process, as an LGC
            for d in docs:
                await publish(agent, d)

            async def pending() -> bool:
                rows = await agent.store.fetchall("SELECT state FROM mss_messages")
                return len(rows) < count or any(r[0] not in ("sent", "delivered", "read") for r in rows)

            while await pending():  # noqa: ASYNC110 (the store is polled, as from outside)
                await asyncio.sleep(0.1)
            latencies = await asyncio.to_thread(poller.stop)
    finally:
        await agent.stop()
    return [Row.of(f"Inbox first sync, {inbox} messages waiting (agent start to all stored)", "s", [sync]),
            Row.of(f"Agent RSS growth after syncing {inbox} messages", "MB", [rss1 - rss0]),
            Row.of(f"agent.info over HTTP while {count} documents are mailed", "ms", latencies,
                   target=Target("<=", 10.0, stat="p99"), with_p99=True)]


def agent_rows(count: int, inbox: int) -> tuple[list[Row], list[str]]:
    import asyncio
    import tempfile

    from tests.plugins.mss.mailservers import available, mail_servers

    if available():
        return [], []
    with mail_servers() as mail, tempfile.TemporaryDirectory() as tmp:
        mail.add_user("dr.martin@cabinet.mss.test")
        mail.add_user("146026322000196@patient.mssante.fr")
        return asyncio.run(_agent_rows(mail, count, inbox, tmp)), []


def run(options: BenchOptions) -> BenchGroup:
    runs = 20 if options.quick else 200
    from agent.app import GIL_SWITCH_INTERVAL

    rows = build_rows(runs)
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))  # as the agent runs
    lag, lag_notes = lag_rows(10 if options.quick else 50, 1 if options.quick else 3)
    rows += lag
    pf_rows, notes = postfix_rows(20 if options.quick else 100)
    notes = lag_notes + notes + [
        "`agent.info` while mailing: polled every 10 ms over `POST /rpc` from another process (`bench.poller`, as "
        "an LGC would), from the first `publish` until every message is sent; the agent runs in the benchmark's "
        "process with the MSSanté plugin against the private Postfix and Dovecot."]
    more, _ = agent_rows(10 if options.quick else 50, 100 if options.quick else 1000)
    pf_rows += more
    return BenchGroup(name="mss", title="MSSanté plugin (message build, submission through Postfix)",
                      rows=rows + pf_rows, command=".venv/bin/python -m bench mss", notes=notes,
                      machine=machine_line(), quick=options.quick)
