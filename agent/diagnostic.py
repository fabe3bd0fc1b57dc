"""A diagnostic archive the practitioner can send to support: agent.info, the configuration without
secrets, and the log files, all passed through the log redactor once more (no patient data, no token)."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any

from agent.config import Config, config_to_dict
from agent.logging import redact, redact_text

SECRET_WORDS = ("token", "pass", "secret", "key", "pin")


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if any(w in str(k).lower() for w in SECRET_WORDS) else _strip_secrets(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secrets(v) for v in value]
    return value


def write_diagnostic(config: Config, info: dict[str, Any], target_dir: Path) -> Path:
    """Write `vigie-diagnostic-<time>.zip` in `target_dir` (blocking: run it in a thread)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / time.strftime("vigie-diagnostic-%Y%m%d-%H%M%S.zip")
    # Private from its creation (not chmod-ed once written: other users could open it meanwhile).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as file, zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("agent-info.json", json.dumps(redact(info), indent=2, ensure_ascii=False))
        archive.writestr("config.json", json.dumps(redact(_strip_secrets(config_to_dict(config))), indent=2,
                                                   ensure_ascii=False, default=str))
        log_dir = Path(config.log.dir)
        for log in sorted(log_dir.glob("vigie.log*")) if log_dir.is_dir() else []:
            text = log.read_text(encoding="utf-8", errors="replace")
            archive.writestr(f"logs/{log.name}", "\n".join(redact_text(line) for line in text.splitlines()))
    path.chmod(0o600)
    return path
