"""What a plugin gets from the host: a narrow, typed `PluginContext`, never the whole `Agent`.

`startup(context)`, `shutdown(context)`, `agent_started(context)` and `agent_stopping(context)` receive
one, built for the plugin being called (its name, its `[plugins.<name>]` section, its status). A
service takes only the ports it uses (`InsService(store=..., outbox=..., emitter=...)`), so a test
builds it with a real store and outbox and no host at all.

The ports are the host's own objects, typed by what a plugin may do with them: `OutboxPort` can
enqueue and hurry jobs but not register handlers (that is `register_outbox_handlers`), `Decisions`
asks firstresult hooks but cannot register plugins, `StatusPort` changes only this plugin's status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent.acting import ActingUsers
from agent.emitter import Emitter
from agent.plugins import OK

if TYPE_CHECKING:
    from agent.plugins import PluginHost
    from agent.secrets import SecretStore
    from agent.spool import SpoolMerger
    from agent.store import Store


class OutboxPort(Protocol):
    """Durable background jobs (agent/outbox.py), as plugins use them."""

    async def enqueue(self, handler: str, payload: Mapping[str, Any], *, key: str, delay: float = 0.0) -> int: ...

    async def enqueue_many(self, handler: str, jobs: Sequence[tuple[Mapping[str, Any], str]], *,
                           delay: float = 0.0) -> list[int]: ...

    async def hurry(self, handler: str) -> int: ...


class Decisions:
    """The decision hooks (`firstresult`): ask the plugins, see who implements what."""

    def __init__(self, host: PluginHost) -> None:
        self._host = host

    def decide(self, hook: str, /, **kwargs: Any) -> Any:
        """The first non-None answer of `hook` (pluggy's order), or None."""
        return getattr(self._host.hook, hook)(**kwargs)

    def implementations(self, hook: str) -> list[tuple[str, Callable[..., Any]]]:
        """(plugin name, function) in calling order, for a caller that isolates each answer (scan routing)."""
        return [(impl.plugin_name, impl.function) for impl in reversed(getattr(self._host.hook, hook).get_hookimpls())]

    def implemented(self, hook: str) -> bool:
        return bool(getattr(self._host.hook, hook).get_hookimpls())

    def degrade(self, plugin: str, reason: str) -> None:
        """Mark another plugin degraded because its decision raised (the caller logged it)."""
        self._host.mark_degraded(plugin, reason)


class StatusPort:
    """This plugin's own status (`ok` / `degraded`), as `agent.info` and the tray show it."""

    def __init__(self, host: PluginHost, name: str) -> None:
        self._host, self._name = host, name

    def ok(self) -> None:
        self._host.set_status(self._name, OK, None)

    def degraded(self, reason: str) -> None:
        self._host.mark_degraded(self._name, reason)


def _no_retry() -> None:
    return None


def _spawn_here(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    return asyncio.ensure_future(coro)


@dataclass(frozen=True)
class PluginContext:
    """The host, as one plugin sees it."""

    name: str  # the plugin's registered name
    settings: Mapping[str, Any]  # its `[plugins.<name>]` table, unvalidated: the plugin owns its schema
    store: Store
    outbox: OutboxPort
    emitter: Emitter  # facts (hook, then LGC event) and LGC-only events
    decisions: Decisions
    secrets: SecretStore
    acting: ActingUsers  # who is acting and the CPS signer (written by the cards plugin)
    status: StatusPort
    sandbox: bool = False  # `vigie run --sandbox`
    services: Mapping[str, str] = field(default_factory=dict)  # national-service endpoints by name
    data_dir: Path = Path(".")  # the folder of the store: a plugin's own files go under it
    # Background work the host cancels when it stops (a task that outlives the agent would run on a
    # closed store); returns the task.
    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]] = _spawn_here
    # "My missing dependency just appeared (a CPS was inserted): try my startup again now."
    retry_soon: Callable[[], None] = _no_retry
    # Open one of the agent's own pages (agent/pages.py: `batch.html`, `journal.html`) in the browser.
    open_page: Callable[[str], Awaitable[str]] | None = None
    # Shared store only: the local spool's merger (agent/spool.py); a plugin keeps work started while the
    # practice database is away in `spool.spool` and registers how it is merged (`spool.register`).
    spool: SpoolMerger | None = None
