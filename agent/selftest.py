"""`vigie selftest`: does this build of Vigie work on this workstation? (frozen build and venv alike)

Unlike `vigie doctor` (is this installation configured right?), the self-test proves the program itself:
every built-in plugin imports and registers, the agent starts on a throwaway profile and answers
/health, the popup child starts when there is a display, a CPU worker process starts (agent/cpu_pool.py),
the PC/SC and PKCS#11 libraries load, the keyring stores and returns a secret, and the store's folder is
writable. It needs no national service and never touches the user's data (the real store is only locked
for writing, then released).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import secrets
import socket
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from agent.config import Config, load_config
from agent.doctor import FAIL, OK, WARN, Check, render
from agent.errors import ConfigError
from agent.secrets import SecretStore

START_TIMEOUT = 20.0
POPUP_TIMEOUT = 15.0
POOL_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_build() -> Check:
    """A frozen build must not offer the sandbox (its stand-ins answer like national services)."""
    frozen = bool(getattr(sys, "frozen", False))
    from agent.cli import SANDBOX_GROUP

    # The sandbox extension announces itself by entry points (how `vigie` finds it); the frozen build's
    # metadata leaves them out and tests/installer checks its table of contents has no sandbox module.
    if not importlib.metadata.entry_points(group=SANDBOX_GROUP):
        return Check("Programme", OK, "version installée (sans bac à sable)" if frozen else "sans bac à sable")
    if frozen:
        return Check("Programme", FAIL, "la version installée contient le bac à sable (erreur de fabrication)")
    return Check("Programme", OK, "environnement de développement (bac à sable disponible)")


def check_plugins_load(config: Config) -> Check:
    from agent.plugins import DEFAULT_PLUGINS, PluginHost

    host = PluginHost()
    try:
        host.load(config.disabled_plugins)
    except Exception as exc:
        return Check("Modules", FAIL, f"chargement impossible : {type(exc).__name__}: {exc}")
    missing = [name for name in DEFAULT_PLUGINS if name not in host.states]
    if missing:
        return Check("Modules", FAIL, f"modules absents : {', '.join(missing)}")
    return Check("Modules", OK, f"{len(host.states)} chargés : {', '.join(host.states)}")


def _throwaway(config: Config, root: Path) -> Config:
    """The user's plugin settings on a private port, store and log folder; no popup or tray (checked apart)."""
    plugins = {name: dict(section) for name, section in config.plugins.items()}
    plugins.setdefault("ui", {}).update({"popup": False, "tray": False})
    return replace(
        config,
        api=replace(config.api, port=_free_port()),
        store=replace(config.store, path=root / "selftest.sqlite3", url=""),  # never the practice's shared store
        log=replace(config.log, dir=root / "log", console=False),
        plugins=plugins,
    )


async def check_agent_start(config: Config) -> list[Check]:
    """Start a real agent, GET /health over HTTP, read every plugin's status, stop it."""
    import aiohttp

    from agent.app import Agent

    with tempfile.TemporaryDirectory(prefix="vigie-selftest-") as tmp:
        agent = Agent(_throwaway(config, Path(tmp)))
        began = time.monotonic()
        try:
            await asyncio.wait_for(agent.start(), START_TIMEOUT)
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(f"{agent.server.url}/health") as resp:
                health = await resp.json()
            elapsed = time.monotonic() - began
            if resp.status != 200 or health.get("status") != "ok":
                return [Check("Démarrage de l'agent", FAIL, f"/health a répondu {resp.status} {health}")]
            rows = [Check("Démarrage de l'agent", OK, f"/health en {elapsed:.2f} s (version {health.get('version')})")]
            for state in agent.plugins.states.values():
                if state.status == "ok":
                    continue
                level = FAIL if state.status not in ("degraded", "disabled", "starting") else WARN
                rows.append(Check(f"Module {state.name}", level, f"{state.status} : {state.reason or ''}".rstrip(" :")))
            return rows
        except TimeoutError:
            return [Check("Démarrage de l'agent", FAIL, f"pas démarré en {START_TIMEOUT:.0f} s")]
        except Exception as exc:
            return [Check("Démarrage de l'agent", FAIL, f"{type(exc).__name__}: {exc}")]
        finally:
            with contextlib.suppress(Exception):
                await agent.stop()


def has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def check_popup() -> Check:
    """The popup child (a second program of the same executable in the frozen build) says `ready`."""
    if not has_display():
        return Check("Fenêtre (popup)", WARN, "pas d'écran (DISPLAY) : fenêtre non vérifiée")
    from agent.popup.host import PopupProcess, popup_command
    from agent.rpc import RpcRegistry

    popup = PopupProcess(RpcRegistry())
    await popup.start()
    try:
        await asyncio.wait_for(popup.ready.wait(), POPUP_TIMEOUT)
    except TimeoutError:
        return Check("Fenêtre (popup)", FAIL, f"« {' '.join(popup_command())} » n'a pas démarré en "
                                              f"{POPUP_TIMEOUT:.0f} s")
    finally:
        await popup.stop()
    return Check("Fenêtre (popup)", OK, "processus de la fenêtre démarré")


def check_pcsc_library() -> Check:
    """pyscard's extension and the system's PC/SC library load; a stopped service is only a warning."""
    try:
        from smartcard import scard  # type: ignore[import-not-found,unused-ignore]
    except Exception as exc:
        return Check("Bibliothèque PC/SC", FAIL, f"pyscard ne se charge pas : {exc}")
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        message = scard.SCardGetErrorMessage(hresult).strip()
        return Check("Bibliothèque PC/SC", WARN, f"bibliothèque chargée, service PC/SC injoignable ({message})")
    scard.SCardReleaseContext(context)
    return Check("Bibliothèque PC/SC", OK, "bibliothèque chargée, service PC/SC joignable")


def check_pkcs11_libraries(config: Config) -> Check:
    """python-pkcs11 loads, and so does every PKCS#11 module found where the card layer looks."""
    from hardware.probe import pkcs11_candidates

    try:
        import pkcs11
    except Exception as exc:
        return Check("Bibliothèques PKCS#11", FAIL, f"python-pkcs11 ne se charge pas : {exc}")
    configured = config.plugin_settings("cards").get("pkcs11_module")
    found = [p for p in [*([Path(str(configured))] if configured else []), *pkcs11_candidates()] if p.exists()]
    if not found:
        return Check("Bibliothèques PKCS#11", WARN, "aucun module PKCS#11 installé (Cryptolib CPS) : cartes CPS "
                                                   "indisponibles")
    loaded, failed = [], []
    for path in dict.fromkeys(p.resolve() for p in found):  # /usr/lib/softhsm/ is a link to the real one
        try:
            lib = pkcs11.lib(str(path))
            loaded.append(f"{path.name} ({str(lib.manufacturer_id).strip() or '?'})")
        except Exception as exc:
            failed.append(f"{path} : {type(exc).__name__}: {exc}")
    if failed:
        return Check("Bibliothèques PKCS#11", FAIL, "; ".join(failed))
    return Check("Bibliothèques PKCS#11", OK, ", ".join(loaded))


def check_keyring() -> Check:
    """A real round trip through the OS keyring (the organisation's passphrases live there)."""
    store = SecretStore()
    if not SecretStore.backend_usable():
        return Check("Trousseau (keyring)", FAIL, f"{SecretStore.backend_name()} : aucun trousseau du système "
                                                  "(les secrets ne peuvent pas être gardés)")
    name, value = "selftest.probe", secrets.token_hex(8)
    try:
        store.set(name, value)
        back = store.get(name)
        store.delete(name)
    except Exception as exc:
        return Check("Trousseau (keyring)", FAIL, f"{SecretStore.backend_name()} : {type(exc).__name__}: {exc}")
    if back != value:
        return Check("Trousseau (keyring)", FAIL, f"{SecretStore.backend_name()} : secret relu différent")
    return Check("Trousseau (keyring)", OK, f"{SecretStore.backend_name()} : écriture et relecture")


async def check_cpu_pool() -> Check:
    """The process pool MSSanté composing uses (agent/cpu_pool.py) starts a worker: `spawn` re-runs this
    program as a child, which a frozen build only survives through `multiprocessing.freeze_support()`."""
    from agent.cpu_pool import CpuPool

    pool = CpuPool("selftest", timeout=POOL_TIMEOUT)
    try:
        pid = await pool.run(os.getpid)
    except Exception as exc:  # any failure is the row's French reason
        return Check("Processus de calcul", FAIL, f"le processus de calcul ne démarre pas ({type(exc).__name__}) : "
                                                   "la composition des messages MSSanté serait impossible")
    finally:
        await pool.close()
    if pid == os.getpid():
        return Check("Processus de calcul", FAIL, "le calcul n'a pas eu lieu dans un processus séparé")
    return Check("Processus de calcul", OK, "un processus séparé démarre et répond")


def check_store_writable(config: Config) -> Check:
    """The real store's folder takes a new file and the store takes a write lock; nothing is changed."""
    path = config.store.path
    if config.store.url:
        return Check("Base locale inscriptible", WARN, "base partagée du cabinet (PostgreSQL) : vérifiée par "
                                                       "`vigie doctor`, pas par l'auto-test")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".selftest-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
        if path.exists():
            conn = sqlite3.connect(str(path), timeout=5, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.close()
    except (OSError, sqlite3.Error) as exc:
        return Check("Base locale inscriptible", FAIL, f"{path} : {type(exc).__name__}: {exc}")
    return Check("Base locale inscriptible", OK, str(path if path.exists() else path.parent))


async def run_checks(config_path: Path | None) -> list[Check]:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        return [Check("Configuration", FAIL, f"{exc.key} : {exc.message_fr}")]
    checks = [check_build(), check_plugins_load(config)]
    checks += await check_agent_start(config)
    checks.append(await check_popup())
    checks.append(await check_cpu_pool())
    loop = asyncio.get_running_loop()
    # Library loads and keyring calls can block (D-Bus, pcscd): keep them off the loop.
    checks.append(await loop.run_in_executor(None, check_pcsc_library))
    checks.append(await loop.run_in_executor(None, check_pkcs11_libraries, config))
    checks.append(await loop.run_in_executor(None, check_keyring))
    checks.append(await loop.run_in_executor(None, check_store_writable, config))
    return checks


def main(config_path: Path | None) -> int:
    # The throwaway agent's warnings (plugin not configured...) come back as rows: keep stderr for the verdict.
    logging.getLogger().addHandler(logging.NullHandler())
    checks = asyncio.run(run_checks(config_path))
    print(render(checks))
    failed = [c for c in checks if c.level == FAIL]
    if failed:
        print(f"\nAuto-test en échec ({len(failed)} point(s)) : " + " ; ".join(c.name for c in failed), file=sys.stderr)
        return 1
    print("\nAuto-test réussi.")
    return 0
