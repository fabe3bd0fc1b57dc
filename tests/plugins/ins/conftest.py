"""An agent with the INS plugin talking to a real INSi sandbox over TLS, and a websocket LGC client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.app import Agent
from agent.config import Config, config_from_dict
from agent.secrets import SecretStore
from plugins.ins.settings import PASSPHRASE_SECRET
from sandbox.insi.pki import SandboxPki, generate_sandbox_pki
from sandbox.insi.server import InsiSandbox, start_insi_sandbox
from tests.conftest import TEST_TOKEN, sandbox_host

DOMINIQUE = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F", "birth_date": "1997-02-26"}


@pytest.fixture(scope="session")
def insi_pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return generate_sandbox_pki(tmp_path_factory.mktemp("ins-pki") / "pki")


@pytest.fixture
async def insi_sandbox(insi_pki: SandboxPki) -> AsyncIterator[InsiSandbox]:
    sandbox = await start_insi_sandbox(pki=insi_pki)
    yield sandbox
    await sandbox.stop()


def ins_config(tmp_path: Path, sandbox: InsiSandbox, **ins: Any) -> Config:
    settings = sandbox.plugin_settings()
    # The passphrase goes where a real one lives: the keyring (the in-memory backend in tests).
    SecretStore().set(PASSPHRASE_SECRET, sandbox.secrets()[PASSPHRASE_SECRET])
    settings.update(ins)
    return config_from_dict({
        "api": {"port": 0, "tokens": [TEST_TOKEN], "allowed_origins": ["http://lgc.test"]},
        "store": {"path": str(tmp_path / "store" / "vigie.sqlite3")},
        "log": {"dir": str(tmp_path / "logs")},
        "plugins": {"ins": settings},
    })


AgentFactory = Callable[..., Awaitable[Agent]]


@pytest.fixture
async def make_agent(tmp_path: Path, insi_sandbox: InsiSandbox) -> AsyncIterator[AgentFactory]:
    """Start an agent (all default plugins) against the sandbox; `**ins` overrides `[plugins.ins]`."""
    agents: list[Agent] = []

    async def make(*, sandbox_mode: bool = False, wait: bool = True, **ins: Any) -> Agent:
        """`sandbox_mode`: the agent `vigie run --sandbox` runs, with the sandbox's plugins (sandbox/)."""
        config = ins_config(tmp_path, insi_sandbox, **ins)
        config.sandbox = sandbox_mode
        if sandbox_mode:
            # CPS mode: the stand-in's plugin plugs its software key in as the CPS card.
            config.plugins["sandbox-insi"] = {**insi_sandbox.sandbox_settings(), "cps": ins.get("auth") == "cps"}
        agent = Agent(config, host=sandbox_host() if sandbox_mode else None)
        await agent.start()
        agents.append(agent)
        if wait:
            await wait_until(lambda: agent.plugins.states["ins"].started, what="INS plugin started")
        return agent

    yield make
    for agent in agents:
        await agent.stop()


async def wait_until(predicate: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout} s")
        await asyncio.sleep(0.02)


class Lgc:
    """A websocket client as a browser-based LGC uses it: session.open, calls, events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next_id] = future
        await self.ws.send_str(json.dumps({"jsonrpc": "2.0", "id": self._next_id, "method": method,
                                           "params": params or {}}))
        return await asyncio.wait_for(future, 10)

    async def result(self, method: str, params: dict[str, Any] | None = None) -> Any:
        answer = await self.call(method, params)
        assert "result" in answer, answer
        return answer["result"]

    async def event(self, name: str, predicate: Callable[[dict[str, Any]], bool] = lambda p: True,
                    timeout: float = 10.0) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            found[:] = [e["params"] for e in self.events if e["method"] == name and predicate(e["params"])]
            return bool(found)

        await wait_until(seen, timeout=timeout, what=f"event {name}")
        return found[0]

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


@pytest.fixture
async def lgc_for() -> AsyncIterator[Callable[[Agent], Awaitable[Lgc]]]:
    session = aiohttp.ClientSession()
    clients: list[Lgc] = []

    async def connect(agent: Agent) -> Lgc:
        ws = await session.ws_connect(f"{agent.server.url}/ws", headers={"Origin": "http://lgc.test"})
        client = Lgc(ws)
        clients.append(client)
        await client.result("session.open", {"token": TEST_TOKEN})
        return client

    yield connect
    for client in clients:
        await client.close()
    await session.close()
