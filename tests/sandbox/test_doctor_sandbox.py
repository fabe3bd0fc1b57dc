"""Issue 19 item 8: `vigie doctor` while `vigie run --sandbox` runs checks the running agent's profile and what
it sees (its private pcscd's readers, its memory keyring), not the system's, so nothing contradicts."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

import pytest

from tests.conftest import PYTHON, subprocess_env
from tests.sandbox.test_supervisor import sandbox

__all__ = ["sandbox"]
pytestmark = pytest.mark.slow


def _rows(out: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in out.splitlines()[2:]:
        m = re.match(r"^(.+?)\s{2,}(ok|attention|échec)\s{2,}(.*)$", line)
        if m:
            rows[m[1].strip()] = (m[2], m[3])
    return rows


def test_doctor_checks_the_running_sandbox_agent(sandbox: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    while True:  # the card plugin starts after /health answers: wait until the agent reports its readers
        run = subprocess.run([PYTHON, "-m", "agent.cli", "doctor"], env=subprocess_env(sandbox["home"]),
                             capture_output=True, text=True, timeout=60)
        rows = _rows(run.stdout)
        pcsc = rows.get("Service PC/SC (lecteurs)", ("", ""))
        if "actif" in pcsc[1] or time.monotonic() > deadline:
            break
        time.sleep(1)
    out = run.stdout
    assert rows["Agent Vigie"][0] == "ok" and "bac à sable" in rows["Agent Vigie"][1], out
    assert str(sandbox["profile"]) in rows["Agent Vigie"][1], out  # its profile, not the user's defaults
    assert str(sandbox["profile"]) in rows["Configuration"][1], out
    assert pcsc[0] == "ok" and pcsc[1].startswith("vu par l'agent en marche : service PC/SC actif"), out
    assert "Virtual PCD" in pcsc[1], out
    # No row says the PC/SC service is unreachable while the agent reads cards through it.
    assert not any("PC/SC" in name and "injoignable" in detail for name, (_, detail) in rows.items()), out
    keyring = rows["Trousseau (keyring)"]
    assert keyring[0] == "attention" and "en mémoire" in keyring[1] and "redémarrage" in keyring[1], out
    assert rows["Lecteurs virtuels du bac à sable (vpcd)"][0] == "ok", out
    # The capabilities' rows: the certificates are in the agent's own (memory) keyring, imported from the
    # stand-ins' PKI as `vigie setup` imports a practice's, so what counts is that the agent loaded them;
    # the endpoints are reached from here with a real TLS handshake.
    for name in ("INSi : téléservice", "DMP : service", "MSSanté : serveur SMTP", "MSSanté : serveur IMAP"):
        assert rows[name][0] == "ok" and "TLS vérifié" in rows[name][1], out
    for name in ("INSi : certificat de l'organisation", "DMP : certificat de la structure",
                 "MSSanté : certificat de la boîte"):
        assert rows[name][0] in ("ok", "attention") and "trousseau en mémoire" in rows[name][1], out
    assert run.returncode == 0, out
    # Issue 19 item 12: the sandbox ships a sample day for the start-of-day batch (no configuration to write).
    assert "journee-exemple.csv" in (sandbox["profile"] / "config.toml").read_text()
