"""`vigie ins batch FICHIER.csv`: the start-of-day batch from a CSV export of the day's appointments.

Columns (header row, `;` or `,`): local_id (optional), birth_name, first_names, sex, birth_date
(AAAA-MM-JJ), birth_place (optional). The running agent does the work (`identity.batch`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agent.client import client_for
from plugins.ins.daylist import parse_day_csv


def configure_batch(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ins_command", metavar="ACTION", required=True)
    batch = sub.add_parser("batch", help="interroger INSi pour les patients du jour (fichier CSV)")
    batch.add_argument("file", type=Path, metavar="FICHIER.csv")
    # Also accepted after the action (`vigie ins batch F.csv --config C`); SUPPRESS keeps the parent's value.
    batch.add_argument("--config", type=Path, metavar="FICHIER", default=argparse.SUPPRESS,
                       help="fichier de configuration TOML de l'agent à joindre")


def read_patients(path: Path) -> list[dict[str, Any]]:
    return parse_day_csv(path.read_text(encoding="utf-8-sig"), str(path))


def run_batch(args: argparse.Namespace) -> int:
    patients = read_patients(args.file)
    result = client_for(args.config).call("identity.batch", {"patients": patients})
    print(f"Lot {result['batch_id']} : {result['total']} patient(s), {result['queued']} interrogation(s) INSi "
          f"en arrière-plan, {result['skipped']} déjà qualifié(s) ou refusé(s).")
    for problem in result.get("rejected", []):
        print(f"  ligne {problem['position'] + 2} : {problem['message']}", file=sys.stderr)
    return 0
