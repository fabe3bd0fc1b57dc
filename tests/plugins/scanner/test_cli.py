"""`vigie scan FICHIER` and `vigie sandbox scan ...` against a real `vigie run --sandbox`."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from agent.cli import main
from plugins.scanner.payload import build_payload
from sandbox.scanner import images
from tests.conftest import PYTHON, free_port, subprocess_env
from tests.plugins.scanner.test_datamatrix import DOMINIQUE
from tests.sandbox.test_supervisor import MY_TOKEN, read_banner

PORT_TAKEN = "déjà utilisé"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`vigie run --sandbox` on a free port (retried when another test took the port meanwhile), stopped
    with Ctrl-C so that its agent child stops too."""
    home = tmp_path / "home"
    for attempt in range(3):
        port = free_port()
        given = tmp_path / f"mine{attempt}.toml"
        given.write_text(tomli_w.dumps({"api": {"port": port, "tokens": [MY_TOKEN]}}))
        proc = subprocess.Popen([PYTHON, "-m", "agent.cli", "run", "--sandbox", "--headless", "--config", str(given)],
                                env=subprocess_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            read_banner(proc)
            break
        except AssertionError as exc:
            proc.kill()
            proc.wait()
            if PORT_TAKEN not in str(exc) or attempt == 2:
                raise
    try:
        yield {"proc": proc, "port": port, "home": home}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_cli_scan_file_prints_the_parsed_code(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              isolated_home: Path) -> None:
    letter = tmp_path / "courrier.jpg"
    letter.write_bytes(images.jpeg(images.a4_letter(build_payload(DOMINIQUE)), quality=85))
    assert main(["scan", str(letter)]) == 0
    out = capsys.readouterr().out
    assert "[page 1, DataMatrix, zxing-cpp] ins_datamatrix" in out
    assert "297022A02077878" in out  # the user asked to see the code's content


def test_cli_scan_file_without_code_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  isolated_home: Path) -> None:
    blank = tmp_path / "blanc.png"
    images.symbol_image("x").point(lambda v: 255).save(blank)
    assert main(["scan", str(blank)]) == 1
    assert "Aucun code 2D" in capsys.readouterr().err


def _rpc(port: int, method: str, params: dict[str, Any] | None = None) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/rpc", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {MY_TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)["result"]


@pytest.mark.slow
def test_cli_sandbox_scan_drives_the_emulated_scanners(sandbox: dict[str, Any]) -> None:
    env = subprocess_env(sandbox["home"])
    port = sandbox["port"]

    def scanner_counts() -> dict[str, Any]:
        return dict(_rpc(port, "agent.info")["services"].get("scanner", {}))

    def all_connected() -> bool:
        devices = scanner_counts().get("devices", {})
        return len(devices) == 2 and all(state == "connecté" for state in devices.values())

    deadline = time.monotonic() + 20
    while not all_connected() and time.monotonic() < deadline:  # pyserial empties the input buffer on open
        time.sleep(0.2)
    for via in ("serial", "hid"):
        done = subprocess.run([PYTHON, "-m", "agent.cli", "sandbox", "scan", "ins", "ADRTROIS", "--via", via],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "douchette simulée" in done.stdout
    typed = subprocess.run([PYTHON, "-m", "agent.cli", "sandbox", "scan", "ins", "ECETINSI", "--via", "lgc",
                            "--azerty", "--sans-gs"], env=env, capture_output=True, text=True, timeout=60)
    assert typed.returncode == 0 and "Code reconnu (ins_datamatrix)" in typed.stdout, typed.stderr
    letter = sandbox["home"].parent / "courrier.jpg"
    letter.write_bytes(images.jpeg(images.a4_letter(build_payload(DOMINIQUE))))
    sent = subprocess.run([PYTHON, "-m", "agent.cli", "scan", str(letter), "--envoyer"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0 and "transmis à l'agent" in sent.stdout, sent.stderr
    deadline = time.monotonic() + 20
    while scanner_counts().get("received", 0) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert scanner_counts()["received"] == 4
    unknown = subprocess.run([PYTHON, "-m", "agent.cli", "sandbox", "scan", "texte", "bonjour", "--via", "lgc"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "Code non reconnu" in unknown.stderr
    # Ctrl-C: the supervisor stops its agent child and cleans up.
    sandbox["proc"].send_signal(signal.SIGINT)
    assert sandbox["proc"].wait(timeout=20) == 0
