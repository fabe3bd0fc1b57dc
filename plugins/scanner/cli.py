"""`vigie scan FICHIER` (decode an image or PDF) and `vigie sandbox scan ...` (drive the scanner emulator).

`vigie scan` decodes locally and reads each code with the installed plugins' `parse_scan`; with
`--envoyer` the codes go to the running agent (`scan.submit`) as if scanned, which starts the INSi check.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any

from agent.client import client_for, sandbox_pointer_path
from agent.config import load_config
from agent.errors import UserFacingError

AZERTY_DIGITS = str.maketrans("1234567890", "&é\"'(-è_çà")


def configure_scan(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FICHIER", help="image PNG/JPEG ou PDF (courrier scanné)")
    parser.add_argument("--envoyer", action="store_true",
                        help="transmettre les codes trouvés à l'agent en marche (comme une douchette)")


def run_scan(args: argparse.Namespace) -> int:
    from agent.context import Decisions
    from agent.plugins import PluginHost
    from plugins.scanner import imaging
    from plugins.scanner.service import route

    try:
        found = imaging.decode_path(args.file)
    except imaging.ImageError as exc:
        raise UserFacingError(str(exc)) from exc
    if not found:
        print("Aucun code 2D trouvé (scannez à 300 dpi au moins, document bien à plat).", file=sys.stderr)
        return 1
    host = PluginHost()
    host.load(load_config(args.config).disabled_plugins)
    status = 0
    for decoded in found:
        routed = route(Decisions(host), decoded.data)
        where = f"page {decoded.page}, {decoded.format}, {decoded.decoder}"
        if routed.content is None:
            status = 1
            print(f"[{where}] refusé : " + "; ".join(e["message"] for e in routed.errors))
            continue
        print(f"[{where}] {routed.kind}")
        for key, value in routed.content.items():
            print(f"  {key:<12} {value}")
        if args.envoyer:
            answer = client_for(args.config).call("scan.submit", {"data_base64": base64.b64encode(decoded.data)
                                                                  .decode()})
            print(f"  → transmis à l'agent : {answer.get('identity_id') or answer.get('message') or 'ok'}")
    return status


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
    path = config_path
    if path is None and sandbox_pointer_path().exists():
        path = Path(json.loads(sandbox_pointer_path().read_text())["config"])
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
        answer: Any = client_for(args.config).call("scan.submit", {"data": typed})
        print(f"Code reconnu ({answer['kind']}) : {answer.get('identity_id') or answer.get('message') or 'transmis'}")
        return 0
    try:
        asyncio.run(send_to_emulator(_emulator_url(args.config), data=data, via=args.via))
    except EmulatorError as exc:
        raise UserFacingError(f"Émulateur de douchette : {exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise UserFacingError(f"Émulateur de douchette injoignable ({exc.strerror or type(exc).__name__}) : "
                              "relancez « vigie run --sandbox ».") from exc
    print(f"Code envoyé par la douchette simulée ({args.via}).")
    return 0
