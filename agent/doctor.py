"""`vigie doctor`: checks a practitioner's support person can read over the phone.

Each check returns a row (name, level, detail). `fail` rows make the command exit non-zero; `warn`
rows are things that limit Vigie on this workstation without breaking it (no card middleware on a
secretary's PC, for instance).

When an agent runs (the sandbox included, found through its pointer file), the checks are about *its*
profile and what *it* sees: the readers through its own PC/SC connection (the sandbox's pcscd is
private to it, so probing the system's from here would contradict it) and its keyring backend.

Capabilities add their own rows (`register_doctor_checks`: INSi, DMP, MSSanté certificates and endpoints);
each runs in a thread of its own, so a slow endpoint costs its own timeout once, not one per row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import stat
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.client import AgentClient, running_sandbox_profile
from agent.config import Config, load_config
from agent.errors import ConfigError, RegistrationError, UserFacingError
from agent.secrets import SecretStore
from agent.spool import FILE_NAME as SPOOL_FILE
from agent.spool import doctor_note, waiting_in
from agent.store import Store
from hardware import probe

OK, WARN, FAIL = "ok", "attention", "échec"


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    detail: str


@dataclass(frozen=True)
class DoctorContext:
    """What a capability's check gets: the configuration, the keyring (None when the one holding the secrets
    is a running agent's, in its own process: the sandbox's memory keyring), the running agent's plugins."""

    config: Config
    secrets: SecretStore | None
    running: Mapping[str, Mapping[str, Any]]  # plugin name -> {"status", "reason"} of the agent in operation

    def agent_says(self, plugin: str) -> tuple[str, str] | None:
        """(status, French reason) of `plugin` in the running agent, None when no agent runs."""
        state = self.running.get(plugin)
        return (str(state.get("status")), str(state.get("reason") or "")) if state else None


@dataclass(frozen=True)
class DoctorCheck:
    """A capability's rows (`register_doctor_checks`): `run(context)` blocks (keyring, files, network)."""

    name: str
    run: Callable[[DoctorContext], list[Check]]
    order: int = 50  # rows sorted by it (the set-up steps' order: INSi 20, DMP 40, MSSanté 50)


CAPABILITY_TIMEOUT = 20.0  # seconds for all the capabilities' rows (each network step has its own, shorter)


def capability_checks(context: DoctorContext) -> list[Check]:
    """The rows the loaded plugins contribute, by `order` (each check in its own thread)."""
    from agent.hookcall import call_registration
    from agent.plugins import PluginHost

    host = PluginHost()
    host.load(context.config.disabled_plugins)
    found: list[DoctorCheck] = []

    def make_register(plugin: str) -> Callable[[DoctorCheck], None]:
        def register(check: DoctorCheck) -> None:
            if any(c.name == check.name for c in found):
                raise RegistrationError(f"doctor check {check.name!r} registered twice (plugin {plugin})")
            found.append(check)
        return register

    call_registration(host, "register_doctor_checks", make_register)
    if not found:
        return []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(found), thread_name_prefix="vigie-doctor")
    futures = [(c, pool.submit(c.run, context)) for c in sorted(found, key=lambda c: (c.order, c.name))]
    rows: list[Check] = []
    for check, future in futures:
        try:
            rows += future.result(timeout=CAPABILITY_TIMEOUT)
        except concurrent.futures.TimeoutError:
            rows.append(Check(check.name, FAIL, f"vérification sans réponse après {CAPABILITY_TIMEOUT:.0f} s"))
        except Exception as exc:  # a plugin's bug: one row, not a traceback
            rows.append(Check(check.name, FAIL, f"vérification impossible ({type(exc).__name__})"))
    pool.shutdown(wait=False, cancel_futures=True)
    return rows


def check_practice_store(config: Config) -> Check:
    """`[store] url`: the practice's PostgreSQL answers, migrates, and says which server and TLS."""
    from agent.store_pg import PostgresStore

    store = PostgresStore(config.store.url, pool_size=2)
    where = store.describe()

    async def probe_db() -> tuple[str, bool, int]:
        try:
            await store.open()
            row = await store.fetchone("SELECT current_setting('server_version'),"
                                       " COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)")
            agents = await store.fetchone("SELECT COUNT(DISTINCT claimed_by) FROM outbox WHERE claimed_by IS NOT NULL")
            assert row is not None and agents is not None
            return str(row[0]), bool(row[1]), int(agents[0])
        finally:
            await store.close()

    try:
        version, tls, agents = asyncio.run(probe_db())
    except UserFacingError as exc:
        return Check("Base du cabinet", FAIL, f"{where} : {exc.message}")
    except Exception as exc:
        return Check("Base du cabinet", FAIL, f"{where} : {type(exc).__name__}")
    detail = f"{where} (PostgreSQL {version}, {'TLS' if tls else 'sans TLS'}, {agents} poste(s) vu(s) à l'œuvre)"
    if not tls and not where.startswith(("postgresql://127.", "postgresql://localhost")):
        return Check("Base du cabinet", WARN, detail + " : ajoutez ?sslmode=verify-full à l'URL sur le réseau")
    return Check("Base du cabinet", OK, detail)


def check_store(config: Config) -> Check:
    if config.store.url:
        check = check_practice_store(config)
        waiting = waiting_in(Path(config.store.path).parent / SPOOL_FILE)  # work kept during an outage
        if waiting:
            return Check(check.name, check.level if check.level == FAIL else WARN,
                         f"{check.detail} ; {doctor_note(waiting)}")
        return check
    path = config.store.path

    async def open_close() -> None:
        store = Store(path, fsync=config.store.fsync)
        try:
            await store.open()
            row = await store.fetchone("PRAGMA journal_mode")
            if row is None or row[0] != "wal":
                raise RuntimeError("journal_mode is not WAL")
        finally:
            await store.close()

    try:
        asyncio.run(open_close())
    except Exception as exc:
        return Check("Base locale", FAIL, f"{path} : {type(exc).__name__}: {exc}")
    mode = stat.S_IMODE(path.stat().st_mode)
    if sys.platform != "win32" and mode & 0o077:
        return Check("Base locale", FAIL, f"{path} : droits {oct(mode)} trop ouverts (attendu 0600)")
    return Check("Base locale", OK, f"{path} (WAL, 0600)")


def check_port(config: Config) -> Check:
    port = config.api.port
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=1.5) as resp:
            data = json.load(resp)
        if data.get("status") == "ok":
            return Check("Port de l'API locale", OK, f"{port} : agent Vigie {data.get('version')} déjà à l'écoute")
    except (OSError, ValueError):
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return Check("Port de l'API locale", FAIL, f"{port} occupé par un autre programme (changez [api] port)")
    return Check("Port de l'API locale", OK, f"{port} libre")


MEMORY_KEYRING = "agent.secrets.MemoryKeyring"


def check_keyring(backend: str | None = None) -> Check:
    """`backend`: the running agent's (agent.info); None: the one this process would use."""
    name = backend or SecretStore.backend_name()
    if name == MEMORY_KEYRING:
        return Check("Trousseau (keyring)", WARN, f"{name} : trousseau en mémoire, les secrets (phrase de passe "
                     "du certificat, mots de passe) sont perdus à chaque redémarrage (normal pour le bac à sable)")
    if name.startswith("keyring.backends.fail") or name.startswith("keyring.backends.null"):
        return Check("Trousseau (keyring)", WARN, f"{name} : aucun trousseau du système, secrets impossibles à garder")
    return Check("Trousseau (keyring)", OK, name)


def check_agent(config: Config, profile: Path | None) -> tuple[Check, dict[str, Any] | None]:
    """Whether an agent answers on this profile's port, and its agent.info when the profile has a token."""
    client = AgentClient(f"http://127.0.0.1:{config.api.port}", config.api.tokens[0] if config.api.tokens else None)
    health = client.health()
    if health is None or health.get("status") != "ok":
        return Check("Agent Vigie", OK, "arrêté : seule l'installation est vérifiée"), None
    try:
        info: dict[str, Any] | None = client.call("agent.info")
    except UserFacingError as exc:
        return Check("Agent Vigie", WARN, f"en marche ({client.url}) mais sans réponse détaillée : {exc.message}"), None
    kind = "bac à sable" if (info or {}).get("sandbox") else "agent"
    where = f" ; profil {profile}" if profile else ""
    return Check("Agent Vigie", OK, f"{kind} {health.get('version')} en marche sur {client.url}{where}"), info


def check_pcsc_of(info: dict[str, Any]) -> Check | None:
    """The readers as the running agent sees them (its card plugin's status), None without a card plugin."""
    pcsc = info.get("services", {}).get("pcsc")
    if not isinstance(pcsc, dict):
        return None
    readers = [r for r in info.get("readers", []) if isinstance(r, dict)]
    if pcsc.get("state") != "ok":
        reason = pcsc.get("reason") or pcsc.get("state")
        return Check("Service PC/SC (lecteurs)", WARN, f"vu par l'agent en marche : indisponible ({reason})")
    cards = [f"{r.get('name')} : {'carte ' + str(r['card']) if r.get('card') else 'vide'}" for r in readers]
    listed = f" ({' ; '.join(cards)})" if cards else ""
    return Check("Service PC/SC (lecteurs)", OK, f"vu par l'agent en marche : service PC/SC actif, "
                 f"{len(readers)} lecteur(s){listed}")


SERVICE_LABELS = {"pcsc": "Lecteurs virtuels du bac à sable (vpcd)", "demo": "Page LGC de démonstration"}


def check_service(name: str, url: str, timeout: float = 2.0) -> Check:
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname
    label = SERVICE_LABELS.get(name, f"Service {name}")
    if not host:
        return Check(label, FAIL, f"URL invalide : {url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return Check(label, FAIL, f"{host}:{port} injoignable ({exc.strerror or exc})")
    return Check(label, OK, f"{host}:{port} joignable")


def check_scanners(config: Config) -> Check:
    """Barcode scanners: the `[plugins.scanner]` devices (read raw here: the plugin owns its schema)."""
    from hardware.scanners.probe import scanners_status

    raw = config.plugin_settings("scanner")
    serial = [item if isinstance(item, str) else str(item.get("port", "")) for item in raw.get("serial") or []
              if isinstance(item, str | dict)]
    result = scanners_status(serial, bool(raw.get("hid")))
    return Check("Douchettes (série, HID POS)", OK if result.ok else WARN, result.detail)


def run_checks(config_path: Path | None) -> list[Check]:
    # No file named and no token in the default one: the running sandbox's profile, when there is one.
    profile = config_path
    try:
        config = load_config(config_path)
        if config_path is None and not config.api.tokens and (running := running_sandbox_profile()) is not None:
            profile, config = running, load_config(running)
    except ConfigError as exc:
        return [Check("Configuration", FAIL, f"{exc.key} : {exc.message_fr}")]
    checks = [Check("Configuration", OK, str(config.source or "valeurs par défaut (aucun fichier)"))]
    agent, info = check_agent(config, profile)
    checks.append(agent)
    checks.append(check_store(config))
    checks.append(check_port(config))
    pcsc_row = check_pcsc_of(info) if info is not None else None
    if pcsc_row is None:
        pcsc = probe.pcsc_status()
        pcsc_row = Check("Service PC/SC (lecteurs)", OK if pcsc.ok else WARN, pcsc.detail)
    checks.append(pcsc_row)
    p11 = probe.pkcs11_modules()
    checks.append(Check("Modules PKCS#11 (CPS)", OK if p11.ok else WARN, p11.detail))
    checks.append(check_scanners(config))
    checks.append(check_keyring((info or {}).get("keyring")))
    checks.extend(check_service(name, url) for name, url in sorted(config.services.items()))
    # A running agent's memory keyring (the sandbox's) lives in its process: its secrets are not visible here.
    foreign = info is not None and info.get("keyring") == MEMORY_KEYRING
    states = {str(s.get("name")): s for s in (info or {}).get("plugins", []) if isinstance(s, dict)}
    checks.extend(capability_checks(DoctorContext(config, None if foreign else SecretStore(), states)))
    return checks


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'Vérification'.ljust(width)}  {'État':<9}  Détail", "-" * (width + 40)]
    lines += [f"{c.name.ljust(width)}  {c.level:<9}  {c.detail}" for c in checks]
    return "\n".join(lines)


def main(config_path: Path | None) -> int:
    checks = run_checks(config_path)
    print(render(checks))
    return 1 if any(c.level == FAIL for c in checks) else 0


