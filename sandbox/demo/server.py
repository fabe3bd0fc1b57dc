"""The demo LGC page: a stand-in for a browser-based practice software, served on loopback.

A patient list ("open the record" sends `identity.submit`), Vigie's `<vigie-qualification>` panel for
the opened record, and a log of the card and identity events. It pairs with the agent through the real
pairing flow and loads `vigie.js` and the web component from the agent itself, as a real LGC would.
Each section of the page has its own small script (static/*.js) so features are added side by side.
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

    api = f"http://127.0.0.1:{api_port}"
    page = (STATIC / "index.html").read_text(encoding="utf-8").replace("__VIGIE_API__", api)

    async def index(_request: web.Request) -> web.StreamResponse:
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-cache"})

    async def config_js(_request: web.Request) -> web.Response:
        body = (f"window.VIGIE_API_URL = {json.dumps(api)};\n"
                f"window.VIGIE_WS_URL = {json.dumps(f'ws://127.0.0.1:{api_port}/ws')};\n")
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
