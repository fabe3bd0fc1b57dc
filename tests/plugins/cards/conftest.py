"""An agent with the cards and INS plugins, on this test process's pcscd, against the INSi sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.hookspecs import hookimpl
from agent.prompts import PinRequest
from sandbox.cards.pcscd import READERS, PrivatePcscd
from sandbox.cards.softhsm import SoftToken
from sandbox.insi.server import InsiSandbox
from tests.cardkit import TEST_PIN
from tests.conftest import sandbox_host
from tests.plugins.ins.conftest import ins_config, insi_sandbox, lgc_for, wait_until  # noqa: F401 (fixtures)


class Recorder:
    """A test plugin: records the card hooks and answers PIN prompts with `pin`."""

    def __init__(self, pin: str | None = TEST_PIN) -> None:
        self.pin = pin
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.pin_prompts: list[str] = []
        self.pin_requests: list[PinRequest] = []
        self.silent = False  # True: prompts stay open, unanswered (the user walked away)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kw for n, kw in self.calls if n == name]

    @hookimpl
    def reader_added(self, reader: str) -> None:
        self.calls.append(("reader_added", {"reader": reader}))

    @hookimpl
    def reader_removed(self, reader: str) -> None:
        self.calls.append(("reader_removed", {"reader": reader}))

    @hookimpl
    def card_service_changed(self, available: bool, reason: str | None) -> None:
        self.calls.append(("card_service_changed", {"available": available, "reason": reason}))

    @hookimpl
    def card_inserted(self, reader: str, atr: str, kind: str) -> None:
        self.calls.append(("card_inserted", {"reader": reader, "atr": atr, "kind": kind}))

    @hookimpl
    def card_removed(self, reader: str, kind: str) -> None:
        self.calls.append(("card_removed", {"reader": reader, "kind": kind}))

    @hookimpl
    def acting_user_changed(self, user: Any) -> None:
        self.calls.append(("acting_user_changed", {"user": user}))

    @hookimpl
    def pin_requested(self, request: PinRequest) -> None:
        self.pin_prompts.append(request.prompt)
        self.pin_requests.append(request)
        if self.silent:
            return
        if self.pin is None:
            request.cancel()
        else:
            request.submit(self.pin)


AgentFactory = Callable[..., Awaitable[tuple[Agent, Recorder]]]


@pytest.fixture
async def card_agent(tmp_path: Path, insi_sandbox: InsiSandbox, pcscd: PrivatePcscd,  # noqa: F811
                     cps_token: SoftToken) -> AsyncIterator[AgentFactory]:
    agents: list[Agent] = []

    async def make(*, sandbox_mode: bool = False, wait_readers: bool = True, cards: dict[str, Any] | None = None,
                   **ins: Any) -> tuple[Agent, Recorder]:
        config = ins_config(tmp_path, insi_sandbox, **ins)
        config.sandbox = sandbox_mode
        config.plugins["cards"] = {"vitale_reader": "apdu", "pkcs11_module": str(cps_token.module),
                                   "pkcs11_token_label": cps_token.label, **(cards or {})}
        config.plugins["sandbox-cards"] = {"vpcd_port": pcscd.port}
        # The sandbox's plugins (the card bench) only in the sandbox's agent, as `vigie run --sandbox` has them.
        agent = Agent(config, host=sandbox_host() if sandbox_mode else None)
        recorder = Recorder()
        agent.plugins.register(recorder, "recorder")
        await agent.start()
        agents.append(agent)
        if wait_readers:
            await wait_until(lambda: {c["reader"] for c in recorder.of("reader_added")} >= set(READERS),
                             what="readers added")
        return agent, recorder

    yield make
    for agent in agents:
        await agent.stop()
