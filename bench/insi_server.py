"""`python -m bench.insi_server LATENCY COUNT`: the INSi sandbox in its own process, for benchmarks.

Prints one JSON line (`plugin_settings`, `admin_url`) once listening, then serves until stdin closes,
so the agent under test never shares its event loop with the stand-in.
"""

from __future__ import annotations

import asyncio
import json
import sys

from sandbox.insi.identities import synthetic_identities
from sandbox.insi.server import start_insi_sandbox


async def serve(latency: float, count: int) -> None:
    sandbox = await start_insi_sandbox(latency=latency, extra_identities=synthetic_identities(count))
    print(json.dumps({"plugin_settings": sandbox.plugin_settings(), "admin_url": sandbox.admin_url,
                      "secrets": sandbox.secrets()}), flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    finally:
        await sandbox.stop()


if __name__ == "__main__":
    asyncio.run(serve(float(sys.argv[1]), int(sys.argv[2])))
