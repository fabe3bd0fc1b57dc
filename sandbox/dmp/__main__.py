"""`python -m sandbox.dmp`: run the DMP stand-in alone; prints one JSON line with its URL and
`[plugins.dmp]` settings and the secrets for the agent's keyring (the throwaway passphrase), then serves until Ctrl-C.

    python -m sandbox.dmp --latency 0.3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from sandbox.dmp.server import start_dmp_sandbox
from sandbox.signals import stop_on_signals


async def _run(args: argparse.Namespace) -> int:
    sandbox = await start_dmp_sandbox(port=args.port, latency=args.latency)
    try:
        print(json.dumps({"url": sandbox.url, "settings": sandbox.plugin_settings(), "secrets": sandbox.secrets()}),
              flush=True)
        await stop_on_signals().wait()
    finally:
        await sandbox.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.dmp", description="Local stand-in of the DMP")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
