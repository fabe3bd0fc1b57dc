"""The demo LGC page: a stand-in for a browser-based practice software, served on loopback.

It pairs with the agent through the real pairing flow, shows `agent.info` and logs every event, so a
newcomer sees the local API at work. (The qualification panel joins it with the popup issue.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from sandbox.supervisor import SandboxService

STATIC = Path(__file__).parent / "static"


async def start_demo_page(api_port: int, host: str = "127.0.0.1") -> SandboxService:
    from sandbox.supervisor import SandboxService

    async def index(_request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def config_js(_request: web.Request) -> web.Response:
        body = f"window.VIGIE_WS_URL = {json.dumps(f'ws://127.0.0.1:{api_port}/ws')};\n"
        return web.Response(text=body, content_type="application/javascript")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/config.js", config_js)
    app.router.add_static("/static/", STATIC)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    origin = f"http://{host}:{port}"
    return SandboxService(name="demo", endpoints={"demo": f"{origin}/"}, stop=runner.cleanup, origins=[origin])
