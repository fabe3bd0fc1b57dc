"""The e-prescription téléservice sandbox: JSON over HTTP(S) on 127.0.0.1, answers OK, KO or nothing.

    POST /prescriptions        register one prescription (body: see plugins/eprescription/teleservice.py)
    GET  /admin/state          mode, latency, counters and issued identifiers (no patient data)
    POST /admin/mode           {"mode": "ok" | "ko" | "timeout", "latency": seconds} (the "config")

The mode applies to every request until changed (the demo sets it through `sandbox.eprescription_mode`,
sandbox/eprescription/plugin.py: the product client sends nothing sandbox-specific). OK returns a fresh
identifier (`EP-` + 16 Crockford base-32 characters, the same for the same `request_id`); KO a 422 with
a code and a French message; timeout holds the request without answering (until `hold` seconds or the
server stops), so the client's own timeout is what ends it. Malformed bodies get a 400 KO. Patient
data in the bodies is never logged nor kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from sandbox.supervisor import SandboxService

log = logging.getLogger(__name__)

MODES = ("ok", "ko", "timeout")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_PREFIX = "EP-"
ID_LENGTH = 16


def new_identifier() -> str:
    return ID_PREFIX + "".join(secrets.choice(CROCKFORD) for _ in range(ID_LENGTH))


@dataclass
class SandboxState:
    mode: str = "ok"
    latency: float = 0.0
    hold: float = 60.0  # how long a "timeout" request is held before the server gives up on it
    issued: dict[str, str] = field(default_factory=dict)  # request_id -> identifier
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*MODES, "invalid"), 0))


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "corps JSON attendu"
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not 8 <= len(request_id) <= 128:
        return "request_id manquant"
    prescriber = body.get("prescriber")
    if not isinstance(prescriber, dict) or not str(prescriber.get("rpps", "")).isdigit():
        return "prescripteur (RPPS) manquant"
    if not isinstance(body.get("patient"), dict):
        return "patient manquant"
    items = body.get("items")
    if not isinstance(items, list) or not items:
        return "aucune ligne de prescription"
    return None


class EprescriptionSandbox:
    def __init__(self, state: SandboxState, ssl_context: ssl.SSLContext | None = None,
                 ca_file: Path | None = None, owned_dir: Path | None = None) -> None:
        self.state = state
        self.ssl_context = ssl_context
        self.ca_file = ca_file  # what a client trusts for HTTPS
        self._owned_dir = owned_dir
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/prescriptions", self._register)
        app.router.add_get("/admin/state", self._get_state)
        app.router.add_post("/admin/mode", self._set_mode)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=self.ssl_context)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        scheme = "https" if self.ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{bound}"

    async def stop(self) -> None:
        self._stopping.set()  # releases held "timeout" requests
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def plugin_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {"url": self.url}
        if self.ca_file is not None:
            settings["ca_files"] = [str(self.ca_file)]
        return settings

    def as_service(self) -> SandboxService:
        from sandbox.supervisor import SandboxService

        own = {"admin_url": f"{self.url}/admin", **({"ca_file": str(self.ca_file)} if self.ca_file else {})}
        return SandboxService(name="eprescription", endpoints={"eprescription": self.url}, stop=self.stop,
                              plugin_settings={"eprescription": self.plugin_settings(), "sandbox-eprescription": own})

    async def _register(self, request: web.Request) -> web.Response:
        mode = self.state.mode
        try:
            body = await request.json()
        except ValueError:
            body = None
        problem = _invalid(body)
        if problem is not None:
            self.state.counts["invalid"] += 1
            return web.json_response({"code": "EP-400", "message": f"requête invalide : {problem}"}, status=400)
        if self.state.latency:
            await asyncio.sleep(self.state.latency)
        self.state.counts[mode] += 1
        if mode == "timeout":
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.state.hold):
                    await self._stopping.wait()
            return web.json_response({"code": "EP-504", "message": "délai dépassé"}, status=504)
        if mode == "ko":
            return web.json_response({"code": "EP-REJ-01", "message": "prescription refusée par le téléservice "
                                      "(bac à sable)"}, status=422)
        request_id = body["request_id"]
        identifier = self.state.issued.setdefault(request_id, new_identifier())
        return web.json_response({"identifier": identifier, "qr_payload": identifier}, status=201)

    async def _get_state(self, request: web.Request) -> web.Response:
        s = self.state
        return web.json_response({"mode": s.mode, "latency": s.latency, "counts": s.counts,
                                  "identifiers": sorted(s.issued.values())})

    async def _set_mode(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("mode", self.state.mode) not in MODES:
            return web.json_response({"error": f"mode attendu parmi {', '.join(MODES)}"}, status=400)
        latency = body.get("latency", self.state.latency)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or not 0 <= latency <= 60:
            return web.json_response({"error": "latency : nombre de secondes entre 0 et 60"}, status=400)
        self.state.mode = body.get("mode", self.state.mode)
        self.state.latency = float(latency)
        return await self._get_state(request)


async def start_eprescription_sandbox(*, mode: str = "ok", latency: float = 0.0, hold: float = 60.0, port: int = 0,
                                      tls: bool = False) -> EprescriptionSandbox:
    """Start the sandbox on 127.0.0.1:`port` (0: a free one) answering `mode` after `latency` seconds.

    `tls`: HTTPS with a throwaway self-signed certificate (deleted on stop); `ca_file` is what to trust.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    context, ca_file, owned = None, None, None
    if tls:
        from sandbox.eprescription.tls import self_signed

        owned = Path(tempfile.mkdtemp(prefix="vigie-ep-sandbox-"))
        context, ca_file = await asyncio.to_thread(self_signed, owned)
    sandbox = EprescriptionSandbox(SandboxState(mode=mode, latency=latency, hold=hold), context, ca_file, owned)
    try:
        await sandbox.start(port)
    except BaseException:
        await sandbox.stop()
        raise
    return sandbox
