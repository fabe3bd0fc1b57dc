"""E-prescription benchmarks: rendering an ordonnance, and `prescription.create` end to end.

The agent runs as `vigie run --headless` (bench.agentproc), the téléservice sandbox in its own process
(`python -m sandbox.eprescription`); this process calls the local API over HTTP.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.agentproc import REPO, AgentProcess, Profile
from bench.report import BenchGroup, BenchOptions, Row, Target, machine_line

SAMPLE = REPO / "tests" / "plugins" / "eprescription" / "data" / "ordonnance.json"
LATENCY = 0.3
TIMEOUT = 2.0


def rendering(runs: int) -> list[Row]:
    from plugins.eprescription.render import TwoDCode, render_pdf
    from plugins.eprescription.validation import parse_prescription

    raw = json.loads(SAMPLE.read_text(encoding="utf-8"))
    code = TwoDCode("EP-7K3M9Q2XWT4B8N6C", "EP-7K3M9Q2XWT4B8N6C")
    rows = []
    for size in ("A4", "A5"):
        prescription = parse_prescription(dict(raw, page_size=size))
        render_pdf(prescription, code)  # warm-up: fonts, first zxing-cpp call
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            render_pdf(prescription, code)
            times.append((time.perf_counter() - t0) * 1000)
        rows.append(Row.of(f"Render a five-line ordonnance ({size}) with QR code and two Code 128", "ms", times,
                           target=Target("<=", 150.0), with_p99=True))
    return rows


class Sandbox:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "sandbox.eprescription", "--latency", str(LATENCY)],
                                     stdout=subprocess.PIPE, cwd=REPO, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        self.url = first.split(": ", 1)[1].split()[0]

    def mode(self, mode: str) -> None:
        req = urllib.request.Request(f"{self.url}/admin/mode", data=json.dumps({"mode": mode}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).close()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def create_times(agent: AgentProcess, count: int, raw: dict[str, Any]) -> tuple[list[float], list[bool]]:
    times, codes = [], []
    for _ in range(count):
        t0 = time.perf_counter()
        result = agent.rpc("prescription.create", {"prescription": raw})
        times.append((time.perf_counter() - t0) * 1000)
        codes.append(bool(result["code_present"]))
    return times, codes


def run(options: BenchOptions) -> BenchGroup:
    quick = options.quick
    group = BenchGroup(name="eprescription", title="E-prescription plugin (rendering, prescription.create)",
                       machine=machine_line(), quick=quick)
    group.rows.extend(rendering(20 if quick else 100))
    raw = json.loads(SAMPLE.read_text(encoding="utf-8"))
    root = Path(tempfile.mkdtemp(prefix="vigie-bench-ep-"))
    sandbox = Sandbox()
    try:
        profile = Profile(root / "agent", disabled_plugins=["ins"],
                          plugins={"eprescription": {"url": sandbox.url, "timeout": TIMEOUT}})
        with AgentProcess(profile, "eprescription") as agent:
            agent.start()
            agent.wait_started()
            create_times(agent, 2, raw)  # warm-up: imports, HTTP connection to the sandbox
            n_ok, n_timeout = (5, 2) if quick else (30, 8)
            ok, codes = create_times(agent, n_ok, raw)
            assert all(codes), "the sandbox answered OK: every ordonnance must carry its QR code"
            group.rows.append(Row.of(f"`prescription.create` with a {LATENCY * 1000:.0f} ms téléservice (OK, QR code)",
                                     "ms", ok, target=Target("<=", LATENCY * 1000 + 200), with_p99=True))
            group.rows.append(Row.of("… of which the agent's own work (minus the téléservice latency)", "ms",
                                     [t - LATENCY * 1000 for t in ok]))
            sandbox.mode("timeout")
            late, codes = create_times(agent, n_timeout, raw)
            assert not any(codes), "no answer: the fallback has no 2D code"
            group.rows.append(Row.of(f"`prescription.create` with a téléservice that never answers (timeout "
                                     f"{TIMEOUT:g} s, fallback without 2D code)", "ms", late,
                                     target=Target("<=", TIMEOUT * 1000 + 300), with_p99=True))
            agent.terminate()
    finally:
        sandbox.close()
        shutil.rmtree(root, ignore_errors=True)
    group.command = f"{sys.executable} -m bench eprescription"
    group.notes = [
        "Rendering: `render_pdf` in this process (reportlab, zxing-cpp symbols drawn as vector modules), the "
        "five-line sample of tests/plugins/eprescription/data/ordonnance.json (4 medicines/devices + 1 free-text "
        "line, comments), after one warm-up render.",
        f"`prescription.create`: over `POST /rpc` from this process to `vigie run --headless`, the sandbox "
        f"téléservice in its own process with a fixed {LATENCY * 1000:.0f} ms latency; each call validates, asks "
        "the téléservice, renders in a worker thread, stores the PDF, queues the document for the DMP and "
        "returns the PDF in base64. Timeout: the sandbox holds the request; the plugin's `timeout` "
        f"({TIMEOUT:g} s) ends the wait and the ordonnance comes back without 2D code.",
        "2-core machine shared with other helpers' work at the time: figures are indicative.",
    ]
    return group
