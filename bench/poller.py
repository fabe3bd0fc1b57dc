"""`agent.info` poller in its own process: what an LGC sees while the agent works.

    python -m bench.poller URL TOKEN [--interval-ms 10]

Calls `POST URL/rpc` `agent.info` every `--interval-ms` (one call in flight) until a line arrives on stdin
(or stdin closes), then prints one JSON object on stdout: `{"latencies_ms": [...]}`. Run from a benchmark
with `Poller(url, token)` (a context manager): the latencies do not include the benchmark's own work, nor a
client thread competing for the agent process's GIL, only the agent's answer as another process sees it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from types import TracebackType


def _poll(url: str, token: str, interval: float, stop: threading.Event) -> list[float]:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "agent.info", "params": {}}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    while not stop.is_set():
        request = urllib.request.Request(f"{url}/rpc", data=body, headers=headers)
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
        latencies.append((time.perf_counter() - t0) * 1000)
        stop.wait(interval)
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.poller", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--interval-ms", type=float, default=10.0)
    args = parser.parse_args(argv)
    stop = threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    latencies = _poll(args.url.rstrip("/"), args.token, args.interval_ms / 1000, stop)
    json.dump({"latencies_ms": latencies}, sys.stdout)
    return 0


class Poller:
    """Start `python -m bench.poller` on enter; `stop()` (or exit) ends it and returns its latencies."""

    def __init__(self, url: str, token: str, interval_ms: float = 10.0) -> None:
        self._cmd = [sys.executable, "-m", "bench.poller", url, token, "--interval-ms", str(interval_ms)]
        self._proc: subprocess.Popen[str] | None = None
        self.latencies: list[float] = []

    def __enter__(self) -> Poller:
        self._proc = subprocess.Popen(self._cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return self

    def stop(self) -> list[float]:
        """Blocking (a pipe and a process exit): call it from a thread when an event loop is running."""
        if self._proc is not None:
            out, _ = self._proc.communicate("stop\n", timeout=30)
            self._proc = None
            self.latencies = json.loads(out)["latencies_ms"] if out else []
        return self.latencies

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


if __name__ == "__main__":
    raise SystemExit(main())
