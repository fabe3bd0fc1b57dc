"""Card readers as agent hooks: the PC/SC monitor's events become `reader_*`, `card_*` hooks and
websocket events; a Vitale card is confirmed and read; a CPS/CPE sets who is acting and its signer.

Blocking card work runs in one worker thread per reader (`ReaderWorkers`); events of one reader are
handled in order (an insertion is fully handled before its removal), readers in parallel.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.acting import ActingUser, ActingUsers
from agent.context import Decisions, StatusPort
from agent.emitter import Emitter
from agent.errors import PluginNotReady
from agent.panels import notify_user
from agent.prompts import PinRequest
from hardware import atr as atr_table
from hardware.errors import CardError, NotAvailable
from hardware.pcsc import monitor as mon
from hardware.pcsc.workers import ReaderWorkers
from hardware.pkcs11.modules import find_module
from hardware.process_env import PCSC_SOCKET, PROCESS_ENV, SOFTHSM_CONF, SettingFrozen
from hardware.vitale.reader import ApduVitaleReader, VitaleReader, confirm_vitale
from hardware.vitale.sesam import SesamVitaleReader
from plugins.cards import notices
from plugins.cards.settings import CardSettings

if TYPE_CHECKING:
    from hardware.pkcs11.token import Pkcs11Token

log = logging.getLogger(__name__)

class CardService:
    """The cards coordinator: the only writer of the card user and its signer (`acting.set_card_user`)."""

    def __init__(self, settings: CardSettings, *, emitter: Emitter, decisions: Decisions, acting: ActingUsers,
                 status: StatusPort) -> None:
        self.settings = settings
        self.emitter = emitter
        self.decisions = decisions
        self.acting = acting
        self.plugin_status = status
        self.workers = ReaderWorkers()
        self.kinds: dict[str, str] = {}  # reader -> kind of the card in it
        self.readers: list[str] = []
        self.service_reason: str | None = None
        self._middleware: dict[str, Any] = {}  # _probe_middleware(): Vitale library and CPS module status
        self.tokens: dict[str, Pkcs11Token] = {}  # reader -> CPS/CPE token
        self.vitale: VitaleReader = (ApduVitaleReader() if settings.vitale_reader == "apdu"
                                     else SesamVitaleReader(settings.sesam_library))
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._queue: asyncio.Queue[mon.MonitorEvent] = asyncio.Queue()
        self._monitor: mon.PcscMonitor | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.inserted_at: dict[str, float] = {}  # reader -> monitor time of the insertion (benchmarks)
        self._pin_requests: dict[str, list[PinRequest]] = {}  # reader -> PIN prompts awaiting an answer
        self._stopped = False
        self._notices: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self._probe_middleware)
        # libpcsclite and SoftHSM2 read these once per process: refused (not silently ignored) when an
        # earlier configuration in this process already fixed another value.
        try:
            if self.settings.pcsc_socket:
                PROCESS_ENV.require(PCSC_SOCKET, self.settings.pcsc_socket)
            if self.settings.softhsm2_conf:
                PROCESS_ENV.require(SOFTHSM_CONF, self.settings.softhsm2_conf)
        except SettingFrozen as exc:
            raise PluginNotReady(exc.message_fr, retry_after=3600) from None
        self._loop = asyncio.get_running_loop()
        loop, queue = self._loop, self._queue

        def emit(event: mon.MonitorEvent) -> None:  # monitor thread -> event loop
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # loop closed: the agent is gone, and with it whoever cared
                pass

        self._monitor = mon.PcscMonitor(emit)
        self._consumer = asyncio.create_task(self._consume())
        self._monitor.start()

    async def stop(self) -> None:
        self._stopped = True
        # A signature waiting for a PIN ends now (PinError) instead of holding its token's lock, and its
        # worker thread, until the prompt times out: the tokens can then be closed at once.
        self._cancel_pin_prompts()
        if self._consumer is not None:
            self._consumer.cancel()
        for task in self._chains.values():
            task.cancel()
        tokens, self.tokens = list(self.tokens.values()), {}
        try:
            if tokens:  # PKCS#11 logout and C_CloseSession talk to the card: not on the event loop
                await asyncio.to_thread(_close_tokens, tokens)
            if self._monitor is not None:
                await asyncio.to_thread(self._monitor.stop)
        finally:  # even when the host's shutdown timeout cancels this stop
            self.workers.close()

    # -- events from the monitor thread -----------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._dispatch(event)
            except Exception:
                log.exception("card event %s failed", event.kind)

    async def _dispatch(self, e: mon.MonitorEvent) -> None:
        if e.kind == mon.SERVICE:
            available = bool(e.available)
            self.service_reason = None if available else e.reason
            if available:
                self.plugin_status.ok()
            else:
                self.plugin_status.degraded(e.reason or "service PC/SC indisponible")
            await self.emitter.emit("card_service_changed", available=available, reason=e.reason)
        elif e.kind == mon.READER_ADDED and e.reader:
            # In order too: a reader back (pcscd restarted) while its removal still waits behind a card
            # being read must be reported added after that removal, not before it.
            self._in_order(e.reader, self._reader_added, e.reader)
        elif e.kind == mon.READER_REMOVED and e.reader:
            self._in_order(e.reader, self._reader_removed, e.reader)
        elif e.kind == mon.CARD_INSERTED and e.reader:
            self.inserted_at[e.reader] = e.at
            self._in_order(e.reader, self._card_inserted, e.reader, e.atr or "")
        elif e.kind == mon.CARD_REMOVED and e.reader:
            self._in_order(e.reader, self._card_removed, e.reader)

    def _in_order(self, reader: str, work: Callable[..., Awaitable[None]], *args: str) -> None:
        previous = self._chains.get(reader)

        async def chained() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await work(*args)
            except Exception:
                log.exception("card handling failed on a reader")

        self._chains[reader] = asyncio.create_task(chained())

    async def _reader_added(self, reader: str) -> None:
        if reader not in self.readers:
            self.readers.append(reader)
        await self.emitter.emit("reader_added", reader=reader)

    async def _reader_removed(self, reader: str) -> None:
        if reader in self.readers:
            self.readers.remove(reader)
        self.workers.drop(reader)
        await self.emitter.emit("reader_removed", reader=reader)

    # -- cards ---------------------------------------------------------------------------------------
    def classify(self, atr: str) -> str:
        kind: str | None = self.decisions.decide("classify_card", atr=atr)
        return kind or atr_table.UNKNOWN

    async def _card_inserted(self, reader: str, atr: str) -> None:
        await asyncio.to_thread(self._probe_middleware)
        kind = self.classify(atr)
        if kind == atr_table.VITALE:
            try:  # the ATR is a hint: a Vitale card answers the selection of its application
                confirmed = await self.workers.run(reader, confirm_vitale, reader)
            except CardError as exc:  # pulled out at once, or mute: reported, and known as unknown
                self._read_failed(reader, exc)
                confirmed = False
            if not confirmed:
                kind = atr_table.UNKNOWN
        self.kinds[reader] = kind
        await self.emitter.emit("card_inserted", reader=reader, atr=atr, kind=kind)
        if kind == atr_table.UNKNOWN:
            await notify_user(self.emitter, notices.unknown_card(reader), level="warning", topic="card.unknown")
        if kind == atr_table.VITALE:
            await self._read_vitale(reader)
        elif kind == atr_table.CPS:
            await self._open_cps(reader)

    async def _card_removed(self, reader: str) -> None:
        self._cancel_pin_prompts(reader)  # the card asking for it left: its PIN cannot be used any more
        kind = self.kinds.pop(reader, atr_table.UNKNOWN)
        token = self.tokens.pop(reader, None)
        if token is not None:
            await self.workers.run(reader, token.close)
            user = self.acting.current
            if user.from_card and user.reader == reader:
                await self.acting.set_card_user(None)
        await self.emitter.emit("card_removed", reader=reader, kind=kind)

    def _spawn_notice(self, text: str, level: str, topic: str) -> None:
        task = asyncio.ensure_future(notify_user(self.emitter, text, level=level, topic=topic))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    def _read_failed(self, reader: str, exc: CardError) -> None:
        # The detail may name the card's state, never its content: safe for the log.
        log.warning("card read failed on %s: %s (%s)", reader, exc.message_fr, exc.detail)
        self.emitter.publish("card.read_failed", {"reader": reader, "message": exc.message_fr})
        # A wrong PIN, a mute card: said to the person at the desk too, without taking the keyboard.
        self._spawn_notice(notices.read_failed(reader, exc.message_fr), "warning", "card.read_failed")

    async def _read_vitale(self, reader: str) -> None:
        try:
            card = await self.workers.run(reader, self.vitale.read, reader)
        except NotAvailable as exc:
            self._read_failed(reader, exc)
            return
        except CardError as exc:
            self._read_failed(reader, exc)
            return
        await self.emitter.emit("vitale_card_read", reader=reader, card=card)

    # -- CPS / CPE -------------------------------------------------------------------------------
    async def _open_cps(self, reader: str) -> None:
        module = await asyncio.to_thread(find_module, self.settings.pkcs11_module)  # file-system probe
        if module is None:
            self._read_failed(reader, CardError(
                "Carte CPS détectée, mais le module de la carte (Cryptolib CPS) n'est pas installé."))
            return
        label = {"value": "carte CPS"}
        # python-pkcs11 and cryptography load only when a CPS shows up, and not on the event loop.
        token_module = await asyncio.to_thread(importlib.import_module, "hardware.pkcs11.token")
        token: Pkcs11Token = token_module.Pkcs11Token(
                            Path(module), ask_pin=lambda tries: self._ask_pin_blocking(reader, label["value"], tries),
                            token_label=self.settings.pkcs11_token_label, reader=reader,
                            auth_key_id=self.settings.auth_key_id, kind_policies=self.settings.kind_policies)
        try:
            holder = await self.workers.run(reader, token.open)
        except CardError as exc:
            self._read_failed(reader, exc)
            return
        label["value"] = {"cps": f"CPS de {holder.name}", "cpe_nominative": f"CPE de {holder.name}"}.get(
            holder.kind, "CPE")
        self.tokens[reader] = token
        user = ActingUser(kind=holder.kind, name=holder.name, national_id=holder.national_id,
                          profession=holder.profession, reader=reader)
        loop = asyncio.get_running_loop()

        def pin_failed(message: str) -> None:  # on the signing thread: hand it to the loop
            loop.call_soon_threadsafe(self._spawn_notice, notices.pin_failed(reader, message), "warning",
                                      "card.pin_failed")

        await self.acting.set_card_user(user, signer=notices.NoticingSigner(token, pin_failed))
        await notify_user(self.emitter, notices.professional_card(holder.kind, holder.name),
                          level="ok", topic=f"card.{holder.kind}")

    def _ask_pin_blocking(self, reader: str, card_label: str, tries: int | None) -> str | None:
        """Called from a worker thread by the token: ask on the loop, wait for the answer here."""
        assert self._loop is not None
        if self._stopped or self._loop.is_closed():
            return None  # the agent is stopping: nobody is left to answer (the token says "annulée")
        future = asyncio.run_coroutine_threadsafe(self.ask_pin(reader, card_label, tries), self._loop)
        try:
            return future.result(self.settings.pin_timeout + 5)
        except TimeoutError:  # the loop did not answer in time: give up rather than wait on
            future.cancel()
            return None

    async def ask_pin(self, reader: str, card_label: str, tries: int | None) -> str | None:
        if self._stopped:
            return None
        if not self.decisions.implemented("pin_requested"):
            log.warning("PIN needed but no user interface answers pin_requested")
            return None
        request = PinRequest(reader=reader, card_label=card_label, tries_left=tries)
        pending = self._pin_requests.setdefault(reader, [])
        pending.append(request)
        try:
            await self.emitter.emit("pin_requested", request=request)
            return await request.wait(self.settings.pin_timeout)
        finally:
            pending.remove(request)

    def _cancel_pin_prompts(self, reader: str | None = None) -> None:
        """Answer "cancelled" to the pending PIN prompts of `reader` (all readers when None)."""
        for r, requests in self._pin_requests.items():
            if reader is None or r == reader:
                for request in list(requests):
                    request.cancel()

    # -- status ------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        # agent.info calls this on every request: no file-system probing here (see _probe_middleware).
        readers = [{"name": r, "card": self.kinds.get(r)} for r in self.readers]
        pcsc = {"state": "ok" if self.service_reason is None else "indisponible", "reason": self.service_reason}
        return {"readers": readers, "services": {"pcsc": pcsc, **self._middleware}}

    def _probe_middleware(self) -> None:
        """Where the card middleware is (Vitale reading library, CPS PKCS#11 module): looked up at start and
        again at each card insertion, which is when an installation done meanwhile starts to matter."""
        if isinstance(self.vitale, SesamVitaleReader):
            ok, detail = self.vitale.available()
            vitale = {"state": "ok" if ok else "non disponible", "backend": "sesam", "detail": detail}
        else:
            vitale = {"state": "ok", "backend": "apdu", "detail": "bloc d'identité public (développement)"}
        module = find_module(self.settings.pkcs11_module)
        pkcs11 = {"state": "ok" if module else "non disponible", "module": str(module) if module else None}
        self._middleware = {"vitale_reader": vitale, "cps_pkcs11": pkcs11}


def _close_tokens(tokens: list[Pkcs11Token]) -> None:
    for token in tokens:
        try:
            token.close()
        except Exception as exc:  # one token failing to close must not keep the others logged in
            log.warning("CPS token close failed: %s", type(exc).__name__)
