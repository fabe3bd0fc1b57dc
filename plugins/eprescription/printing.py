"""Printing adapters: CUPS `lp` on Linux and macOS, the Windows shell "print" verb elsewhere.

A failure raises `PrintFailed` with a French message; the caller keeps the document either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


# What the user is told after any print failure (the service adds it; the CLI, which saved the PDF, does not).
KEPT_ADVICE = "L'ordonnance est conservée : réessayez ou exportez-la."

# `lp`'s own messages (CUPS, English or French locale) said in French with what to do; the raw text
# goes to the log only. Checked in order, case-insensitively.
_LP_ERRORS: tuple[tuple[str, str], ...] = (
    (r"no default destination|aucune destination par d[ée]faut",
     "aucune imprimante par défaut n'est définie sur ce poste ; choisissez une imprimante ou définissez-en une "
     "par défaut dans les réglages d'impression"),
    (r"does not exist|n'existe pas|unknown printer|destination inconnue",
     "elle n'existe pas sur ce poste ; vérifiez son nom dans les réglages d'impression"),
    (r"not accepting|n'accepte pas",
     "elle refuse les travaux (arrêtée ou en pause) ; relancez-la dans les réglages d'impression"),
    (r"unable to connect|connection refused|scheduler is not running|impossible de se connecter",
     "le service d'impression (CUPS) ne répond pas ; redémarrez le poste ou prévenez votre support"),
    (r"forbidden|not authorized|unauthorized|interdit|autoris",
     "l'impression est refusée à cet utilisateur ; prévenez votre support"),
)


def lp_reason(stderr: str) -> str:
    """A French reason for an `lp` failure, never `lp`'s own words (they may be English, and are jargon)."""
    for pattern, reason in _LP_ERRORS:
        if re.search(pattern, stderr, re.IGNORECASE):
            return reason
    return "le service d'impression a refusé le travail ; le détail est dans le journal de Vigie"


class PrintFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Printer(Protocol):
    async def print_pdf(self, pdf: bytes, *, printer: str | None, title: str) -> str:
        """Send `pdf` to `printer` (None: the default one); return the spooler's job id."""
        ...


class CupsPrinter:
    """`lp` (CUPS client): the job is spooled when `lp` returns, so the temporary file can go."""

    def __init__(self, command: str = "lp", timeout: float = 30.0) -> None:
        self.command = command
        self.timeout = timeout

    async def print_pdf(self, pdf: bytes, *, printer: str | None, title: str) -> str:
        lp = shutil.which(self.command)
        if lp is None:
            raise PrintFailed("Impression impossible : la commande « lp » (CUPS) est introuvable sur ce poste.")
        try:
            name = await asyncio.to_thread(_spool_file, pdf)  # file I/O off the event loop
        except OSError as exc:
            raise PrintFailed(f"Impression impossible : le fichier à imprimer n'a pas pu être écrit "
                              f"({exc.strerror}).") from None
        try:
            args = [lp, *(["-d", printer] if printer else []), "-t", title, "--", name]
            proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            try:
                async with asyncio.timeout(self.timeout):
                    out, err = await proc.communicate()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                raise PrintFailed(f"Impression impossible : le spouleur n'a pas répondu en {self.timeout:g} s.") \
                    from None
            if proc.returncode != 0:
                detail = err.decode("utf-8", "replace").strip()
                log.warning("lp failed (exit %s): %s", proc.returncode, detail[-300:])
                where = f"l'imprimante « {printer} »" if printer else "l'imprimante par défaut"
                raise PrintFailed(f"Impression impossible sur {where} : {lp_reason(detail)}.")
            text = out.decode("utf-8", "replace")
            match = re.search(r"(?:request id is|id de requête :?|requête)\s+(\S+)", text)
            return match.group(1) if match else text.strip()[:100]
        finally:
            await asyncio.to_thread(_remove, name)


def _spool_file(pdf: bytes) -> str:
    """A private (0600) temporary copy of the PDF for `lp`."""
    fd, name = tempfile.mkstemp(prefix="vigie-ordonnance-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pdf)
    except BaseException:
        _remove(name)
        raise
    return name


def _remove(name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name)


class WindowsShellPrinter:
    """ShellExecute "print"/"printto": the PDF reader registered for .pdf prints it (no job id)."""

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir

    async def print_pdf(self, pdf: bytes, *, printer: str | None, title: str) -> str:
        # The reader opens the file after ShellExecute returns: the file must outlive this call.
        path = self.spool_dir / f"{re.sub(r'[^A-Za-z0-9_-]', '_', title)[:60]}.pdf"

        def run() -> None:  # file I/O and ShellExecute, all off the event loop
            import ctypes

            try:
                self.spool_dir.mkdir(parents=True, exist_ok=True)
                path.write_bytes(pdf)
            except OSError as exc:
                raise PrintFailed(f"Impression impossible : le fichier à imprimer n'a pas pu être écrit "
                                  f"({exc.strerror}).") from None

            verb, params = ("printto", f'"{printer}"') if printer else ("print", None)
            code = ctypes.windll.shell32.ShellExecuteW(None, verb, str(path), params, None, 0)  # type: ignore[attr-defined]
            if code <= 32:
                raise PrintFailed(f"Impression impossible : aucun lecteur PDF n'accepte l'impression (code {code}).")

        await asyncio.to_thread(run)
        return path.name


def system_printer(spool_dir: Path, timeout: float) -> Printer:
    if sys.platform == "win32":
        return WindowsShellPrinter(spool_dir)
    return CupsPrinter(timeout=timeout)
