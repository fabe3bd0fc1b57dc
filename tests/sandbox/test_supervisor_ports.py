"""Issue 18 items 9 and 10: the supervisor runs on the agent's effective configuration, trusts only its own
child, says how to pick another port, and several sandboxes run side by side, each with its own pointer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from tests.conftest import PYTHON, free_port, subprocess_env
from tests.sandbox.test_supervisor import read_banner

pytestmark = pytest.mark.slow


def _start_sandbox(home: Path, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {**subprocess_env(home), **(env_extra or {})}
    return subprocess.Popen([PYTHON, "-m", "agent.cli", "run", "--sandbox", "--headless", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _profile(banner: str) -> Path:
    found = re.search(r"Profil jetable\s*: (\S+)", banner)
    assert found, banner
    return Path(found.group(1)) / "config.toml"


@pytest.fixture
def plain_agent(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Another (production) Vigie agent holding a port: /health answers ok there."""
    port = free_port()
    config = tmp_path / "other.toml"
    config.write_text(tomli_w.dumps({"api": {"port": port, "tokens": ["other-token-0123456789abcdef"]},
                                     "store": {"path": str(tmp_path / "other" / "v.db")},
                                     "log": {"dir": str(tmp_path / "other" / "logs")}}))
    proc = subprocess.Popen([PYTHON, "-m", "agent.cli", "run", "--headless", "--config", str(config)],
                            env=subprocess_env(tmp_path / "other-home"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
                    if json.load(resp)["status"] == "ok":
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("the other agent did not start") from None
                time.sleep(0.1)
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_supervisor_effective_config_has_every_override(tmp_path: Path) -> None:
    from sandbox.supervisor import effective_config

    given = tmp_path / "mine.toml"
    given.write_text(tomli_w.dumps({"api": {"port": 9001}, "log": {"level": "INFO"}}))
    env = {"VIGIE_API_PORT": "8746", "VIGIE_LOG_LEVEL": "DEBUG"}
    assert effective_config(None, None, env).api.port == 8746  # no --config: the env still counts
    config = effective_config(given, None, env)
    assert (config.api.port, config.log.level) == (8746, "DEBUG")  # env over the file
    assert effective_config(given, 8750, env).api.port == 8750  # --port over everything


def test_supervisor_port_taken_message_says_how_to_choose_another() -> None:
    from sandbox.supervisor import port_taken_message

    message = port_taken_message(8743)
    assert message.startswith("Le port 8743 de l'API locale est déjà utilisé")
    suggested = re.search(r"« vigie run --sandbox --port (\d+) »", message)
    assert suggested and int(suggested.group(1)) > 8743, message
    assert f"VIGIE_API_PORT={suggested.group(1)} make run" in message


def test_supervisor_env_port_override_gets_a_banner_and_an_agent_there(tmp_path: Path) -> None:
    # `VIGIE_API_PORT=8746 make run`: the agent listened on 8746 while the supervisor waited on 8743.
    port = free_port()
    proc = _start_sandbox(tmp_path / "home", env_extra={"VIGIE_API_PORT": str(port)})
    try:
        banner = read_banner(proc, timeout=60)
        assert f"API locale           : http://127.0.0.1:{port}" in banner
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            assert json.load(resp)["status"] == "ok"
        assert f'port = {port}' in _profile(banner).read_text()  # the profile is the effective configuration
    finally:
        _stop(proc)


def test_supervisor_refuses_a_port_another_agent_holds_and_says_how_to_choose(
        tmp_path: Path, plain_agent: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, _ = plain_agent
    proc = _start_sandbox(tmp_path / "home", "--port", str(port))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    assert "bac à sable prêt" not in out and "Jeton de test" not in out  # never ready against a foreign agent
    assert f"Le port {port} de l'API locale est déjà utilisé" in out
    assert "--port" in out
    assert list((tmp_path / "home" / "state" / "vigie").glob("sandbox*.json")) == []


def test_supervisor_is_own_child_refuses_a_foreign_agent(plain_agent: tuple[int, subprocess.Popen[bytes]]) -> None:
    from sandbox.supervisor import is_own_child

    port, proc = plain_agent
    url = f"http://127.0.0.1:{port}"
    # It answers /health, but it is not our child: our token is refused there, and it has no sandbox.info.
    assert not is_own_child(url, "our-token-0123456789abcdef", proc.pid, "nonce")
    assert not is_own_child(url, "other-token-0123456789abcdef", proc.pid, "nonce")


def test_pointers_one_per_port_and_a_clear_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  isolated_home: Path) -> None:
    from agent.client import running_sandbox_profile, running_sandboxes, sandbox_pointer_path
    from agent.errors import UserFacingError

    profiles = []
    for port in (8801, 8802):
        profile = tmp_path / f"p{port}" / "config.toml"
        profile.parent.mkdir()
        profile.write_text("")
        profiles.append(profile)
        path = sandbox_pointer_path(port)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pid": os.getpid(), "port": port, "config": str(profile),
                                    "api_url": f"http://127.0.0.1:{port}"}))
    assert sandbox_pointer_path(8801) != sandbox_pointer_path(8802)
    assert [s["port"] for s in running_sandboxes()] == [8801, 8802]
    with pytest.raises(UserFacingError) as several:
        running_sandbox_profile()
    assert several.value.message.startswith("Plusieurs bacs à sable sont en marche : précisez lequel avec --config")
    assert f"port 8801 : --config {profiles[0]}" in several.value.message
    assert f"port 8802 : --config {profiles[1]}" in several.value.message
    # A pointer whose supervisor is gone does not count.
    stale = json.loads(sandbox_pointer_path(8802).read_text())
    sandbox_pointer_path(8802).write_text(json.dumps({**stale, "pid": 2**22 + 12345}))
    assert running_sandbox_profile() == profiles[0]


def test_two_sandboxes_side_by_side_each_with_its_pointer(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first_port, second_port = free_port(), free_port()
    first = _start_sandbox(home, "--port", str(first_port))
    second = None
    try:
        first_profile = _profile(read_banner(first, timeout=60))
        second = _start_sandbox(home, "--port", str(second_port))
        second_profile = _profile(read_banner(second, timeout=60))
        state = home / "state" / "vigie"
        assert sorted(p.name for p in state.glob("sandbox*.json")) == sorted(
            [f"sandbox-{first_port}.json", f"sandbox-{second_port}.json"])
        env = subprocess_env(home)
        out = subprocess.run([PYTHON, "-m", "agent.cli", "plugins"], env=env, capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 1
        assert "Plusieurs bacs à sable sont en marche" in out.stderr
        assert str(first_profile) in out.stderr and str(second_profile) in out.stderr
        out = subprocess.run([PYTHON, "-m", "agent.cli", "plugins", "--config", str(second_profile)], env=env,
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and f"agent en marche (http://127.0.0.1:{second_port})" in out.stdout
        _stop(second)
        assert not (state / f"sandbox-{second_port}.json").exists()  # the first one's pointer is still there
        out = subprocess.run([PYTHON, "-m", "agent.cli", "plugins"], env=env, capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0 and f"agent en marche (http://127.0.0.1:{first_port})" in out.stdout
    finally:
        if second is not None:
            _stop(second)
        _stop(first)
