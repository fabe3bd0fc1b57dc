"""`vigie run --sandbox`: local stand-ins of the national services, a demo LGC page, and an agent
wired to them, so a newcomer needs nothing else.

The supervisor starts every stand-in the sandbox's plugins register (`register_sandbox_services`,
sandbox/plugins.py) on free loopback ports, writes a throwaway profile (config, store, logs, a test token)
and runs the agent as a child process against it (`sandbox/child.py`: the product agent plus the sandbox's
plugins), exactly as it runs in a practice. The profile is the agent's *effective* configuration:
`--config`, then every `VIGIE_*` override, then `--port`; the sandbox only adds its endpoints, its demo
origin, its token and test data, and the child gets no `VIGIE_*` variable that could make it differ.
The banner is printed once the agent answering on that port has proved it is this child (`sandbox.info`:
its pid and the profile's nonce, over the token only this profile holds). Ctrl-C stops it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from agent.client import sandbox_pointer_path
from agent.config import ENV_PREFIX, Config, config_from_env, config_to_dict, load_config
from agent.errors import RegistrationError
from agent.hookcall import call_registration
from agent.plugins import PluginHost
from sandbox.demo.server import start_demo_page
from sandbox.plugins import install_all
from sandbox.signals import stop_on_signals

CHILD_START_TIMEOUT = 20.0


@dataclass
class SandboxService:
    """A running stand-in: its endpoints go to `[services]`, its settings to `[plugins.<name>]`."""

    name: str
    endpoints: dict[str, str]
    stop: Callable[[], Awaitable[None]]
    plugin_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    origins: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # name -> value, for the agent's keyring
    # keyring name -> the stand-in PKI's PKCS#12, imported into the agent's keyring as `vigie setup` does (the
    # settings then say `keyring:<name>`, the route a practice's agent takes)
    certificates: dict[str, Path] = field(default_factory=dict)


async def start_services(host: PluginHost) -> list[SandboxService]:
    starters: dict[str, Callable[[], Awaitable[Any]]] = {}

    def make_register(plugin: str) -> Callable[..., None]:
        def register(name: str, start: Callable[[], Awaitable[Any]]) -> None:
            if name in starters:
                raise RegistrationError(f"sandbox service {name!r} registered twice (plugin {plugin})")
            starters[name] = start

        return register

    call_registration(host, "register_sandbox_services", make_register)
    started: list[SandboxService] = []
    try:
        for start in starters.values():
            started.append(await start())
    except BaseException:
        await stop_services(started)
        raise
    return started


async def stop_services(services: list[SandboxService]) -> None:
    for service in reversed(services):
        with contextlib.suppress(Exception):
            await service.stop()


def build_profile(base: Config, profile_dir: Path, services: list[SandboxService], port: int | None,
                  token: str, nonce: str | None = None) -> Config:
    """The sandbox configuration: `base` with the sandbox's additions (never removing what was given)."""
    config = base
    config.sandbox = True
    if nonce is not None:
        config.plugins.setdefault("sandbox", {})["nonce"] = nonce
    if port is not None:
        config.api.port = port
    config.api.tokens = [*config.api.tokens, token]
    # Sandbox stand-ins consent for the practitioner so the demo page can pair without a tray.
    config.api.auto_accept_pairing = True
    config.store.path = profile_dir / "vigie.sqlite3"
    config.log.dir = profile_dir / "logs"
    config.log.console = True
    for service in services:
        config.services.update(service.endpoints)
        for origin in service.origins:
            if origin not in config.api.allowed_origins:
                config.api.allowed_origins.append(origin)
        for plugin, settings in service.plugin_settings.items():
            config.plugins.setdefault(plugin, {}).update(settings)
    return config


def effective_config(config_path: Path | None, port: int | None, environ: dict[str, str] | None = None) -> Config:
    """What the agent would run with: `--config` (else the defaults), every `VIGIE_*` override, `--port`."""
    env = dict(os.environ if environ is None else environ)
    config = load_config(config_path, env) if config_path is not None else config_from_env(env)
    if port is not None:
        config.api.port = port
    return config


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def port_taken_message(port: int) -> str:
    """French, and says how to choose another port (a free one, found now)."""
    other = next((p for p in range(port + 1, min(port + 50, 65535)) if port_free(p)), None)
    example = str(other) if other is not None else "N"
    return (f"Le port {port} de l'API locale est déjà utilisé (un autre agent Vigie ou bac à sable ?).\n"
            f"Choisissez-en un autre : « vigie run --sandbox --port {example} » "
            f"(ou {ENV_PREFIX}API_PORT={example} make run).")


def child_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: no `VIGIE_*` override (they are in the profile already), a throwaway keyring."""
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if not k.startswith(ENV_PREFIX)}
    # Throwaway secrets: the sandbox never writes into the practitioner's real keyring.
    env["PYTHON_KEYRING_BACKEND"] = "agent.secrets.MemoryKeyring"
    return env


def is_own_child(url: str, token: str, pid: int, nonce: str) -> bool:
    """True when the agent answering at `url` is the child `pid` started on this profile (`sandbox.info`)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "sandbox.info", "params": {}}).encode()
    req = urllib.request.Request(f"{url}/rpc", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=1.0) as resp:
            result = json.load(resp).get("result") or {}
    except (OSError, ValueError):  # not up yet, another agent (401: not our token), not ready (-32004)
        return False
    return bool(result.get("pid") == pid and result.get("nonce") == nonce)


def _wait_own_child(url: str, token: str, proc: subprocess.Popen[bytes], nonce: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if is_own_child(url, token, proc.pid, nonce):
            return True
        time.sleep(0.05)
    return False


@dataclass
class Workstation:
    """One agent of the sandbox: its profile, its demo page and its child process."""

    name: str  # "" for the single-workstation sandbox
    profile_dir: Path
    config: Config
    demo: SandboxService
    token: str
    nonce: str
    proc: subprocess.Popen[bytes] | None = None
    pointer: Path | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.config.api.port}"


# `--practice`: two workstations of one practice on a private PostgreSQL (docs/practice.md). The reception
# has the scanner, the consulting room the card readers (one virtual pcscd for the whole sandbox).
PRACTICE = (("accueil", ("cards",)), ("cabinet", ("scanner",)))


async def _workstation(base: Config, name: str, port: int | None, root: Path, services: list[SandboxService],
                       store_url: str | None, disabled: tuple[str, ...]) -> Workstation:
    profile_dir = root / name if name else root
    profile_dir.mkdir(mode=0o700, exist_ok=True)
    config = copy.deepcopy(base)
    if port is not None:
        config.api.port = port
    demo = await start_demo_page(api_port=config.api.port)
    token, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(16)
    config = build_profile(config, profile_dir, [*services, demo], None, token, nonce)
    if store_url is not None:
        config.store.url = store_url
        config.store.workstation = name
        config.disabled_plugins = [*config.disabled_plugins, *(d for d in disabled if d not in config.disabled_plugins)]
    return Workstation(name, profile_dir, config, demo, token, nonce)


def _start_child(station: Workstation, services: list[SandboxService], headless: bool) -> subprocess.Popen[bytes]:
    profile = station.profile_dir / "config.toml"
    _write_private(profile, tomli_w.dumps(config_to_dict(station.config)))
    secrets_file = station.profile_dir / "secrets.json"  # read then deleted by the child (sandbox/child.py)
    _write_private(secrets_file, json.dumps({k: v for s in services for k, v in s.secrets.items()}))
    cmd = [sys.executable, "-m", "sandbox.child", "--config", str(profile), "--secrets", str(secrets_file)]
    for s in services:
        cmd += [arg for name, path in s.certificates.items() for arg in ("--import-certificate", f"{name}={path}")]
    if headless:
        cmd.append("--headless")
    return subprocess.Popen(cmd, env=child_env())


def _banner(stations: list[Workstation], practice_db: str | None) -> str:
    lines = ["", "Vigie — bac à sable prêt (services nationaux simulés, données de test)"]
    for st in stations:
        indent = "  "
        if st.name:
            lines.append(f"  Poste « {st.name} » :")
            indent = "    "
        lines += [f"{indent}API locale           : {st.api_url}  (ws : {st.api_url.replace('http', 'ws')}/ws)",
                  f"{indent}Page LGC de démo     : {st.demo.endpoints['demo']}",
                  f"{indent}Jeton de test        : {st.token}",
                  f"{indent}Profil jetable       : {st.profile_dir}"]
    if practice_db is not None:
        lines.append(f"  Base du cabinet      : {practice_db} (PostgreSQL jetable, partagée par les postes)")
    services = stations[0].config.services
    lines += [f"  Service {n:<13}: {u}" for n, u in sorted(services.items()) if n != "demo" or len(stations) == 1]
    lines.append("Ctrl-C pour tout arrêter.")
    return "\n".join(lines) + "\n"


async def run_sandbox(config_path: Path | None, port: int | None, headless: bool, practice: bool = False) -> int:
    base = effective_config(config_path, port)
    api_port = base.api.port
    if api_port and not port_free(api_port):
        print(port_taken_message(api_port), file=sys.stderr)
        return 1
    host = PluginHost()
    install_all(host, base.disabled_plugins)
    root = Path(tempfile.mkdtemp(prefix="vigie-sandbox-"))
    os.chmod(root, 0o700)
    services: list[SandboxService] = []
    stations: list[Workstation] = []
    database: Any = None
    loop = asyncio.get_running_loop()
    try:
        services = await start_services(host)
        store_url: str | None = None
        plan: tuple[tuple[str, tuple[str, ...]], ...] = (("", ()),)
        if practice:
            from sandbox.practice_db import NoPostgres, start_server

            try:
                database = await asyncio.to_thread(start_server, "vigie-sandbox-pg-")
            except NoPostgres:
                print("Le mode cabinet (--practice) demande un serveur PostgreSQL installé sur ce poste "
                      "(Debian : apt-get install postgresql).", file=sys.stderr)
                return 1
            store_url = database.url(await asyncio.to_thread(database.create_database))
            plan = PRACTICE
        for i, (name, disabled) in enumerate(plan):
            station_port = None if i == 0 else next(p for p in range(api_port + i, 65535) if port_free(p))
            stations.append(await _workstation(base, name, station_port, root, services, store_url, disabled))
        stop = stop_on_signals()
        for station in stations:
            station.proc = _start_child(station, services, headless)
        for station in stations:
            assert station.proc is not None
            ready = await loop.run_in_executor(None, _wait_own_child, station.api_url, station.token, station.proc,
                                               station.nonce, CHILD_START_TIMEOUT)
            if not ready:
                if station.proc.poll() is not None and not port_free(station.config.api.port):
                    print(port_taken_message(station.config.api.port), file=sys.stderr)
                else:
                    print("L'agent du bac à sable n'a pas démarré (voir les messages ci-dessus).", file=sys.stderr)
                return 1
        for station in stations:
            station.pointer = sandbox_pointer_path(station.config.api.port)
            station.pointer.parent.mkdir(parents=True, exist_ok=True)
            station.pointer.write_text(json.dumps({
                "pid": os.getpid(), "port": station.config.api.port,
                "config": str(station.profile_dir / "config.toml"), "api_url": station.api_url,
            }), encoding="utf-8")
        print(_banner(stations, database.url().rsplit("/", 1)[0] if database is not None else None), flush=True)
        exits = [loop.run_in_executor(None, st.proc.wait) for st in stations if st.proc is not None]
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait([*exits, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        return 0 if stop.is_set() else next((st.proc.returncode or 0 for st in stations
                                             if st.proc is not None and st.proc.poll() is not None), 0)
    finally:
        for station in stations:
            if station.proc is not None and station.proc.poll() is None:
                station.proc.send_signal(signal.SIGTERM)
        for station in stations:
            if station.proc is not None:
                try:
                    await loop.run_in_executor(None, station.proc.wait, 5)
                except subprocess.TimeoutExpired:
                    station.proc.kill()
            with contextlib.suppress(Exception):
                await station.demo.stop()
            if station.pointer is not None:
                with contextlib.suppress(OSError):
                    station.pointer.unlink()
        await stop_services(services)
        if database is not None:
            await asyncio.to_thread(database.destroy)
        shutil.rmtree(root, ignore_errors=True)


def _write_private(path: Path, text: str) -> None:
    """0600 from creation: the profile holds a token, the secrets file a passphrase."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
