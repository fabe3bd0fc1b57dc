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


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FICHIER.json", help="l'ordonnance (format de prescription.create)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="SORTIE.pdf")
    parser.add_argument("--print", action="store_true", help="imprimer aussi (imprimante par défaut ou --printer)")
    parser.add_argument("--printer", default=None, help="nom de l'imprimante")
    parser.add_argument("--local", action="store_true",
                        help="rendre ici, sans agent ni téléservice (brouillon sans code 2D, non partagé)")


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserFacingError(f"{path} : lecture impossible ({exc.strerror}).") from None
    except json.JSONDecodeError as exc:
        raise UserFacingError(f"{path} : JSON invalide (ligne {exc.lineno}, colonne {exc.colno}).") from None


def _errors(exc: UserFacingError) -> None:
    for error in (exc.data or {}).get("errors", []):
        print(f"  {error['field']} : {error['message']}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    raw = _read(args.file)
    if args.local:
        from plugins.eprescription.render import render_pdf
        from plugins.eprescription.validation import parse_prescription

        try:
            prescription = parse_prescription(raw)
        except UserFacingError as exc:
            _errors(exc)
            raise
        args.output.write_bytes(render_pdf(prescription, None))
        print(f"{args.output} : ordonnance rendue localement, sans code 2D (brouillon non enregistré).")
        return 0
    params: dict[str, Any] = {"prescription": raw}
    if args.print or args.printer:
        params.update({"print": True, "printer": args.printer})
    try:
        result = client_for(getattr(args, "config", None)).call("prescription.create", params)
    except UserFacingError as exc:
        _errors(exc)
        raise
    args.output.write_bytes(base64.b64decode(result["pdf"]))
    if result["code_present"]:
        print(f"{args.output} : ordonnance numérique {result['identifier']} (QR code imprimé).")
    else:
        print(f"{args.output} : ordonnance sans code 2D — {result['teleservice']['reason']}")
    printed = result.get("print") or {}
    if params.get("print") and printed.get("state") != "printed":
        print(printed["message"], file=sys.stderr)
        return 2
    return 0
