"""`vigie sandbox card insert vitale ADRTROIS` / `insert cps` / `insert unknown` / `remove`.

The running sandbox agent holds the virtual cards (a card stays in only while its socket is open), so
these commands call its `sandbox.card_insert` / `sandbox.card_remove` methods.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.client import client_for
from sandbox.cards.bench import KINDS


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="card_action", metavar="ACTION", required=True)
    insert = sub.add_parser("insert", help="insérer une carte de test")
    insert.add_argument("kind", choices=KINDS, help="vitale, cps, unknown (ATR invalide), vanishing")
    insert.add_argument("name", nargs="?", default=None, help="carte Vitale de test (ADRTROIS, ADRUN, LUNAIRE)")
    insert.add_argument("--slot", type=int, choices=(0, 1), default=None, help="lecteur virtuel (0 ou 1)")
    remove = sub.add_parser("remove", help="retirer la carte de test")
    remove.add_argument("--slot", type=int, choices=(0, 1), default=None, help="lecteur virtuel (défaut : tous)")
    for p in (insert, remove):
        p.add_argument("--config", type=Path, metavar="FICHIER", default=argparse.SUPPRESS,
                       help="fichier de configuration TOML de l'agent à joindre")


def run(args: argparse.Namespace) -> int:
    client = client_for(getattr(args, "config", None))
    if args.card_action == "insert":
        result = client.call("sandbox.card_insert", {"kind": args.kind, "name": args.name, "slot": args.slot})
        print(f"Carte {args.kind} insérée dans le lecteur virtuel {result['slot']}.")
    else:
        result = client.call("sandbox.card_remove", {"slot": args.slot})
        print("Carte(s) retirée(s)." if result["removed"] else "Aucune carte à retirer.")
    return 0
