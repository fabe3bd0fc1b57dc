"""`vigie sandbox scan ...`: drive the running sandbox's scanner emulator (or type into the LGC's field)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from agent.client import client_for
from agent.config import load_config
from agent.errors import UserFacingError

AZERTY_DIGITS = str.maketrans("1234567890", "&é\"'(-è_çà")


def configure_sandbox_scan(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="scan_what", metavar="CODE", required=True)
    ins = sub.add_parser("ins", help="le Datamatrix INS d'une identité de test INSi (ex. ADRTROIS)")
    ins.add_argument("birth_name", metavar="NOM", help="nom de naissance d'une identité de test")
    ins.add_argument("--prenom", help="premier prénom, quand plusieurs identités ont ce nom")
    text = sub.add_parser("texte", help="un texte quelconque (code inconnu, code abîmé...)")
    text.add_argument("text", metavar="TEXTE")
    for p in (ins, text):
        p.add_argument("--via", choices=["serial", "hid", "lgc"], default="serial",
                       help="douchette série (pty), HID POS, ou clavier dans le LGC (scan.submit)")
        p.add_argument("--azerty", action="store_true", help="avec --via lgc : chiffres tapés en AZERTY (&é\"'(...)")
        p.add_argument("--sans-gs", action="store_true", help="avec --via lgc : séparateurs GS perdus")
        p.add_argument("--config", type=Path, metavar="FICHIER", default=argparse.SUPPRESS,
                       help="configuration de l'agent du bac à sable")


def _payload(args: argparse.Namespace) -> bytes:
    if args.scan_what == "texte":
        return str(args.text).encode("utf-8")
    from sandbox.scanner.identities import sandbox_payload

    try:
        return sandbox_payload(args.birth_name, args.prenom).encode()
    except LookupError as exc:
        raise UserFacingError(str(exc)) from exc


def _emulator_url(config_path: Path | None) -> str:
    from agent.client import running_sandbox_profile

    path = config_path or running_sandbox_profile()
    url = load_config(path).services.get("scanner") if path else None
    if not url:
        raise UserFacingError("Aucun bac à sable en marche : lancez d'abord « vigie run --sandbox » (make run).")
    return str(url)


def run_sandbox_scan(args: argparse.Namespace) -> int:
    from sandbox.scanner.emulator import EmulatorError, send_to_emulator

    data = _payload(args)
    if args.via == "lgc":
        typed = data.decode("utf-8").replace("\x1d", "" if args.sans_gs else "<GS>")
        if args.azerty:
            typed = typed.translate(AZERTY_DIGITS)
        answer: Any = client_for(getattr(args, "config", None)).call("scan.submit", {"data": typed})
        print(f"Code reconnu ({answer['kind']}) : {answer.get('identity_id') or answer.get('message') or 'transmis'}")
        return 0
    try:
        asyncio.run(send_to_emulator(_emulator_url(getattr(args, "config", None)), data=data, via=args.via))
    except EmulatorError as exc:
        raise UserFacingError(f"Émulateur de douchette : {exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise UserFacingError(f"Émulateur de douchette injoignable ({exc.strerror or type(exc).__name__}) : "
                              "relancez « vigie run --sandbox ».") from exc
    print(f"Code envoyé par la douchette simulée ({args.via}).")
    return 0
