from __future__ import annotations

import json
import logging
import logging.handlers
import os
import stat
from pathlib import Path

import pytest

from agent.logging import redact, redact_text, setup_logging

NIRS = ["1 84 12 75 123 456 78", "184127512345678", "2850175123456", "1 84 12 2A 123 456 78", "184122B12345678"]


@pytest.mark.parametrize("nir", NIRS)
def test_logging_nir_shapes_are_masked(nir: str) -> None:
    assert nir not in redact_text(f"patient {nir} vu")
    assert "***" in redact_text(f"patient {nir} vu")


@pytest.mark.parametrize("text", ["job 42 done in 12.5 ms", "port 8743", "ts 1700000000.123", "id 12345678901234"])
def test_logging_ordinary_numbers_kept(text: str) -> None:
    assert redact_text(text) == text


def test_logging_personal_fields_masked_in_structures() -> None:
    data = {"traits": {"birth_name": "DUPONT"}, "birth_date": "1984-12-01", "first_names": ["Jean"],
            "status": "RECUP", "list": [{"used_name": "MARTIN", "n": 3}]}
    out = redact(data)
    text = json.dumps(out)
    for secret in ("DUPONT", "1984-12-01", "Jean", "MARTIN"):
        assert secret not in text
    assert out["status"] == "RECUP" and out["list"][0]["n"] == 3


def test_logging_file_line_with_nir_comes_out_masked(tmp_path: Path) -> None:
    path = setup_logging("DEBUG", tmp_path, console=False)
    assert path is not None
    log = logging.getLogger("vigie.test")
    log.info("INSi answered for %s", "1 84 12 75 123 456 78", extra={"birth_name": "DUPONT", "attempt": 2})
    try:
        raise ValueError("bad NIR 184127512345678")
    except ValueError:
        log.exception("failure")
    for h in logging.getLogger().handlers:
        h.flush()
    content = path.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in content.splitlines()]
    assert "123 456" not in content and "184127512345678" not in content and "DUPONT" not in content
    assert lines[0]["msg"] == "INSi answered for ***"
    assert lines[0]["birth_name"] == "***" and lines[0]["attempt"] == 2
    assert "ValueError" in lines[1]["exc"]
    setup_logging("WARNING", None, console=False)  # detach the file handler


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_logging_folder_0700_and_files_0600_on_creation(tmp_path: Path) -> None:
    """Issue 18 item 8: the log folder was 0755 and vigie.log 0644 (identifiers, origins, timings go there)."""
    old = os.umask(0o022)
    try:
        log_dir = tmp_path / "state" / "log"
        path = setup_logging("INFO", log_dir, console=False)
        assert path is not None
        logging.getLogger("vigie.test").warning("one line")
        assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        (handler,) = [h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.RotatingFileHandler)]
        handler.doRollover()  # the new vigie.log is created by the handler again, not by the umask
        logging.getLogger("vigie.test").warning("after rollover")
        for file in log_dir.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        setup_logging("WARNING", None, console=False)
        path.chmod(0o644)  # a file left by an older version
        log_dir.chmod(0o755)
        setup_logging("INFO", log_dir, console=False)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    finally:
        os.umask(old)
        setup_logging("WARNING", None, console=False)
