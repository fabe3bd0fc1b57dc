"""Card test kit: this test process's private pcscd (vpcd slots), virtual cards, a SoftHSM2 CPS token.

Import the fixtures in a conftest (`from tests.cardkit import *`-style explicit imports). The pcscd is
one per test process (xdist worker), started on first use; tests that kill it get it restarted.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.pcsc.monitor import MonitorEvent
from hardware.process_env import PCSC_SOCKET, PROCESS_ENV
from sandbox.cards.pcscd import READERS, PrivatePcscd, private_pcscd_supported
from sandbox.cards.softhsm import SoftToken, create_cps_token, softhsm_missing
from sandbox.cards.vpcd import Personality, VirtualCard
from sandbox.insi.pki import SandboxPki, generate_sandbox_pki

# Distinctive, so a test can assert it appears in no log.
TEST_PIN = "58204719"


def cards_root() -> Path:
    # tests/conftest.py: <root>/pcscd/run/pcscd.comm
    return Path(os.environ["PCSCLITE_CSOCK_NAME"]).parent.parent.parent


@pytest.fixture(scope="session")
def private_pcscd() -> Iterator[PrivatePcscd]:
    reason = private_pcscd_supported()
    if reason is not None:
        pytest.skip(reason)
    daemon = PrivatePcscd(cards_root() / "pcscd")
    assert str(daemon.socket_path) == os.environ["PCSCLITE_CSOCK_NAME"]
    daemon.start()
    yield daemon
    daemon.stop()


def readers_empty(timeout: float = 5.0) -> None:
    """Wait until pcscd sees no card in either slot (a previous test's card may still be noticed)."""
    from smartcard import scard

    PROCESS_ENV.library_reads(PCSC_SOCKET)  # libpcsclite reads it at this first connection (conftest set it)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult == scard.SCARD_S_SUCCESS:
            try:
                hresult, states = scard.SCardGetStatusChange(
                    context, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in READERS])
                if hresult == scard.SCARD_S_SUCCESS and not any(s & scard.SCARD_STATE_PRESENT for _, s, _ in states):
                    return
            finally:
                scard.SCardReleaseContext(context)
        time.sleep(0.05)
    raise AssertionError("a card stayed in a virtual reader")


class Slots:
    """Plug virtual cards into the two vpcd slots; everything is pulled out at teardown."""

    def __init__(self, daemon: PrivatePcscd) -> None:
        self.daemon = daemon
        self.cards: list[VirtualCard] = []

    def insert(self, personality: Personality, slot: int = 0) -> VirtualCard:
        card = VirtualCard(personality, self.daemon.port + slot)
        card.insert()
        self.cards.append(card)
        return card

    def close(self) -> None:
        for card in self.cards:
            card.remove()


@pytest.fixture
def pcscd(private_pcscd: PrivatePcscd) -> Iterator[PrivatePcscd]:
    if not private_pcscd.running:
        private_pcscd.start()
    readers_empty()
    yield private_pcscd
    if not private_pcscd.running:  # a test killed it and failed before restarting it
        private_pcscd.start()


@pytest.fixture
def slots(pcscd: PrivatePcscd) -> Iterator[Slots]:
    s = Slots(pcscd)
    yield s
    s.close()


class EventLog:
    """Monitor events, collected from the monitor thread, awaited by the test thread."""

    def __init__(self) -> None:
        self.queue: queue.Queue[MonitorEvent] = queue.Queue()
        self.seen: list[MonitorEvent] = []

    def __call__(self, event: MonitorEvent) -> None:
        self.queue.put(event)

    def wait(self, kind: str, reader: str | None = None, timeout: float = 5.0,
             available: bool | None = None) -> MonitorEvent:
        deadline = time.monotonic() + timeout
        for event in self.seen:
            if self._match(event, kind, reader, available):
                self.seen.remove(event)
                return event
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind} event for {reader} within {timeout} s (seen: {self.seen})")
            try:
                event = self.queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if self._match(event, kind, reader, available):
                return event
            self.seen.append(event)

    @staticmethod
    def _match(e: MonitorEvent, kind: str, reader: str | None, available: bool | None) -> bool:
        return e.kind == kind and (reader is None or e.reader == reader) and (
            available is None or e.available == available)

    def drain(self) -> list[MonitorEvent]:
        while not self.queue.empty():
            self.seen.append(self.queue.get_nowait())
        return self.seen


@pytest.fixture(scope="session")
def insi_pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    """The INSi sandbox's PKI: its CPS CA signs the PS certificate the SoftHSM2 token holds."""
    return generate_sandbox_pki(tmp_path_factory.mktemp("ins-pki") / "pki")


@pytest.fixture(scope="session")
def cps_tokens(insi_pki: SandboxPki) -> tuple[SoftToken, SoftToken]:
    """The sandbox PS key and certificate in two SoftHSM2 tokens (PIN `TEST_PIN`) of this process's store:
    `CPS-TEST`, and `CPS-PARTIE` for tests that delete it. Both exist before the module is first loaded
    here: SoftHSM2 does not see tokens created by another process afterwards."""
    reason = softhsm_missing()
    if reason is not None:
        pytest.skip(reason)
    conf = Path(os.environ["SOFTHSM2_CONF"])
    main = create_cps_token(conf.parent, insi_pki.ps_key, insi_pki.ps_cert, pin=TEST_PIN)
    spare = create_cps_token(conf.parent, insi_pki.ps_key, insi_pki.ps_cert, label="CPS-PARTIE", pin=TEST_PIN)
    assert main.conf == conf
    return main, spare


@pytest.fixture(autouse=True)
def no_cps_login_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves a session logged in to `CPS-TEST`, not a later one in this process.

    PKCS#11 logins are per process and token: a leaked logged-in session makes every later `C_Login`
    fail with CKR_USER_ALREADY_LOGGED_IN, in whichever test comes next in this xdist worker. Autouse, so
    this teardown runs after the test's own fixtures (its agent stopped)."""
    yield
    if "cps_tokens" not in request.fixturenames:
        return
    from pkcs11 import exceptions as p11

    from hardware.pkcs11.token import load_library

    main: SoftToken = request.getfixturevalue("cps_tokens")[0]
    token = None
    for slot in load_library(main.module).get_slots(token_present=True):
        try:  # the spare token's slot is unreadable once a test deleted it
            candidate = slot.get_token()
        except p11.GeneralError:
            continue
        if candidate.label.strip() == main.label:
            token = candidate
    assert token is not None, f"{main.label} not found"
    try:
        session = token.open(user_pin=main.pin)
    except p11.UserAlreadyLoggedIn:
        pytest.fail(f"a PKCS#11 session is still logged in to {main.label} after this test")
    session.close()


@pytest.fixture(scope="session")
def cps_token(cps_tokens: tuple[SoftToken, SoftToken]) -> SoftToken:
    return cps_tokens[0]


@pytest.fixture(scope="session")
def spare_cps_token(cps_tokens: tuple[SoftToken, SoftToken]) -> SoftToken:
    return cps_tokens[1]
