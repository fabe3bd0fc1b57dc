"""`python -m sandbox.insi`: run the INSi sandbox alone, print its URL, files and `[plugins.ins]` settings.

    python -m sandbox.insi --latency 0.2 --faults '[{"match": {"birth_name": "FAUTE"}, "fault": "siram_40"}]'

Ctrl-C stops it (and deletes the PKI unless `--dir` was given).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import tomli_w

from sandbox.insi.server import start_insi_sandbox
from sandbox.signals import stop_on_signals


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.insi", description="Local stand-in of the INSi service")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the test PKI (kept on exit)")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults", default="[]", help="fault rules as JSON (see sandbox/insi/config.py)")
    parser.add_argument("--settings", default="{}", help="other settings as a JSON object (config.py keys)")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> int:
    try:
        faults = json.loads(args.faults)
        options: dict[str, Any] = json.loads(args.settings)
    except json.JSONDecodeError as exc:
        print(f"invalid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        sandbox = await start_insi_sandbox(latency=args.latency, jitter=args.jitter, seed=args.seed, faults=faults,
                                           directory=args.dir, port=args.port, **options)
    except ValueError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
        return 2
    stop = stop_on_signals()
    pki = sandbox.pki
    print(
        "INSi sandbox (test data, throwaway PKI)\n"
        f"  SOAP endpoint   : {sandbox.url}\n"
        f"  admin           : {sandbox.admin_url}/stats, /config (GET/POST), /reset (POST)\n"
        f"  accepted IDAM   : {sandbox.idam}\n"
        f"  CA to trust     : {pki.root_ca} {pki.org_ca}\n"
        f"  client PKCS#12  : {pki.client_p12} (passphrase {pki.client_passphrase})\n"
        f"  wrong-CN client : {pki.wrong_client_p12} (passphrase {pki.wrong_client_passphrase})\n"
        f"  CPS CA / PS     : {pki.cps_ca} / {pki.ps_cert} + {pki.ps_key}\n"
        "\n" + tomli_w.dumps({"plugins": {"ins": sandbox.plugin_settings()}}) + "\nCtrl-C to stop.",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await sandbox.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
