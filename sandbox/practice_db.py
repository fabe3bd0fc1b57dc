"""A throwaway PostgreSQL cluster on loopback: the sandbox's practice database, and the tests' and
benchmarks' (tests/pgkit.py, bench/practice.py).

The Debian server binaries (`postgresql` package, /usr/lib/postgresql/<v>/bin) run a private cluster in
a temporary folder, on a free loopback port and a private Unix socket folder: nothing is shared with
the machine's own cluster. PostgreSQL refuses to run as root, so under root the cluster belongs to the
`postgres` system user, which the package creates. Trust authentication on loopback only: the cluster
lives and dies with its owner process and holds test data.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 30.0


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    user: str | None  # the system user running the cluster (None: the current one)
    durable: bool = False  # fsync as a real server does (benchmarks); off for tests and the sandbox

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://vigie@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=START_TIMEOUT)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        # trust on loopback: the cluster lives and dies with the test process, on a private port.
        self._run("initdb", "-D", str(self.data), "-U", "vigie", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8")
        (self.root / "sock").mkdir(exist_ok=True)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root / "sock", entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", opts,
                  "-w", "-t", str(int(START_TIMEOUT)), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        """Stop at once and delete the cluster's folder."""
        self.stop("immediate")
        shutil.rmtree(self.root.parent, ignore_errors=True)

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "vigie", "-d", "postgres",
                  "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}")
        return name


class NoPostgres(RuntimeError):
    """No PostgreSQL server binaries here (or no user to run them as): the reason, in English."""


def start_server(prefix: str = "vigie-pg-", *, durable: bool = False) -> PgServer:
    """Start a throwaway cluster; raises NoPostgres when this machine cannot run one."""
    bindir = _bindir()
    if bindir is None:
        raise NoPostgres("PostgreSQL server binaries not installed (Debian package postgresql)")
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise NoPostgres("running as root without a 'postgres' system user to own the cluster") from None
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    server = PgServer(bindir, root / "cluster", _free_port(), user, durable)
    server.init()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            server.start()
            return server
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            server.port = _free_port()  # raced for the port with another process
