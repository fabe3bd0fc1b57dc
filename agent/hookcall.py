"""Calling hooks the way Vigie needs, beyond what pluggy does alone.

`call_each` runs every implementation of a notification even when one raises (pluggy stops at the
first exception), awaits `async def` implementations, bounds each with a timeout, logs the plugin's
name and marks it degraded. `call_registration` calls each plugin's `register_*` implementation with
a `register` bound to that plugin, so the host knows who registered what.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from agent.logging import redact
from agent.plugins import DISABLED, PluginHost

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0


def _impls(host: PluginHost, hook_name: str) -> list[Any]:
    # pluggy stores implementations in registration order and calls them last-registered first
    # (honouring tryfirst/trylast); keep its order so behaviour matches a plain hook call.
    return list(reversed(getattr(host.hook, hook_name).get_hookimpls()))


async def call_each(
    host: PluginHost,
    hook_name: str,
    /,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    only_started: bool = True,
    per_plugin: Callable[[str], dict[str, Any]] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Notify every plugin; return the non-None results of those that succeeded.

    `per_plugin(name)` adds arguments built for each plugin (its `PluginContext`).
    """
    if log.isEnabledFor(logging.DEBUG):
        log.debug("notify %s(%s)", hook_name, redact(kwargs))
    results: list[Any] = []
    for impl in _impls(host, hook_name):
        name = impl.plugin_name
        state = host.states.get(name)
        if state is None or state.status == DISABLED or (only_started and not state.started):
            continue
        try:
            args = kwargs if per_plugin is None else {**kwargs, **per_plugin(name)}
            result = await call_one(impl, args, timeout)
        except Exception as exc:
            log.error("plugin %s failed in %s: %s", name, hook_name, type(exc).__name__, exc_info=True)
            host.mark_degraded(name, f"erreur dans {hook_name} ({type(exc).__name__})")
            continue
        if result is not None:
            results.append(result)
    return results


async def call_one(impl: Any, kwargs: dict[str, Any], timeout: float | None) -> Any:
    """Call one hook implementation with the arguments it asks for; await it if it is async."""
    result = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
    if inspect.isawaitable(result):
        result = await asyncio.wait_for(result, timeout) if timeout else await result
    return result


def call_registration(
    host: PluginHost, hook_name: str, make_register: Callable[[str], Callable[..., None]]
) -> None:
    """Call `hook_name` plugin by plugin with `register = make_register(plugin_name)`.

    A registration error (duplicate, bad name) propagates: it is a bug found at startup.
    """
    for impl in _impls(host, hook_name):
        state = host.states.get(impl.plugin_name)
        if state is None or state.status == DISABLED:
            continue
        impl.function(**{arg: make_register(impl.plugin_name) for arg in impl.argnames if arg == "register"})
