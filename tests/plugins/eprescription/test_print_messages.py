"""Issue 19 item 6: what a print failure tells the user, from a real `lp` against a private CUPS scheduler."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugins.eprescription.printing import CupsPrinter, PrintFailed, lp_reason
from tests.plugins.eprescription import cupsd

PDF = b"%PDF-1.4\n%%EOF\n"
needs_cupsd = pytest.mark.skipif(shutil.which("cupsd") is None and not Path("/usr/sbin/cupsd").exists()
                                 or shutil.which("lp") is None, reason="cupsd/lp not installed (.ci/run installs them)")


@needs_cupsd
async def test_no_default_printer_and_unknown_printer_are_said_in_french(monkeypatch: pytest.MonkeyPatch) -> None:
    with cupsd.private_cupsd() as cups:  # a scheduler with no printer at all: no default destination
        monkeypatch.setenv("CUPS_SERVER", str(cups.socket))
        printer = CupsPrinter(timeout=20)
        with pytest.raises(PrintFailed) as default:
            await printer.print_pdf(PDF, printer=None, title="Ordonnance test")
        assert default.value.message == (
            "Impression impossible sur l'imprimante par défaut : aucune imprimante par défaut n'est définie sur ce "
            "poste ; choisissez une imprimante ou définissez-en une par défaut dans les réglages d'impression.")
        with pytest.raises(PrintFailed) as unknown:
            await printer.print_pdf(PDF, printer="Inexistante", title="Ordonnance test")
        assert unknown.value.message == (
            "Impression impossible sur l'imprimante « Inexistante » : elle n'existe pas sur ce poste ; vérifiez son "
            "nom dans les réglages d'impression.")
    for failure in (default.value.message, unknown.value.message):  # lp's own words stay in the log
        assert "lp" not in failure.split() and "Error" not in failure and "does not exist" not in failure


@pytest.mark.parametrize(("stderr", "expected"), [
    ("lp: Error - No default destination.", "aucune imprimante par défaut"),
    ("lp: Erreur - aucune destination par défaut.", "aucune imprimante par défaut"),
    ("lp: The printer or class does not exist.", "elle n'existe pas"),
    ("lp: Destination \"X\" is not accepting jobs.", "elle refuse les travaux"),
    ("lp: Unable to connect to server: Connection refused", "le service d'impression (CUPS) ne répond pas"),
    ("lp: something nobody foresaw", "le détail est dans le journal de Vigie"),
])
def test_lp_reason_never_repeats_lp(stderr: str, expected: str) -> None:
    reason = lp_reason(stderr)
    assert expected in reason
    assert "lp:" not in reason and stderr not in reason
