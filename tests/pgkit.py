"""A private PostgreSQL server per test process, and one fresh database per test.

The Debian server binaries (`postgresql` package, /usr/lib/postgresql/<v>/bin) run a throwaway cluster
in a temporary folder, listening on a free loopback port and a private Unix socket folder: nothing is
shared with the machine's own cluster or with other xdist workers. PostgreSQL refuses to run as root,
so under root (CI) the cluster belongs to the `postgres` system user, which the package creates.

Tests that need it take `pg_url` (a new empty database each) or `pg_server` (to stop/start the server
under a running agent). Without the binaries the tests are skipped with the reason shown.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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
        opts = (f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", opts,
                  "-w", "-t", str(int(START_TIMEOUT)), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "vigie", "-d", "postgres",
                  "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}")
        return name


def _start_server() -> PgServer:
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql; .ci/run installs it)")
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            pytest.skip("running as root without a 'postgres' system user to own the test cluster")
    root = Path(tempfile.mkdtemp(prefix="vigie-test-pg-"))
    os.chmod(root, 0o755)
    server = PgServer(bindir, root / "cluster", _free_port(), user)
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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = _start_server()
    yield server
    server.stop("immediate")
    with contextlib.suppress(OSError):
        shutil.rmtree(server.root.parent, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new, empty database on this process's private server."""
    return pg_server.url(pg_server.create_database())
