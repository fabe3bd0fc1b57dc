"""Our own event-driven PC/SC monitor (pyscard's CardMonitor dies silently when pcscd restarts).

One thread blocks in `SCardGetStatusChange(INFINITE)` on every reader plus the `\\\\?PnP?\\Notification`
pseudo-reader (reader hotplug), so an idle monitor uses no CPU and sees an insertion as soon as pcscd
does. When the service goes away (pcscd restarted, Windows stopping SCardSvr on the last unplug) the
context is released, cards and readers are reported gone, "service lost" is reported, and a new
context is tried with a short backoff; "service restored" follows, then the readers and cards
present then (hardware.md B2). Events reach the caller through `emit`, called from this thread: the
caller hands them to its event loop (`loop.call_soon_threadsafe`). `stop()` wakes the thread with
`SCardCancel`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from smartcard import scard

from hardware.process_env import PCSC_SOCKET, PROCESS_ENV

log = logging.getLogger(__name__)

PNP_READER = "\\\\?PnP?\\Notification"
BACKOFF_START, BACKOFF_MAX = 0.05, 0.5  # seconds between attempts while the service is lost
SERVICE_GONE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_E_INVALID_HANDLE,
                0x80100013}  # F_COMM_ERROR: the daemon's socket closed under us
READERS_CHANGED = {scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE}

SERVICE, READER_ADDED, READER_REMOVED, CARD_INSERTED, CARD_REMOVED = (
    "service", "reader_added", "reader_removed", "card_inserted", "card_removed")


@dataclass(frozen=True)
class MonitorEvent:
    kind: str
    reader: str | None = None
    atr: str | None = None  # uppercase hex, no spaces
    available: bool | None = None  # for SERVICE
    reason: str | None = None  # French, for SERVICE
    at: float = field(default_factory=time.perf_counter)


class ServiceLost(Exception):
    pass


def _hex(code: int) -> str:
    return f"0x{code & 0xFFFFFFFF:08X}"


class PcscMonitor:
    def __init__(self, emit: Callable[[MonitorEvent], None]) -> None:
        self._emit = emit
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._context: int | None = None
        self._lock = threading.Lock()
        self.readers: dict[str, int] = {}  # reader -> last known state (event counter in the high word)
        self.cards: dict[str, str] = {}  # reader -> ATR of the card in it
        self.available: bool | None = None
        self.loops = 0  # GetStatusChange returns, for the idle-CPU benchmark and tests

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pcsc-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        thread, deadline = self._thread, time.monotonic() + timeout
        # SCardCancel only wakes a call in progress: repeat it in case the thread was about to block.
        while thread is not None and thread.is_alive() and time.monotonic() < deadline:
            with self._lock:
                if self._context is not None:
                    scard.SCardCancel(self._context)
            thread.join(0.05)
        if thread is not None and thread.is_alive():  # daemon: it cannot hold the process, but say so
            log.warning("PC/SC monitor thread still running %.1f s after stop", timeout)
        self._thread = None

    # -- the monitoring thread ------------------------------------------------------------------
    def _run(self) -> None:
        backoff = BACKOFF_START
        while not self._stopping.is_set():
            PROCESS_ENV.library_reads(PCSC_SOCKET)
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                self._set_available(False, f"service PC/SC indisponible ({_hex(hresult)})")
                self._stopping.wait(backoff)
                backoff = min(BACKOFF_MAX, backoff * 2)
                continue
            with self._lock:
                self._context = context
            try:
                self._watch(context)
            except ServiceLost as exc:
                self._lose_everything()
                self._set_available(False, f"service PC/SC perdu ({exc})")
                backoff = BACKOFF_START
            except Exception:  # never let the monitor die silently: log, forget, start again
                log.exception("PC/SC monitor error; re-establishing the context")
                self._lose_everything()
                self._stopping.wait(BACKOFF_MAX)
            finally:
                with self._lock:
                    self._context = None
                scard.SCardReleaseContext(context)
        self._lose_everything()

    def _set_available(self, available: bool, reason: str | None) -> None:
        if self.available == available:
            return
        first = self.available is None
        self.available = available
        if available and first:
            return  # nothing to report at start when all is well
        if not available:
            log.warning("PC/SC: %s", reason)
        else:
            log.info("PC/SC service restored")
        self._emit(MonitorEvent(SERVICE, available=available, reason=reason))

    def _lose_everything(self) -> None:
        for reader in list(self.readers):
            self._drop_reader(reader)

    def _drop_reader(self, reader: str) -> None:
        if self.cards.pop(reader, None) is not None:
            self._emit(MonitorEvent(CARD_REMOVED, reader=reader))
        self.readers.pop(reader, None)
        self._emit(MonitorEvent(READER_REMOVED, reader=reader))

    def _refresh_readers(self, context: int) -> None:
        hresult, names = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            names = []
        elif hresult in SERVICE_GONE:
            raise ServiceLost(_hex(hresult))
        elif hresult != scard.SCARD_S_SUCCESS:
            raise ServiceLost(f"liste des lecteurs : {_hex(hresult)}")
        for reader in [r for r in self.readers if r not in names]:
            self._drop_reader(reader)
        for reader in names:
            if reader not in self.readers:
                self.readers[reader] = scard.SCARD_STATE_UNAWARE
                self._emit(MonitorEvent(READER_ADDED, reader=reader))

    def _watch(self, context: int) -> None:
        self._refresh_readers(context)
        self._set_available(True, None)
        pnp_state = scard.SCARD_STATE_UNAWARE
        refresh = False
        while not self._stopping.is_set():
            if refresh:
                self._refresh_readers(context)
                refresh = False
            states = [(r, s) for r, s in self.readers.items()] + [(PNP_READER, pnp_state)]
            hresult, changes = scard.SCardGetStatusChange(context, scard.INFINITE, states)
            self.loops += 1
            if hresult in (scard.SCARD_E_CANCELLED, scard.SCARD_E_TIMEOUT):
                continue
            if hresult in SERVICE_GONE:
                raise ServiceLost(_hex(hresult))
            if hresult in READERS_CHANGED:
                refresh = True
                continue
            if hresult != scard.SCARD_S_SUCCESS:
                raise ServiceLost(f"attente d'événement : {_hex(hresult)}")
            for reader, event, atr in changes:
                if reader == PNP_READER:
                    if event & scard.SCARD_STATE_CHANGED:
                        refresh = True
                    pnp_state = event & ~scard.SCARD_STATE_CHANGED
                elif reader in self.readers:
                    if event & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                        refresh = True
                    self._card_transition(reader, event, atr)
                    self.readers[reader] = event & ~scard.SCARD_STATE_CHANGED

    def _card_transition(self, reader: str, event: int, atr: list[int]) -> None:
        previous = self.readers[reader]
        present = bool(event & scard.SCARD_STATE_PRESENT)
        was_present = reader in self.cards
        # The high word counts card events: a change with the card still present means it was
        # removed and inserted again between two calls.
        swapped = was_present and present and (event >> 16) != (previous >> 16)
        if was_present and (not present or swapped):
            del self.cards[reader]
            self._emit(MonitorEvent(CARD_REMOVED, reader=reader))
        if present and reader not in self.cards:
            self.cards[reader] = bytes(atr).hex().upper()
            self._emit(MonitorEvent(CARD_INSERTED, reader=reader, atr=self.cards[reader]))
