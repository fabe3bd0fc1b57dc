"""`vigie run --sandbox`: local stand-ins of the national services, a demo LGC page, and an agent
wired to them, so a newcomer needs nothing else.

The supervisor starts every stand-in plugins register (`register_sandbox_services`) on free loopback
ports, writes a throwaway profile (config, store, logs, a test token) and runs the agent as a child
process against it, exactly as it runs in a practice. API settings from `--config`/`--port` are kept;
the sandbox only adds its endpoints, its demo origin, its token and test data. Ctrl-C stops it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
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
from agent.config import Config, config_to_dict, load_config
from agent.errors import RegistrationError
from agent.hookcall import call_registration
from agent.plugins import PluginHost
from sandbox.demo.server import start_demo_page
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
                  token: str) -> Config:
    """The sandbox configuration: `base` with the sandbox's additions (never removing what was given)."""
    config = base
    config.sandbox = True
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


def _wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1.0) as resp:
                if json.load(resp).get("status") == "ok":
                    return True
        except (OSError, ValueError):
            time.sleep(0.05)
    return False


async def run_sandbox(config_path: Path | None, port: int | None, headless: bool) -> int:
    base = load_config(config_path) if config_path is not None else Config()
    host = PluginHost()
    host.load(base.disabled_plugins)
    profile_dir = Path(tempfile.mkdtemp(prefix="vigie-sandbox-"))
    os.chmod(profile_dir, 0o700)
    services = await start_services(host)
    demo = await start_demo_page(api_port=port or base.api.port)
    services.append(demo)
    token = secrets.token_urlsafe(24)
    config = build_profile(base, profile_dir, services, port, token)
    profile = profile_dir / "config.toml"
    profile.write_text(tomli_w.dumps(config_to_dict(config)), encoding="utf-8")
    os.chmod(profile, 0o600)

    env = dict(os.environ)
    # Throwaway secrets: the sandbox never writes into the practitioner's real keyring.
    env["PYTHON_KEYRING_BACKEND"] = "agent.secrets.MemoryKeyring"
    cmd = [sys.executable, "-m", "agent.cli", "run", "--config", str(profile)]
    if headless:
        cmd.append("--headless")
    proc = subprocess.Popen(cmd, env=env)  # noqa: ASYNC220 (returns at once; waits run in an executor)
    api_url = f"http://127.0.0.1:{config.api.port}"
    pointer = sandbox_pointer_path()
    stop = stop_on_signals()
    loop = asyncio.get_running_loop()
    try:
        ready = await loop.run_in_executor(None, _wait_health, api_url, proc, CHILD_START_TIMEOUT)
        if not ready:
            print("L'agent du bac à sable n'a pas démarré (voir les messages ci-dessus).", file=sys.stderr)
            return 1
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.write_text(json.dumps({"pid": os.getpid(), "config": str(profile), "api_url": api_url}))
        print(
            "\nVigie — bac à sable prêt (services nationaux simulés, données de test)\n"
            f"  API locale           : {api_url}  (ws : {api_url.replace('http', 'ws')}/ws)\n"
            f"  Page LGC de démo     : {demo.endpoints['demo']}\n"
            f"  Jeton de test        : {token}\n"
            f"  Profil jetable       : {profile_dir}\n"
            + "".join(f"  Service {n:<13}: {u}\n" for n, u in sorted(config.services.items()))
            + "Ctrl-C pour tout arrêter.\n",
            flush=True,
        )
        child_exit: asyncio.Future[Any] = loop.run_in_executor(None, proc.wait)
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait([child_exit, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        return 0 if stop.is_set() else (proc.returncode or 0)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await loop.run_in_executor(None, proc.wait, 5)
            except subprocess.TimeoutExpired:
                proc.kill()
        await stop_services(services)
        with contextlib.suppress(OSError):
            pointer.unlink()
        shutil.rmtree(profile_dir, ignore_errors=True)
