"""`vigie scan FICHIER`: decode the 2D codes of an image or PDF (`vigie sandbox scan` is the sandbox's).

`vigie scan` decodes locally and reads each code with the installed plugins' `parse_scan`; with
`--envoyer` the codes go to the running agent (`scan.submit`) as if scanned, which starts the INSi check.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from agent.client import client_for
from agent.config import load_config
from agent.errors import UserFacingError


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
