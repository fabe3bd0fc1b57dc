"""`python -m sandbox.eprescription [--mode ok|ko|timeout] [--latency S] [--port P] [--tls]`: run it alone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from sandbox.eprescription.server import MODES, start_eprescription_sandbox
from sandbox.signals import stop_on_signals


async def _run(args: argparse.Namespace) -> int:
    sandbox = await start_eprescription_sandbox(mode=args.mode, latency=args.latency, port=args.port, tls=args.tls)
    ca = f"ca_files = [\"{sandbox.ca_file}\"]\n" if sandbox.ca_file else ""
    print(f"Téléservice e-prescription (bac à sable) : {sandbox.url}  mode={args.mode}\n"
          f"[plugins.eprescription]\nurl = \"{sandbox.url}\"\n{ca}Ctrl-C pour arrêter.", flush=True)
    stop = stop_on_signals()
    try:
        await stop.wait()
    finally:
        await sandbox.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.eprescription",
                                     description="Local stand-in of the e-prescription téléservice")
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true", help="HTTPS with a throwaway self-signed certificate")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
