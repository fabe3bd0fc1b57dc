"""MSSanté benchmarks: building a message (CDA + IHE_XDM.ZIP + MIME), and submitting through real Postfix.

The mail servers are the tests' private Postfix + Dovecot (tests/plugins/mss/mailservers.py, needs
root); without them only the build figures are measured.
"""

from __future__ import annotations

import concurrent.futures
import os
import ssl
import statistics
import time
import uuid

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


def run(options: BenchOptions) -> BenchGroup:
    runs = 20 if options.quick else 200
    rows = build_rows(runs)
    pf_rows, notes = postfix_rows(20 if options.quick else 100)
    return BenchGroup(name="mss", title="MSSanté plugin (message build, submission through Postfix)",
                      rows=rows + pf_rows, command=".venv/bin/python -m bench mss", notes=notes,
                      machine=machine_line(), quick=options.quick)
