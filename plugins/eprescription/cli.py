"""`vigie prescription render FICHIER.json -o sortie.pdf`: produce an ordonnance from a script.

By default the running agent does it (`prescription.create`): the téléservice is asked, the QR code is
printed only on OK, the ordonnance is kept and shared like one made from the LGC. `--local` renders
here without any agent nor téléservice: always without 2D code (a draft, nothing is shared).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from agent.client import client_for
from agent.errors import UserFacingError
from plugins.eprescription.printing import KEPT_ADVICE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FICHIER.json", help="l'ordonnance (format de prescription.create)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="SORTIE.pdf", help="le PDF à écrire")
    parser.add_argument("--print", action="store_true", help="imprimer aussi (imprimante par défaut ou --printer)")
    parser.add_argument("--printer", default=None, metavar="IMPRIMANTE", help="nom de l'imprimante")
    parser.add_argument("--local", action="store_true",
                        help="rendre ici, sans agent ni téléservice (brouillon sans code 2D, non partagé)")


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserFacingError(f"{path} : lecture impossible ({exc.strerror}).") from None
    except json.JSONDecodeError as exc:
        raise UserFacingError(f"{path} : JSON invalide (ligne {exc.lineno}, colonne {exc.colno}).") from None


def _invalid(exc: UserFacingError) -> int:
    """Per-field errors once, with French field names (the summary sentence repeats the first ones)."""
    errors = (exc.data or {}).get("errors") or []
    if not errors:
        raise exc
    print("Ordonnance incomplète ou invalide :", file=sys.stderr)
    for error in errors:
        print(f"  {error.get('label') or error['field']} : {error['message']}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    raw = _read(args.file)
    if args.local:
        from plugins.eprescription.render import render_pdf
        from plugins.eprescription.validation import parse_prescription

        try:
            prescription = parse_prescription(raw)
        except UserFacingError as exc:
            return _invalid(exc)
        args.output.write_bytes(render_pdf(prescription, None, draft=True))
        print(f"{args.output} : ordonnance rendue localement, sans code 2D (brouillon non enregistré).")
        return 0
    params: dict[str, Any] = {"prescription": raw}
    if args.print or args.printer:
        params.update({"print": True, "printer": args.printer})
    try:
        result = client_for(getattr(args, "config", None)).call("prescription.create", params)
    except UserFacingError as exc:
        return _invalid(exc)
    args.output.write_bytes(base64.b64decode(result["pdf"]))
    printed = result.get("print") or {}
    if result["code_present"]:
        # "QR code imprimé" only when it was: rendering alone prints nothing.
        what = "QR code imprimé" if printed.get("state") == "printed" else "avec QR code"
        print(f"{args.output} : ordonnance numérique {result['identifier']} ({what}).")
    else:
        print(f"{args.output} : ordonnance sans code 2D — {result['teleservice']['reason']}")
    if params.get("print") and printed.get("state") != "printed":
        # The PDF is already saved: the service's "exportez-la" advice is for an LGC, not here.
        reason = str(printed["message"]).removesuffix(f" {KEPT_ADVICE}")
        print(f"{reason} L'ordonnance est conservée ; le PDF est dans {args.output}.", file=sys.stderr)
        return 2
    if printed.get("state") == "printed":
        print(f"Imprimée (travail {printed['job']}).")
    return 0
