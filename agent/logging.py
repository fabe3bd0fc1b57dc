"""Logging with redaction: patient data never reaches a log line.

Two layers: (1) any NIR/INS-shaped number anywhere in a rendered line is masked; (2) values of fields
declared personal (names, birth dates, ...) are masked wherever they appear in structured data
(`extra=`, hook-call arguments, dataclasses). Handlers carry the `RedactingFilter`, so third-party
loggers are covered too. Files are JSON lines in the user log directory, rotated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import logging.handlers
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MASK = "***"

# NIR / NIA / INS matricule: sex digit, year, month (01-12, 20-42 or 50-99 for special cases),
# department (digits, 2A or 2B), commune, order, optional 2-digit key; spaces or dots allowed.
_SEP = r" ?"
NIR_PATTERN = re.compile(
    rf"(?<![0-9A-Za-z])[1-478]{_SEP}\d{{2}}{_SEP}\d{{2}}{_SEP}(?:\d{{2}}|2[AaBb]){_SEP}\d{{3}}{_SEP}\d{{3}}"
    rf"(?:{_SEP}\d{{2}})?(?![0-9])"
)
# Birth-date-looking values in free text are too ambiguous to mask globally (timestamps); dates are
# masked through personal field names instead.

PERSONAL_FIELDS: set[str] = {
    "birth_name", "used_name", "first_names", "first_name", "used_first_name", "birth_date",
    "birth_place", "nir", "ins", "matricule", "nom", "prenom", "prenoms", "date_naissance",
    "name_of_patient", "patient_name", "traits", "returned_traits", "address", "phone", "email",
    # Vitale card fields (hardware/ports.py), traced with the `vitale_card_read` hook whatever plugin listens.
    "usual_name", "insured_nir", "insured_nir_key", "nir_key",
}


def declare_personal_fields(names: Iterable[str]) -> None:
    """Plugins declare their own personal field names (called at import or registration time)."""
    PERSONAL_FIELDS.update(names)


def redact_text(text: str) -> str:
    return NIR_PATTERN.sub(MASK, text)


def redact(value: Any, _depth: int = 0) -> Any:
    """Return a copy of `value` safe to log: personal fields masked, NIR-shaped text masked."""
    if _depth > 8:
        return "…"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, int | float | bool) or value is None:
        return redact_text(str(value)) if isinstance(value, int) and abs(value) > 10**11 else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {
            k: (MASK if str(k).lower() in PERSONAL_FIELDS else redact(v, _depth + 1)) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, _depth + 1) for v in value]
    return redact_text(repr(value))


_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Renders the message once, masked, and masks personal `extra=` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        for key in set(vars(record)) - _STANDARD_ATTRS:
            val = getattr(record, key)
            setattr(record, key, MASK if key.lower() in PERSONAL_FIELDS else redact(val))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
            + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in set(vars(record)) - _STANDARD_ATTRS:
            data[key] = getattr(record, key)
        if record.exc_text:
            data["exc"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are created 0600 whatever the umask (each rollover creates one)."""

    def _open(self):  # type: ignore[no-untyped-def]  # typeshed: -> TextIOWrapper
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with contextlib.suppress(OSError):
            os.chmod(self.baseFilename, 0o600)  # an existing file may come from a looser umask
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def _private_dir(path: Path) -> None:
    """The log folder, readable by the user only (like the store's): identifiers, origins and timings."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if os.name != "posix" or path.stat().st_uid == os.getuid():
            os.chmod(path, 0o700)


def setup_logging(level: str, log_dir: Path | None, *, console: bool) -> Path | None:
    """Configure the root logger; returns the log file path (None when file logging is off)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_vigie", False):
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    path: Path | None = None
    handlers: list[logging.Handler] = []
    if log_dir is not None:
        _private_dir(log_dir)
        path = log_dir / "vigie.log"
        fh = PrivateRotatingFileHandler(path, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8")
        fh.setFormatter(JsonFormatter())
        handlers.append(fh)
    if console:
        ch = logging.StreamHandler(sys.stderr)
        ch.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        handlers.append(ch)
    for h in handlers:
        h.addFilter(RedactingFilter())
        h._vigie = True  # type: ignore[attr-defined]
        root.addHandler(h)
    # aiohttp's access log would record query strings and origins for every call; not useful here.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return path
