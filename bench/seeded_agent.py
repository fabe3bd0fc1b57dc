"""`python -m bench.seeded_agent SECRETS_FILE vigie-args...`: `vigie` with secrets put in its keyring first.

The agent under benchmark reads its INSi passphrase from the keyring as in a practice; the benchmark's
keyring is the in-memory one (bench.agentproc), so the secrets (name -> value JSON, read once and
deleted) are set in this process before `agent.cli.main` runs. Unlike `sandbox.child`, no sandbox plugin
is installed: the agent measured is the product's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agent.cli import main as vigie_main
from agent.secrets import SecretStore


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    try:
        secrets: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    finally:
        path.unlink()
    store = SecretStore()
    for name, value in secrets.items():
        store.set(name, value)
    return vigie_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
