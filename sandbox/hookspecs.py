"""Hooks only the sandbox knows (docs/plugin_hooks.md, "Sandbox hooks").

`sandbox.plugins.install` adds them to a host with `PluginHost.add_hookspecs` (pytest's `pytest_addhooks`
idea): an agent started without the sandbox does not even know these hooks, and no product plugin can
implement them by mistake. The sandbox's plugins otherwise use the product's registration hooks: their
`sandbox.*` RPC methods, `sandbox ...` CLI commands and tray entries of the `sandbox` section exist only
because the sandbox registered those plugins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from agent.hookspecs import hookspec

if TYPE_CHECKING:
    from sandbox.supervisor import SandboxService


class SandboxRegister(Protocol):
    def __call__(self, name: str, start: Callable[[], Awaitable[SandboxService]]) -> None: ...


@hookspec
def register_sandbox_services(register: SandboxRegister) -> None:
    """Add a local stand-in of a national service to `vigie run --sandbox`.

    :param register: `register(name, start)`; `start()` is `async`, starts the stand-in on a free loopback
        port and returns a `sandbox.supervisor.SandboxService` (its endpoint(s), the settings it gives the
        agent's plugins, the secrets it puts in the agent's keyring, and `stop()`).

    Called in the supervisor's process, not in the agent's: the stand-ins outlive agent restarts.
    """
