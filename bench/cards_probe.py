"""Child process of the `cards` benchmark group: measures on a private pcscd, prints one JSON object.

A separate process because libpcsclite reads `PCSCLITE_CSOCK_NAME` once per process and SoftHSM2 its
configuration once per initialisation. Usage: `python -m bench.cards_probe ROOT N_INSERT IDLE_S N_RESTART`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(sys.argv[1])
os.environ["PCSCLITE_CSOCK_NAME"] = str(ROOT / "pcscd" / "run" / "pcscd.comm")
os.environ["SOFTHSM2_CONF"] = str(ROOT / "softhsm" / "softhsm2.conf")

from agent.app import Agent  # noqa: E402
from agent.config import config_from_dict  # noqa: E402
from agent.hookspecs import hookimpl  # noqa: E402
from hardware.pcsc.monitor import SERVICE, MonitorEvent, PcscMonitor  # noqa: E402
from sandbox.cards.pcscd import READERS, PrivatePcscd  # noqa: E402
from sandbox.cards.personalities import CPS_ATR, InertCard  # noqa: E402
from sandbox.cards.vpcd import VirtualCard  # noqa: E402


class HookClock:
    """Records when the `card_inserted` hook ran (on the agent's loop)."""

    def __init__(self) -> None:
        self.inserted = asyncio.Event()
        self.at = 0.0

    @hookimpl
    def card_inserted(self, reader: str, atr: str, kind: str) -> None:
        self.at = time.perf_counter()
        self.inserted.set()


def wait_empty(daemon: PrivatePcscd) -> None:
    from tests.cardkit import readers_empty

    readers_empty(10.0)


async def agent_insertions(daemon: PrivatePcscd, n: int) -> dict[str, list[float]]:
    config = config_from_dict({"api": {"port": 0}, "store": {"path": str(ROOT / "agent" / "vigie.sqlite3")},
                               "log": {"dir": str(ROOT / "agent" / "logs")}, "disabled_plugins": ["ins"],
                               "plugins": {"cards": {"vitale_reader": "apdu"}}})
    agent = Agent(config)
    clock = HookClock()
    agent.plugins.register(clock, "bench-clock")
    await agent.start()
    total, ours = [], []
    try:
        await asyncio.sleep(0.5)
        plugin: Any = agent.plugins.pm.get_plugin("cards")
        service = plugin.service
        for _ in range(n):
            await asyncio.to_thread(wait_empty, daemon)
            await asyncio.sleep(random.uniform(0.0, 0.4))  # no phase lock with pcscd's 400 ms driver polling
            clock.inserted.clear()
            card = VirtualCard(InertCard(CPS_ATR), daemon.port)
            start = time.perf_counter()
            await asyncio.to_thread(card.insert)
            await asyncio.wait_for(clock.inserted.wait(), 10)
            total.append((clock.at - start) * 1000)
            ours.append((clock.at - service.inserted_at[READERS[0]]) * 1000)
            await asyncio.to_thread(card.remove)
    finally:
        await agent.stop()
    return {"agent_total": total, "agent_ours": ours}


def raw_insertions(daemon: PrivatePcscd, n: int) -> list[float]:
    """What pcscd itself gives: a bare SCardGetStatusChange waiter, no monitor, no agent."""
    from smartcard import scard

    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    out = []
    try:
        for _ in range(n):
            wait_empty(daemon)
            time.sleep(random.uniform(0.0, 0.4))
            _, states = scard.SCardGetStatusChange(context, 0, [(READERS[0], scard.SCARD_STATE_UNAWARE)])
            current = states[0][1] & ~scard.SCARD_STATE_CHANGED
            card = VirtualCard(InertCard(CPS_ATR), daemon.port)
            start = time.perf_counter()
            card.insert()
            while True:
                _, states = scard.SCardGetStatusChange(context, 5000, [(READERS[0], current)])
                current = states[0][1] & ~scard.SCARD_STATE_CHANGED
                if current & scard.SCARD_STATE_PRESENT:
                    break
            out.append((time.perf_counter() - start) * 1000)
            card.remove()
    finally:
        scard.SCardReleaseContext(context)
    return out


def pyscard_insertions(daemon: PrivatePcscd, n: int) -> list[float]:
    from smartcard.CardMonitoring import CardMonitor, CardObserver

    seen = threading.Event()
    at = [0.0]

    class Observer(CardObserver):
        def update(self, observable: Any, handlers: Any) -> None:
            if handlers[0]:
                at[0] = time.perf_counter()
                seen.set()

    monitor = CardMonitor()
    observer = Observer()
    monitor.addObserver(observer)
    out = []
    try:
        for _ in range(n):
            wait_empty(daemon)
            time.sleep(random.uniform(0.0, 0.4))
            seen.clear()
            card = VirtualCard(InertCard(CPS_ATR), daemon.port)
            start = time.perf_counter()
            card.insert()
            if seen.wait(10):
                out.append((at[0] - start) * 1000)
            card.remove()
    finally:
        monitor.deleteObserver(observer)
    return out


def idle_cpu(seconds: float) -> dict[str, float]:
    monitor = PcscMonitor(lambda e: None)
    monitor.start()
    time.sleep(0.5)
    loops, cpu, wall = monitor.loops, time.process_time(), time.perf_counter()
    time.sleep(seconds)
    used = time.process_time() - cpu
    elapsed = time.perf_counter() - wall
    wakeups = monitor.loops - loops  # read before stop(): SCardCancel wakes it once
    monitor.stop()
    return {"cpu_percent": used / elapsed * 100, "wakeups": wakeups}


def restarts(daemon: PrivatePcscd, n: int) -> list[float]:
    """From pcscd answering again (its socket back) to the monitor's "service restored"."""
    events: list[MonitorEvent] = []
    restored = threading.Event()

    def emit(e: MonitorEvent) -> None:
        events.append(e)
        if e.kind == SERVICE and e.available:
            restored.set()

    monitor = PcscMonitor(emit)
    monitor.start()
    out = []
    try:
        time.sleep(0.5)
        for _ in range(n):
            daemon.kill()
            while monitor.available is not False:
                time.sleep(0.01)
            time.sleep(random.uniform(0.2, 1.0))
            restored.clear()
            daemon.start()
            back = time.perf_counter()
            restored.wait(15)
            out.append(time.perf_counter() - back)
    finally:
        monitor.stop()
    return out


def signatures(n: int) -> dict[str, list[float]]:
    from hardware.pkcs11.token import Pkcs11Token
    from sandbox.cards.softhsm import create_cps_token
    from sandbox.insi.pki import generate_sandbox_pki

    pki = generate_sandbox_pki(ROOT / "pki")
    token = create_cps_token(ROOT / "softhsm", pki.ps_key, pki.ps_cert)
    first, rest = [], []
    for _ in range(5):
        t = Pkcs11Token(token.module, ask_pin=lambda tries: token.pin, token_label=token.label)
        start = time.perf_counter()
        t.open()
        t.sign(b"x" * 600)
        first.append((time.perf_counter() - start) * 1000)
        for _ in range(n // 5):
            start = time.perf_counter()
            t.sign(b"<ds:SignedInfo>" + os.urandom(600))
            rest.append((time.perf_counter() - start) * 1000)
        t.close()
    return {"first": first, "sign": rest}


def main() -> None:
    n_insert, idle_s, n_restart = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    daemon = PrivatePcscd(ROOT / "pcscd")
    daemon.start()
    try:
        result: dict[str, Any] = asyncio.run(agent_insertions(daemon, n_insert))
        result["raw"] = raw_insertions(daemon, n_insert)
        result["pyscard"] = pyscard_insertions(daemon, n_insert)
        result.update(idle_cpu(idle_s))
        result["restart"] = restarts(daemon, n_restart)
    finally:
        daemon.stop()
    result.update(signatures(200))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
