"""Plugin host: one pluggy PluginManager per Agent (never a global one), with Vigie's rules.

Built-in plugins (`DEFAULT_PLUGINS`) and third-party ones (entry-point group `vigie`) are loaded the
same way: a reference `module` or `module:attr`; a class is instantiated once per host (so two agents
in one process, as in tests, share no state), a module is registered as is. `disabled_plugins` in
config skips a plugin by name. Registration enforces the hook families of `agent.hookspecs`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from agent import __version__, hookspecs
from agent.errors import RegistrationError
from agent.logging import redact

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "vigie"

# name -> "module" or "module:attr". Domain plugins (ins, dmp, mss, eprescription, scanner...) are
# added here as they land; they go through exactly the path third-party plugins take.
DEFAULT_PLUGINS: dict[str, str] = {
    "ins": "plugins.ins.plugin:InsPlugin",
    "eprescription": "plugins.eprescription.plugin:EprescriptionPlugin",
    "dmp": "plugins.dmp.plugin:DmpPlugin",
    "cards": "plugins.cards.plugin:CardsPlugin",
    "ui": "agent.ui:UiPlugin",  # native popup and tray; headless without a display (agent/ui.py)
    "scanner": "plugins.scanner.plugin:ScannerPlugin",
    "mss": "plugins.mss.plugin:MssPlugin",
}

OK, STARTING, DEGRADED, DISABLED = "ok", "starting", "degraded", "disabled"


@dataclass
class PluginState:
    name: str
    version: str
    source: str  # "core", "builtin", "entrypoint", "sandbox" or "manual"
    status: str = STARTING
    reason: str | None = None
    started: bool = False
    changes: int = 0  # bumped on every status change: tells the host a plugin set its own status

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "status": self.status, "reason": self.reason}


def _load_reference(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def _instantiate(obj: Any) -> Any:
    return obj() if inspect.isclass(obj) else obj


class PluginHost:
    """Owns the PluginManager, the per-plugin state, and the registration rules."""

    def __init__(self, on_status_change: Callable[[PluginState], None] | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.states: dict[str, PluginState] = {}
        self.on_status_change = on_status_change
        # Hook tracing at DEBUG, through the redactor: hook arguments carry patient data.
        self.pm.add_hookcall_monitoring(self._trace_before, self._trace_after)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def add_hookspecs(self, module: Any) -> None:
        """Add the hooks of an extension that owns them (pytest's `pytest_addhooks` idea): the sandbox adds
        `register_sandbox_services` this way, so an agent without the sandbox does not even know it. Adding
        the same module twice is a no-op."""
        names = [n for n in dir(module) if hasattr(getattr(module, n), f"{hookspecs.PROJECT}_spec")]
        if names and all(getattr(self.pm.hook, n, None) is not None and getattr(self.pm.hook, n).has_spec()
                         for n in names):
            return
        self.pm.add_hookspecs(module)

    # -- registration ----------------------------------------------------------------------
    def register(self, plugin: Any, name: str, *, version: str | None = None, source: str = "manual") -> None:
        """Register `plugin` under `name`, or raise RegistrationError (and leave nothing behind)."""
        if name in self.states and self.states[name].status != DISABLED:
            raise RegistrationError(f"plugin {name!r} registered twice")
        try:
            self.pm.register(plugin, name)
        except ValueError as exc:  # pluggy: same object or name already registered
            raise RegistrationError(f"plugin {name!r}: {exc}") from exc
        try:
            self._validate(plugin, name)
        except Exception:
            self.pm.unregister(plugin)
            raise
        self.states[name] = PluginState(name=name, version=version or __version__, source=source)

    def unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.states.pop(name, None)

    def _validate(self, plugin: Any, name: str) -> None:
        for caller in self.pm.get_hookcallers(plugin) or []:
            hook_name = caller.name
            if caller.spec is None:
                raise RegistrationError(f"plugin {name!r}: unknown hook {hook_name!r} (see docs/plugin_hooks.md)")
            firstresult = bool(caller.spec.opts.get("firstresult"))
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if impl.hookwrapper or impl.wrapper:
                    raise RegistrationError(f"plugin {name!r}: hook wrappers are not supported ({hook_name})")
                is_async = inspect.iscoroutinefunction(impl.function) or inspect.isasyncgenfunction(
                    impl.function
                )
                if is_async and firstresult:
                    raise RegistrationError(
                        f"plugin {name!r}: {hook_name} is a decision hook (firstresult) and must be a plain "
                        "`def`; an `async def` would always win without being awaited"
                    )
                if is_async and hook_name.startswith("register_"):
                    raise RegistrationError(f"plugin {name!r}: {hook_name} must be a plain `def`")

    def register_references(self, refs: Mapping[str, str], disabled: Iterable[str] = (), *,
                            source: str = "builtin") -> None:
        """Register `name -> "module:attr"` plugins shipped with Vigie (built-in ones, the sandbox's)."""
        disabled = set(disabled)
        for name, ref in refs.items():
            if name in disabled:
                self._mark_disabled(name, __version__, source)
                continue
            # A broken plugin of our own is our bug: fail loudly rather than start half an agent.
            self.register(_instantiate(_load_reference(ref)), name, source=source)

    def load(self, disabled: Iterable[str] = (), defaults: Mapping[str, str] | None = None) -> None:
        """Register built-in plugins, then entry-point plugins, skipping `disabled` names."""
        disabled = set(disabled)
        self.register_references(DEFAULT_PLUGINS if defaults is None else defaults, disabled)
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            version = ep.dist.version if ep.dist is not None else "?"
            if ep.name in disabled:
                self._mark_disabled(ep.name, version, "entrypoint")
                continue
            if ep.name in self.states:
                log.warning("entry-point plugin %s ignored: name already used", ep.name)
                continue
            try:
                self.register(_instantiate(ep.load()), ep.name, version=version, source="entrypoint")
            except Exception as exc:  # a third-party plugin must not keep the agent from starting
                log.error("plugin %s refused: %s", ep.name, exc)
                self.states[ep.name] = PluginState(
                    ep.name, version, "entrypoint", status=DEGRADED, reason=f"refusé au chargement : {exc}"
                )
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise RegistrationError(str(exc)) from exc

    def load_extensions(self, group: str, disabled: Iterable[str] = ()) -> bool:
        """Install the extensions of entry-point `group` (e.g. `vigie.sandbox`): each entry is a callable
        `install(host, disabled)` that adds its hookspecs and registers its plugins. False when none is
        installed (a production build ships no sandbox)."""
        found = False
        for ep in importlib.metadata.entry_points(group=group):
            ep.load()(self, list(disabled))
            found = True
        if found:
            try:
                self.pm.check_pending()
            except pluggy.PluginValidationError as exc:
                raise RegistrationError(str(exc)) from exc
        return found

    def _mark_disabled(self, name: str, version: str, source: str) -> None:
        self.states[name] = PluginState(name, version, source, status=DISABLED, reason="désactivé par la configuration")

    # -- status ------------------------------------------------------------------------------
    def set_status(self, name: str, status: str, reason: str | None = None) -> None:
        state = self.states.get(name)
        if state is None or (state.status == status and state.reason == reason):
            return
        state.status, state.reason = status, reason
        state.changes += 1
        if status == OK:
            state.started = True
        if self.on_status_change is not None:
            self.on_status_change(state)

    def mark_degraded(self, name: str, reason: str) -> None:
        self.set_status(name, DEGRADED, reason)

    def plugin_name(self, plugin: Any) -> str:
        return self.pm.get_name(plugin) or repr(plugin)

    def summary(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.states.values()]

    # -- tracing -----------------------------------------------------------------------------
    @staticmethod
    def _trace_before(hook_name: str, impls: Any, kwargs: Mapping[str, Any]) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("hook %s(%s)", hook_name, redact(dict(kwargs)))

    @staticmethod
    def _trace_after(outcome: Any, hook_name: str, impls: Any, kwargs: Mapping[str, Any]) -> None:
        if log.isEnabledFor(logging.DEBUG) and outcome.exception is None:
            log.debug("hook %s -> %s", hook_name, redact(outcome.get_result()))
