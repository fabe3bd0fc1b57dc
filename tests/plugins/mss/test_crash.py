"""kill -9 of the agent in the middle of an SMTP submission: after the restart, exactly one copy arrives."""

from __future__ import annotations

import email
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from tests.conftest import REPO, TEST_TOKEN, subprocess_env
from tests.plugins.mss.conftest import TREATING, document, mss_settings
from tests.plugins.mss.mailservers import MailServers


def _state(store: Path) -> list[tuple[str, str]]:
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return []
    try:
        return [(r[0], r[1]) for r in conn.execute("SELECT message_id, state FROM mss_messages")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_mss_kill_9_mid_send_then_exactly_one_copy(mail: MailServers, tmp_path: Path) -> None:
    store = tmp_path / "store" / "vigie.sqlite3"
    config = {
        "api": {"port": 0, "tokens": [TEST_TOKEN]}, "store": {"path": str(store)},
        "log": {"dir": str(tmp_path / "logs")}, "disabled_plugins": ["ui", "cards", "scanner", "dmp"],
        "plugins": {"mss": mss_settings(mail, poll_interval=30.0)},
    }
    (tmp_path / "config.toml").write_text(tomli_w.dumps(config))
    # 6 MB of PDF: the submission takes long enough to be cut in the middle of DATA.
    doc = document(mss={"to_patient": False})
    big = type(doc)(**{**doc.__dict__, "pdf": doc.pdf + os.urandom(6 * 1024 * 1024)})
    (tmp_path / "doc.json").write_text(json.dumps(big.to_payload()))
    env = dict(subprocess_env(), VIGIE_TEST_P12_PASS=mail.pki.app_client.passphrase)
    cmd = [sys.executable, "-m", "tests.plugins.mss.crash_agent", str(tmp_path / "config.toml")]
    first = subprocess.Popen([*cmd, str(tmp_path / "doc.json")], cwd=REPO, env=env, stdout=subprocess.PIPE)
    master = int((mail.root / "postfix" / "queue" / "pid" / "master.pid").read_text().split()[0])
    stopped: list[int] = []
    try:
        _wait(lambda: any(s == "sending" for _, s in _state(store)), 60, "the submission started")
        # The operator freezes mid-DATA (its master and every child: smtpd, cleanup...)...
        stopped = [master, *_children(master)]
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(0.5)
        first.kill()  # ...and the agent dies there (kill -9): outcome unknown
        first.wait(10)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        if first.poll() is None:
            first.kill()
    (mid, state), = _state(store)
    assert state == "sending"
    second = subprocess.Popen([*cmd, "-"], cwd=REPO, env=env, stdout=subprocess.PIPE)
    try:
        _wait(lambda: dict(_state(store)).get(mid) in ("sent", "delivered", "read"), 90, "sent after restart")

        def copies() -> int:
            return sum(1 for raw in mail.delivered(TREATING) if email.message_from_bytes(raw)["Message-ID"] == mid)

        _wait(lambda: copies() >= 1, 30, "delivered")
        time.sleep(2.0)
        assert copies() == 1
    finally:
        second.kill()
        second.wait(10)
