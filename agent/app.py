"""The Agent: owns the store, outbox, local API and plugins; starts and stops them symmetrically.

Start: plugins loaded → migrations → store → registrations → outbox → local API → each plugin's
`startup` → `agent_started`. Stop runs the same steps backwards. The local API answers before the
plugins have started so `/health` is fast and the LGC gets "module pas prêt" rather than a refused
connection. A plugin whose `startup` raises `PluginNotReady` is degraded and retried with backoff
while the rest of the agent runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import __version__
from agent.acting import ActingUsers
from agent.admin import register_admin_methods
from agent.client_registry import ClientRegistry
from agent.config import Config
from agent.context import Decisions, PluginContext, StatusPort
from agent.documents import register_dispatch
from agent.emitter import Emitter, acting_user_dict
from agent.errors import PluginNotReady, RegistrationError, RetryJobLater, UserFacingError
from agent.events import EventBus
from agent.hookcall import call_each, call_one, call_registration
from agent.hookspecs import JobHandler, RpcHandler, StatusProvider, hookimpl
from agent.outbox import SPOOL_KIND, Job, Outbox, merge_spooled
from agent.pages import Pages
from agent.pairing import PairingBroker, PairingRequest
from agent.panels import notify_user
from agent.plugins import DEGRADED, OK, PluginHost, PluginState
from agent.practice import PracticeRelay
from agent.rpc import PLUGIN_NOT_READY, RpcContext, RpcRegistry
from agent.secrets import SecretStore
from agent.server import ApiServer
from agent.setup_rpc import register_setup_methods
from agent.spool import FILE_NAME as SPOOL_FILE
from agent.spool import Spool, SpoolMerger, waiting_label
from agent.store import MigrationRegistry, make_store

log = logging.getLogger(__name__)

STARTUP_TIMEOUT = 15.0
SHUTDOWN_TIMEOUT = 0.5  # per plugin; the whole stop must fit in 2 s
PLUGIN_WAIT = 2.0  # seconds before a job of a not-yet-started plugin is looked at again
GIL_SWITCH_INTERVAL = 0.001  # seconds; see Agent.start
RETRY_BASE, RETRY_MAX = 1.0, 300.0
TRAY_SECTIONS = ("main", "sandbox")


@dataclass(frozen=True)
class TrayItem:
    """A tray menu entry a plugin registered (`register_tray_items`); the tray renders these."""

    label: str
    action: Callable[[], Awaitable[Any]]
    section: str
    plugin: str
    detail: Callable[[], str | None] | None = None

    def shown_label(self) -> str:
        """The label with its detail ("… (2 non lus)"); a failing detail shows the plain label."""
        try:
            extra = self.detail() if self.detail is not None else None
        except Exception:
            log.warning("tray item detail of plugin %s failed", self.plugin, exc_info=True)
            extra = None
        return f"{self.label} ({extra})" if extra else self.label


SETUP_TRAY_LABEL = "Paramètres de Vigie"


class CorePlugin:
    """The host's own hook implementations (registered like any plugin, under the name `core`)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    @hookimpl
    def register_rpc_methods(self, register: Callable[..., None]) -> None:
        register("agent.info", self.info, params={"type": "object", "additionalProperties": False},
                 description="Version, plugins and their status, readers, services, outbox counts.")

    async def info(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return await self.agent.info()

    @hookimpl
    def register_status_providers(self, register: Callable[..., None]) -> None:
        register("store", self.store_status)

    @hookimpl
    def register_setup_steps(self, register: Callable[..., None]) -> None:
        from agent.setup_host import API_STEP

        register(API_STEP)

    @hookimpl
    def register_tray_items(self, register: Callable[..., None]) -> None:
        # The settings page edits what the plugins contribute: a host started without them (tests) has no entry.
        if self.agent.loads_plugins:
            register(SETUP_TRAY_LABEL, lambda: self.agent.pages.open("setup.html"))

    def store_status(self) -> dict[str, Any]:
        """The database in `agent.info` (services.store): which one, and whether it answers now."""
        store = self.agent.store
        status: dict[str, Any] = {"kind": store.dialect, "workstation": self.agent.workstation}
        spooled = self.agent.spool.count if self.agent.spool is not None else 0
        if spooled:
            status["spooled"] = spooled  # work started during an outage, kept here until merged (agent/spool.py)
        if getattr(store, "available", True):
            status.update(state="ok", label="Base de données : disponible" + (
                f" ; report de {spooled} opération(s) gardée(s) sur ce poste en cours" if spooled else ""))
        elif spooled:
            status.update(state="injoignable", label=waiting_label(spooled))
        else:
            status.update(state="injoignable", label="Base de données du cabinet injoignable : le travail "
                          "attend son retour (rien n'est perdu), vérifiez le réseau ou le serveur")
        return {"services": {"store": status}}


class Agent:
    def __init__(self, config: Config, *, host: PluginHost | None = None, load_plugins: bool = True) -> None:
        self.config = config
        self.events = EventBus()
        self.plugins = host or PluginHost()
        self.plugins.on_status_change = self._on_status_change
        self.store = make_store(config.store.url, config.store.path, fsync=config.store.fsync,
                                pool_size=config.store.pool_size)
        self.workstation = config.store.workstation or f"{socket.gethostname()}:{config.api.port}"
        self.outbox = Outbox(self.store, on_dead=self._on_job_dead, owner=self.workstation)
        # Shared store only: work started while the practice database is away waits here (agent/spool.py).
        self.spool: Spool | None = None
        self.merger: SpoolMerger | None = None
        if getattr(self.store, "shared", False):
            self.spool = Spool(Path(config.store.path).parent / SPOOL_FILE)
            self.merger = SpoolMerger(self.store, self.spool,
                                      notify=lambda text: notify_user(self.emitter, text, topic="store.merged"))
            self.outbox.spool = self.spool
            self.merger.register(SPOOL_KIND, merge_spooled)
        self.rpc = RpcRegistry()
        self.secrets = SecretStore()
        self.clients = ClientRegistry(self.store, list(config.api.tokens))
        self.pages = Pages(clients=self.clients, secrets=self.secrets, base_url=lambda: self.server.url)
        self.pairing = PairingBroker(
            auto_accept=config.api.auto_accept_pairing,
            timeout=config.api.pairing_timeout,
            policy=self._pairing_policy,
            notify=self._notify_pairing,
        )
        self.server = ApiServer(
            config.api, rpc=self.rpc, events=self.events, clients=self.clients, pairing=self.pairing,
            version=__version__,
        )
        self.status_providers: dict[str, StatusProvider] = {}
        self.tray_items: list[TrayItem] = []
        self.emitter = Emitter(self.plugins, self.events)
        self.practice = PracticeRelay(self.store, self.workstation, self._practice_fact)
        self.decisions = Decisions(self.plugins)
        # Who is acting: the CPS/CPE in a reader (set by the cards plugin), else the configured default.
        self.acting = ActingUsers(self.emitter)
        self._contexts: dict[str, PluginContext] = {}
        self._load_plugins = load_plugins
        self._retry_tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._stop_requested: asyncio.Event | None = None
        self._started = False
        self._rng = random.Random()

    @property
    def loads_plugins(self) -> bool:
        return self._load_plugins

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        # The event loop shares the GIL with the worker threads that build documents and messages (lxml trees,
        # the email package: Python code). CPython makes a waiting thread wait up to the switch interval (5 ms
        # by default) before the running one must hand the GIL over, and the loop waits at every wake-up;
        # 1 ms bounds that wait (`agent.info` p99 in docs/benchmarks.md, dmp and mss sections).
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))
        if self._stop_requested is None:  # `run` creates it first, before its signal handlers
            self._stop_requested = asyncio.Event()
        self.plugins.register(CorePlugin(self), "core", source="core")
        if self._load_plugins:
            self.plugins.load(self.config.disabled_plugins)
        migrations = MigrationRegistry()
        call_registration(self.plugins, "register_migrations", lambda _p: migrations.register)
        if self.spool is not None:
            await self.spool.open()  # before the database: what an earlier outage left is merged once it answers
        await self.store.open(migrations)
        call_registration(self.plugins, "register_rpc_methods", self._rpc_register_for)
        call_registration(self.plugins, "register_outbox_handlers", self._outbox_register_for)
        register_dispatch(self)  # validated documents wait in the outbox until a plugin consumes them
        call_registration(self.plugins, "register_status_providers", self._status_register_for)
        call_registration(self.plugins, "register_tray_items", self._tray_register_for)
        register_admin_methods(self.rpc, clients=self.clients, pairing=self.pairing, server=self.server)
        register_setup_methods(self.rpc, self)
        await self.outbox.start()
        if self.merger is not None:
            self.merger.start()
        self.practice.start()
        if self.practice.active:
            self.emitter.relay = self.practice.send
        await self.server.start()
        self._started = True
        for name in list(self.plugins.states):
            await self._start_plugin(name)
        await call_each(self.plugins, "agent_started", per_plugin=self._context_arg)
        log.info("agent started on %s with %d plugins", self.server.url, len(self.plugins.states))

    async def stop(self) -> None:
        if self.merger is not None:
            await self.merger.stop()
        if not self._started:
            await self.store.close()
            if self.spool is not None:
                await self.spool.close()
            return
        self._started = False
        for task in list(self._retry_tasks.values()) + list(self._background):
            task.cancel()
        await call_each(self.plugins, "agent_stopping", timeout=SHUTDOWN_TIMEOUT, per_plugin=self._context_arg)
        await self.server.stop()
        # Jobs use their plugin's resources: let them finish (or put them back) before plugins stop.
        await self.outbox.stop(grace=0.5)
        self.emitter.relay = None
        self.practice.stop()
        for name in reversed(list(self.plugins.states)):
            await self._stop_plugin(name)
        await self.store.close()
        if self.spool is not None:
            await self.spool.close()
        log.info("agent stopped")

    def request_stop(self) -> None:
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def run(self, on_started: Callable[[Agent], None] | None = None) -> None:
        """Start, wait for SIGINT/SIGTERM (or `request_stop`), stop."""
        # Handlers before start: /health answers while plugins still start, and a SIGTERM then (session
        # closing, service manager) must stop the agent cleanly, not kill it.
        self._stop_requested = asyncio.Event()
        uninstall = self._install_signal_handlers()
        try:
            await self.start()
        except BaseException:
            uninstall()
            raise
        try:
            if on_started is not None:
                on_started(self)
            assert self._stop_requested is not None
            await self._stop_requested.wait()
        finally:
            uninstall()
            await self.stop()

    def _install_signal_handlers(self) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        if sys.platform != "win32":
            for sig in signals:
                loop.add_signal_handler(sig, self.request_stop)

            def uninstall() -> None:
                for sig in signals:
                    loop.remove_signal_handler(sig)

            return uninstall
        # Windows: no loop signal handlers; hop from the signal handler into the loop thread-safely.
        previous = {s: signal.signal(s, lambda *_: loop.call_soon_threadsafe(self.request_stop)) for s in signals}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    # -- plugins' startup/shutdown -------------------------------------------------------------
    def context_for(self, name: str) -> PluginContext:
        """The `PluginContext` of plugin `name` (one per plugin, built on first use)."""
        context = self._contexts.get(name)
        if context is None:
            context = PluginContext(
                name=name, settings=self.config.plugin_settings(name), store=self.store, outbox=self.outbox,
                emitter=self.emitter, decisions=self.decisions, secrets=self.secrets, acting=self.acting,
                status=StatusPort(self.plugins, name), sandbox=self.config.sandbox, services=dict(self.config.services),
                data_dir=Path(self.config.store.path).parent, spawn=self._spawn, spool=self.merger,
                retry_soon=lambda: self.retry_plugin_soon(name), open_page=self.pages.open,
            )
            self._contexts[name] = context
        return context

    def _context_arg(self, name: str) -> dict[str, Any]:
        return {"context": self.context_for(name)}

    def _lifecycle_args(self, name: str) -> dict[str, Any]:
        # `agent` only for the host's own shell (agent/ui.py); capability plugins take `context`.
        return {"context": self.context_for(name), "agent": self}

    def _impl_of(self, hook_name: str, plugin_name: str) -> Any | None:
        for impl in getattr(self.plugins.hook, hook_name).get_hookimpls():
            if impl.plugin_name == plugin_name:
                return impl
        return None

    async def _start_plugin(self, name: str, attempt: int = 0) -> None:
        state = self.plugins.states[name]
        if state.status not in ("starting", DEGRADED) or state.started:
            return
        impl = self._impl_of("startup", name)
        changes = state.changes
        try:
            if impl is not None:
                await call_one(impl, self._lifecycle_args(name), STARTUP_TIMEOUT)
        except PluginNotReady as exc:
            delay = exc.retry_after or min(RETRY_MAX, RETRY_BASE * 2**attempt) * (0.5 + self._rng.random() / 2)
            log.warning("plugin %s not ready (%s); retry in %.1f s", name, exc.reason, delay)
            self.plugins.mark_degraded(name, exc.reason)
            self._retry_tasks[name] = asyncio.create_task(self._retry_start(name, attempt + 1, delay))
            return
        except Exception as exc:  # a bug in the plugin: degrade it, keep the agent running
            log.error("plugin %s failed to start: %s", name, type(exc).__name__, exc_info=True)
            self.plugins.mark_degraded(name, f"échec au démarrage ({type(exc).__name__})")
            return
        state.started = True
        self.outbox.wake()  # its jobs were left unclaimed while it was not ready
        if state.changes == changes:
            self.plugins.set_status(name, OK, None)
        # else the plugin reported its own status while starting (e.g. the card service already
        # lost, seen by a monitor thread before startup returned): that report is newer than "ok".

    async def _retry_start(self, name: str, attempt: int, delay: float) -> None:
        await asyncio.sleep(delay)
        self._retry_tasks.pop(name, None)
        if self._started:
            await self._start_plugin(name, attempt)

    def retry_plugin_soon(self, name: str) -> None:
        """A degraded plugin's missing dependency just appeared (e.g. a CPS was inserted): retry now
        rather than at the end of its backoff."""
        state = self.plugins.states.get(name)
        if not self._started or state is None or state.started or state.status != DEGRADED:
            return
        task = self._retry_tasks.pop(name, None)
        if task is not None:
            task.cancel()
        self._retry_tasks[name] = asyncio.create_task(self._retry_start(name, 0, 0.0))

    async def _stop_plugin(self, name: str) -> None:
        state = self.plugins.states[name]
        if not state.started:
            return
        impl = self._impl_of("shutdown", name)
        if impl is None:
            return
        try:
            await call_one(impl, self._lifecycle_args(name), SHUTDOWN_TIMEOUT)
        except Exception as exc:
            log.error("plugin %s failed to shut down: %s", name, type(exc).__name__, exc_info=True)

    # -- registrations bound to the registering plugin ---------------------------------------
    def _rpc_register_for(self, plugin_name: str) -> Callable[..., None]:
        def register(name: str, handler: RpcHandler, *, params: Mapping[str, Any] | None = None,
                     scope: str = "lgc", description: str = "") -> None:
            async def guarded(p: dict[str, Any], ctx: RpcContext) -> Any:
                state = self.plugins.states.get(plugin_name)
                if state is not None and not state.started:
                    raise UserFacingError(
                        f"Le module « {plugin_name} » n'est pas prêt : {state.reason or 'démarrage en cours'}.",
                        code=PLUGIN_NOT_READY,
                    )
                return await handler(p, ctx)

            self.rpc.register(name, guarded, params=params, scope=scope, description=description,
                              namespace=plugin_name)  # `<plugin>.<noun>.<verb>` names: this plugin's own only

        return register

    def _outbox_register_for(self, plugin_name: str) -> Callable[..., None]:
        def register(name: str, handler: JobHandler, **options: Any) -> None:
            async def guarded(job: Job) -> None:
                state = self.plugins.states.get(plugin_name)
                if state is not None and not state.started:
                    # Not the job's fault: wait for the plugin without using up the job's attempts.
                    raise RetryJobLater(f"plugin {plugin_name} not started", retry_after=PLUGIN_WAIT,
                                        count_attempt=False)
                await handler(job)

            def ready() -> bool:  # a workstation whose plugin is not up leaves the job to others
                state = self.plugins.states.get(plugin_name)
                return state is None or state.started

            self.outbox.register(name, guarded, ready=ready, **options)

        return register

    def _status_register_for(self, plugin_name: str) -> Callable[..., None]:
        def register(name: str, provider: StatusProvider) -> None:
            if name in self.status_providers:
                raise RegistrationError(f"status provider {name!r} registered twice (plugin {plugin_name})")
            self.status_providers[name] = provider

        return register

    def _tray_register_for(self, plugin_name: str) -> Callable[..., None]:
        def register(label: str, action: Callable[[], Awaitable[Any]], *, section: str = "main",
                     detail: Callable[[], str | None] | None = None) -> None:
            if section not in TRAY_SECTIONS:
                raise RegistrationError(f"tray item {label!r}: unknown section {section!r} (plugin {plugin_name})")
            if any(item.label == label and item.section == section for item in self.tray_items):
                raise RegistrationError(f"tray item {label!r} registered twice (plugin {plugin_name})")
            self.tray_items.append(TrayItem(label, action, section, plugin_name, detail))

        return register

    # -- information -----------------------------------------------------------------------
    async def info(self) -> dict[str, Any]:
        readers: list[Any] = []
        services: dict[str, Any] = {}
        for name, provider in self.status_providers.items():
            try:
                part = provider()
            except Exception as exc:
                log.error("status provider %s failed: %s", name, type(exc).__name__)
                continue
            readers.extend(part.get("readers", []))
            services.update(part.get("services", {}))
        return {
            "version": __version__,
            "sandbox": self.config.sandbox,
            "plugins": self.plugins.summary(),
            "readers": readers,
            "services": services,
            "outbox": await self._outbox_stats(),
            "acting_user": acting_user_dict(self.acting.current),
            "keyring": SecretStore.backend_name(),  # `vigie doctor`: a memory keyring loses secrets at restart
        }

    async def _outbox_stats(self) -> dict[str, int] | None:
        """None while the practice database is unreachable: agent.info must answer all the same."""
        try:
            return await self.outbox.stats()
        except UserFacingError:
            return None

    # -- hooks the host itself fires -------------------------------------------------------------
    async def _practice_fact(self, workstation: str, event: str, params: Mapping[str, Any]) -> None:
        """Another workstation of the practice emitted a fact: our LGCs and plugins hear it too."""
        self.events.publish(event, params)
        await call_each(self.plugins, "practice_fact_received", workstation=workstation, event=event,
                        params=params)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _on_status_change(self, state: PluginState) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop (status set outside the agent)
            asyncio.get_running_loop()
            self._spawn(self._status_changed(state.name, state.status, state.reason, self.plugins.summary()))

    async def _status_changed(self, name: str, status: str, reason: str | None, summary: list[Any]) -> None:
        # The hook first, then the LGC's `agent.status` snapshot (as of the change), like every fact.
        await self.emitter.emit("plugin_status_changed", name=name, status=status, reason=reason)
        self.emitter.publish("agent.status", {"plugins": summary})

    async def _on_job_dead(self, job: Job) -> None:
        await self.emitter.emit("outbox_job_dead", job=job)
        self.emitter.publish("agent.status", {"outbox": await self.outbox.stats()})

    def _pairing_policy(self, client_name: str, origin: str | None) -> bool | None:
        decision: bool | None = self.plugins.hook.pairing_policy(client_name=client_name, origin=origin)
        return decision

    async def _notify_pairing(self, request: PairingRequest) -> None:
        await self.emitter.emit("pairing_requested", request=request)
