"""A built-in-style plugin used by tests (referenced as `tests.agent.sample_plugin:SamplePlugin`)."""

from __future__ import annotations

from typing import Any

from agent.errors import PluginNotReady
from agent.hookspecs import hookimpl


class SamplePlugin:
    def __init__(self) -> None:
        self.started = 0
        self.stopped = 0

    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        register("sample.echo", self.echo, params={"type": "object", "properties": {"text": {"type": "string"}},
                                                   "required": ["text"], "additionalProperties": False})

    async def echo(self, params: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return {"text": params["text"], "client": ctx.client}

    @hookimpl
    async def startup(self, context: Any) -> None:
        self.started += 1

    @hookimpl
    async def shutdown(self, context: Any) -> None:
        self.stopped += 1


class FlakyPlugin(SamplePlugin):
    """Not ready for its first `failures` startups (a card middleware that appears later)."""

    failures = 2

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        register("flaky.echo", self.echo)

    @hookimpl
    async def startup(self, context: Any) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise PluginNotReady("module PKCS#11 absent", retry_after=0.05)
        self.started += 1
