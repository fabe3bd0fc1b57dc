"""The scanner capability: route every scan (wedge text, serial, HID POS, image) to the plugin that
recognises it, tell the others, and keep the hardware inputs running.

Routing is the `parse_scan` decision hook: the first plugin answering wins (INS Datamatrix here, the
e-prescription QR code in its own plugin). A recognised code fires `scan_received` and a
`scan.received` event; an unknown or damaged one is refused in French (`scan.rejected` for inputs with
nobody waiting on an answer). Device threads hand their scans over to the event loop; nothing here
blocks it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.errors import UserFacingError
from agent.logging import redact
from agent.panels import notify_user
from agent.rpc import INVALID_PARAMS
from plugins.scanner.settings import ScannerSettings

if TYPE_CHECKING:
    from agent.context import Decisions
    from agent.emitter import Emitter

log = logging.getLogger(__name__)

SCAN_UNRECOGNISED = -32030  # documented in docs/local-api.md
SCAN_REFUSED = -32031
UNRECOGNISED_FR = ("Code non reconnu : ce n'est ni un Datamatrix INS ni un code connu d'un module de Vigie. "
                   "Vérifiez que vous scannez le bon code.")


@dataclass(frozen=True)
class Routed:
    kind: str | None
    content: Mapping[str, Any] | None
    errors: list[dict[str, str]]


def route(decisions: Decisions, data: bytes) -> Routed:
    """Ask the plugins (`parse_scan`, first non-None wins, in pluggy's order) what `data` is. A plugin whose
    parser raises is logged and skipped (and marked degraded) instead of hiding the others' answers."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug("hook parse_scan(%s)", redact({"data": data}))  # as pluggy's tracing would, redacted
    answer = None
    for plugin, parse in decisions.implementations("parse_scan"):
        try:
            answer = parse(data=data)
        except Exception as exc:
            log.error("plugin %s failed in parse_scan: %s", plugin, type(exc).__name__)
            decisions.degrade(plugin, f"erreur dans parse_scan ({type(exc).__name__})")
            continue
        if answer is not None:
            break
    if answer is None:
        return Routed(None, None, [{"field": "code", "message": UNRECOGNISED_FR}])
    kind = str(answer.get("kind"))
    if answer.get("errors"):
        return Routed(kind, None, [dict(e) for e in answer["errors"]])
    return Routed(kind, answer.get("content") or {}, [])


# Where whoever scanned reads the answer itself (the LGC's call, the popup's field); other sources are
# hardware scanners, whose result is said as a notice.
ANSWERED_SOURCES = ("lgc", "popup")


class ScanService:
    def __init__(self, *, decisions: Decisions, emitter: Emitter, settings: ScannerSettings) -> None:
        self.decisions = decisions
        self.emitter = emitter
        self.settings = settings
        self.inputs: list[Any] = []  # started readers (SerialScanner, HidPosReader)
        self.devices: dict[str, str] = {}  # name -> state, for agent.info and the tray
        self.counts = {"received": 0, "rejected": 0}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- scans ---------------------------------------------------------------------------------
    async def submit(self, data: bytes, source: str) -> dict[str, Any]:
        """Route one scan; the answer for the caller, or UserFacingError (also published as `scan.rejected`)."""
        routed = route(self.decisions, data)
        if routed.content is None:
            self.counts["rejected"] += 1
            message = "; ".join(e["message"] for e in routed.errors)
            if routed.kind is not None:
                message = f"Code refusé ({routed.kind}) : {message}"
            log.info("scan refused from %s (kind %s, %d errors)", source, routed.kind, len(routed.errors))
            self.emitter.publish("scan.rejected", {"source": source, "kind": routed.kind,
                                                        "errors": routed.errors, "message": message})
            if source not in ANSWERED_SOURCES:  # a hardware scanner: nobody reads the answer, say it
                await notify_user(self.emitter, f"Code scanné refusé : {message}",
                                  level="warning", topic="scan.rejected")
            raise UserFacingError(message, code=SCAN_UNRECOGNISED if routed.kind is None else SCAN_REFUSED,
                                  data={"kind": routed.kind, "errors": routed.errors})
        self.counts["received"] += 1
        log.info("scan recognised from %s: %s", source, routed.kind)
        # The hooks first, then `scan.received` for the LGC (with the identity a plugin made of it, if any).
        results = await self.emitter.emit("scan_received", kind=routed.kind, content=routed.content, source=source)
        answer: dict[str, Any] = {"kind": routed.kind, "source": source, "content": dict(routed.content),
                                  "handled": bool(results)}
        for result in results:
            if isinstance(result, Mapping):
                answer.update({k: v for k, v in result.items() if k in ("identity_id", "status", "message")})
        if not results:  # e.g. the INS plugin is disabled or not started (INSi not configured)
            answer["message"] = ("Code lu, mais aucun module ne l'a pris en charge pour l'instant (module désactivé "
                                 "ou pas prêt) : rien n'a été vérifié.")
        if source not in ANSWERED_SOURCES and answer.get("message"):
            await notify_user(self.emitter, str(answer["message"]), level="info", topic="scan.received")
        return answer

    async def scan_bytes(self, data: bytes) -> dict[str, Any]:
        """Decode an image/PDF in a worker thread, then route each code found like a scan (source `image`)."""
        from plugins.scanner import imaging

        try:
            found = await asyncio.to_thread(imaging.decode_bytes, data, timeout=self.settings.image_timeout)
        except imaging.ImageError as exc:
            raise UserFacingError(str(exc), code=INVALID_PARAMS) from exc
        return await self._route_decoded(found)

    async def scan_file(self, path: str) -> dict[str, Any]:
        from plugins.scanner import imaging

        try:
            found = await asyncio.to_thread(imaging.decode_path, path, timeout=self.settings.image_timeout)
        except imaging.ImageError as exc:
            raise UserFacingError(str(exc), code=INVALID_PARAMS) from exc
        return await self._route_decoded(found)

    async def _route_decoded(self, found: list[Any]) -> dict[str, Any]:
        from plugins.scanner.imaging import describe

        if not found:
            raise UserFacingError("Aucun code 2D trouvé dans l'image : scannez le document à 300 dpi au moins, "
                                  "bien à plat.", code=SCAN_UNRECOGNISED)
        codes: list[dict[str, Any]] = []
        for decoded in found:
            try:
                codes.append({**describe(decoded), **await self.submit(decoded.data, "image")})
            except UserFacingError as exc:
                codes.append({**describe(decoded), "error": exc.message, **(exc.data or {})})
        return {"codes": codes}

    def submit_from_thread(self, source: str) -> Callable[[bytes], None]:
        """A callback for device threads: hands each scan to the event loop, never waits for it."""
        loop = self._loop or asyncio.get_running_loop()

        def on_scan(data: bytes) -> None:
            loop.call_soon_threadsafe(self._spawn, data, source)

        return on_scan

    def _spawn(self, data: bytes, source: str) -> None:
        task = asyncio.create_task(self._submit_quietly(data, source))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit_quietly(self, data: bytes, source: str) -> None:
        try:
            await self.submit(data, source)
        except UserFacingError:
            pass  # already published as scan.rejected: the tray/popup shows it
        except Exception:  # a bug must not kill the device's hand-over; it is logged (no scan content)
            log.exception("scan from %s could not be handled", source)

    async def drain(self) -> None:
        """Wait for the scans handed over by device threads (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- inputs ----------------------------------------------------------------------------------
    async def start(self) -> None:
        from plugins.scanner import inputs

        self._loop = asyncio.get_running_loop()
        self.inputs = await asyncio.to_thread(inputs.open_inputs, self.settings, self.submit_from_thread,
                                              self._device_state)

    def _device_state(self, name: str, state: str, reason: str | None) -> None:
        self.devices[name] = state if reason is None else f"{state} ({reason})"

    async def close(self) -> None:
        inputs, self.inputs = self.inputs, []
        for reader in inputs:
            await asyncio.to_thread(reader.stop)
        await self.drain()

    def status(self) -> dict[str, Any]:
        devices = dict(self.devices)
        # `state` is what the tray's "Lecteurs et services" shows (it printed "?" without it).
        if devices:
            connected = sum(1 for state in devices.values() if state == "connecté")
            state = f"douchettes connectées : {connected} sur {len(devices)}"
        else:
            state = "en marche (douchettes en mode clavier)"
        return {"state": state, "devices": devices, **self.counts}
