from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import tomli_w

from agent import __version__
from agent.cli import main
from tests.conftest import PYTHON, free_port, subprocess_env


def write_config(tmp_path: Path, **extra: object) -> Path:
    data: dict[str, object] = {
        "api": {"port": free_port(), "tokens": ["cli-token-0123456789abcdef"]},
        "store": {"path": str(tmp_path / "s" / "v.db")},
        "log": {"dir": str(tmp_path / "logs")},
    }
    data.update(extra)
    path = tmp_path / "config.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def test_cli_version(capsys: pytest.CaptureFixture[str], isolated_home: Path) -> None:
    assert main(["version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_cli_help_is_french_and_lists_commands(isolated_home: Path) -> None:
    out = subprocess.run([PYTHON, "-m", "agent.cli", "--help"], capture_output=True, text=True,
                         env=subprocess_env(isolated_home), check=True).stdout
    for word in ("run", "doctor", "version", "plugins", "démarrer l'agent"):
        assert word in out


def test_cli_doctor_healthy_installation(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         isolated_home: Path) -> None:
    assert main(["doctor", "--config", str(write_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "Base locale" in out and "WAL, 0600" in out
    assert "Port de l'API locale" in out and "libre" in out
    assert "Trousseau" in out and "MemoryKeyring" in out
    assert "Service PC/SC" in out


def test_cli_doctor_fails_on_unreachable_service_and_busy_port(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                isolated_home: Path) -> None:
    dead_port = free_port()  # nothing listens there any more
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = write_config(tmp_path, services={"insi": f"https://127.0.0.1:{dead_port}/insi"},
                              api={"port": busy.getsockname()[1]})
        assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "Service insi" in out and "injoignable" in out
    assert "occupé" in out


def test_cli_doctor_reports_bad_config_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           isolated_home: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[api]\nport = \"huit\"\n")
    assert main(["doctor", "--config", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "Configuration" in out and "api.port" in out


def test_cli_run_with_bad_config_explains_in_both_languages(tmp_path: Path, isolated_home: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[api]\nallowed_origins = \"http://x\"\n")
    proc = subprocess.run([PYTHON, "-m", "agent.cli", "run", "--config", str(bad)], capture_output=True, text=True,
                          env=subprocess_env(isolated_home), timeout=30)
    assert proc.returncode == 2
    assert "Configuration invalide" in proc.stderr and "Invalid configuration" in proc.stderr
    assert "api.allowed_origins" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_plugins_without_running_agent(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           isolated_home: Path) -> None:
    assert main(["plugins", "--config", str(write_config(tmp_path))]) == 0
    assert "agent arrêté" in capsys.readouterr().out


def _commands(*names: str) -> dict[str, object]:
    from agent.cli import _clashes

    taken: dict[str, object] = {}
    for name in names:
        if _clashes(name, taken):
            raise ValueError(name)
        taken[name] = ("aide", lambda p: None, lambda a: 0)
    return taken


def test_cli_group_commands_dispatch_to_their_plugin(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    import agent.cli
    from agent.cli import build_parser

    seen: list[str] = []
    commands = {
        "sandbox card": ("carte", lambda p: p.add_argument("action"), lambda a: seen.append("card:" + a.action) or 0),
        "sandbox scan": ("scan", lambda p: p.add_argument("kind"), lambda a: seen.append("scan:" + a.kind) or 0),
    }
    args = build_parser(commands).parse_args(["sandbox", "card", "insert"])
    assert (args.command, args.sandbox_command, args.action) == ("sandbox", "card", "insert")
    args = build_parser(commands).parse_args(["sandbox", "scan", "ins"])
    assert args.kind == "ins"
    monkeypatch.setattr(agent.cli, "_collect_plugin_commands", lambda host: commands)
    assert main(["sandbox", "scan", "ins"]) == 0 and main(["sandbox", "card", "remove"]) == 0
    assert seen == ["scan:ins", "card:remove"]


def test_cli_group_commands_refuse_clashes() -> None:
    _commands("sandbox card", "sandbox scan", "ins")
    for clash in (["sandbox card", "sandbox card"], ["run x"], ["a b c"], ["sandbox", "sandbox card"],
                  ["sandbox card", "sandbox"]):
        with pytest.raises(ValueError):
            _commands(*clash)
