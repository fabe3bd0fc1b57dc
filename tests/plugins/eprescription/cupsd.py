"""A private CUPS scheduler for one test: its own socket, spool and logs, with a cups-pdf printer.

Parallel-safe: nothing is shared with the system's cupsd or other tests except cups-pdf's output
directory (`Out` of /etc/cups/cups-pdf.conf, usually ~/PDF), where each job's file carries the job
title (unique per ordonnance) and the private scheduler's job number.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PPD = Path("/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd")
BACKEND = Path("/usr/lib/cups/backend/cups-pdf")


def available() -> str | None:
    """None when a private cupsd with cups-pdf can run here, else why not."""
    if shutil.which("cupsd") is None and not Path("/usr/sbin/cupsd").exists():
        return "cupsd not installed"
    if not BACKEND.exists() or not PPD.exists():
        return "printer-driver-cups-pdf not installed"
    if os.geteuid() != 0:
        return "cups-pdf's backend (mode 0700) runs only for root"
    return None


def cups_pdf_output_dir() -> Path:
    out = "${HOME}/PDF"
    conf = Path("/etc/cups/cups-pdf.conf")
    if conf.exists():
        for line in conf.read_text().splitlines():
            if re.match(r"^\s*Out\s+", line):
                out = line.split(None, 1)[1].strip()
    return Path(out.replace("${HOME}", pwd.getpwuid(os.geteuid()).pw_dir))


@dataclass
class PrivateCups:
    root: Path
    socket: Path

    def env(self) -> dict[str, str]:
        return {"CUPS_SERVER": str(self.socket)}

    def lpadmin(self, *args: str) -> None:
        subprocess.run(["lpadmin", "-h", str(self.socket), *args], check=True, capture_output=True)

    def add_pdf_printer(self, name: str) -> None:
        self.lpadmin("-p", name, "-v", "cups-pdf:/", "-E", "-P", str(PPD))

    def wait_completed(self, job: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run(["lpstat", "-h", str(self.socket), "-W", "completed", "-o"], capture_output=True,
                                  text=True).stdout
            if re.search(rf"^{re.escape(job)}\s", done, flags=re.M):
                return
            time.sleep(0.2)
        lines = (self.root / "log" / "error_log").read_text(errors="replace").splitlines()
        log = "\n".join(line for line in lines if "[Job" in line and "envp[" not in line)[-3000:]
        raise AssertionError(f"CUPS job {job} not completed in {timeout} s; error_log tail:\n{log}")


@contextmanager
def private_cupsd() -> Iterator[PrivateCups]:
    # A short path: a Unix socket path must stay under ~100 characters.
    root = Path(tempfile.mkdtemp(prefix="vigie-cups-"))
    for sub in ("spool", "tmp", "cache", "state", "log"):
        (root / sub).mkdir()
    (root / "tmp").chmod(0o1777)  # filters run as the `lp` user and need their temporary files
    socket = root / "cups.sock"
    (root / "cupsd.conf").write_text(
        f"Listen {socket}\nLogLevel info\nWebInterface No\nBrowsing No\n"
        "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
        "<Policy default>\n  JobPrivateAccess all\n  JobPrivateValues none\n  SubscriptionPrivateAccess all\n"
        "  SubscriptionPrivateValues none\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n")
    (root / "cups-files.conf").write_text(
        f"ServerRoot {root}\nRequestRoot {root}/spool\nTempDir {root}/tmp\nCacheDir {root}/cache\n"
        f"StateDir {root}/state\nErrorLog {root}/log/error_log\nAccessLog {root}/log/access_log\n"
        f"PageLog {root}/log/page_log\nServerBin /usr/lib/cups\nDataDir /usr/share/cups\n")
    proc = subprocess.Popen(["cupsd", "-f", "-c", str(root / "cupsd.conf"), "-s", str(root / "cups-files.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("private cupsd did not start")
            time.sleep(0.05)
        yield PrivateCups(root, socket)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
