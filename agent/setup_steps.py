"""First-run set-up: the steps plugins contribute (`register_setup_steps`) and how their answers are saved.

The host knows no INS, DMP or mail domain: each capability contributes its own steps, each with French
fields, a `verify(values)` that checks what was entered (certificate dates, a reachable endpoint...) and an
`apply(values)` that turns the answers into config changes and keyring secrets. `vigie setup`
(agent/setup_cli.py) and the settings page (agent/web/setup.html through agent/setup_rpc.py) drive the
same steps. Answers are strings, as a terminal or a form gives them; a list is comma-separated.

The configuration file is patched, not regenerated: keys a step does not own are kept as they were, and
it is written atomically with mode 0600. Secrets never reach the file: they go to the keyring.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from agent.config import Config, config_from_dict, default_config_path
from agent.errors import ConfigError, UserFacingError
from agent.hookcall import call_registration
from agent.plugins import PluginHost
from agent.secrets import SecretStore

KINDS = ("text", "url", "choice", "secret", "file")
DELETE = object()  # a config patch value removing its key (e.g. the certificate path in CPS mode)


@dataclass(frozen=True)
class SetupField:
    """One question. `default` is the current configuration's value (never a secret's value)."""

    name: str
    label: str  # French
    kind: str = "text"  # text | url | choice | secret | file
    choices: tuple[tuple[str, str], ...] = ()  # (value, French label)
    default: str = ""
    required: bool = True
    help: str = ""  # French
    when: tuple[str, str] | None = None  # asked only when field `when[0]` has the value `when[1]`
    imported: bool = False  # a `file` read once into the keyring (a PKCS#12), not referenced: emptied once saved

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown setup field kind {self.kind!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "kind": self.kind, "default": self.default,
                "choices": [{"value": v, "label": label} for v, label in self.choices],
                "required": self.required, "help": self.help,
                "when": {"field": self.when[0], "value": self.when[1]} if self.when else None,
                "imported": self.imported}


@dataclass
class SetupChanges:
    """What `apply` produces: a nested patch of the TOML file, keyring secrets (name -> value), and binary
    keyring secrets (name -> bytes, e.g. an imported PKCS#12; stored chunked by `SecretStore.set_blob`)."""

    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class SetupStep:
    """A step of the set-up; `fields(config)` gives the questions with the current values as defaults.

    `verify(values)` and `apply(values)` may block (files, network with a short timeout): callers on the
    event loop run them in a thread. `verify` returns French problems, empty when all is well.
    """

    id: str
    title: str  # French
    fields: Callable[[Config], list[SetupField]]
    verify: Callable[[Mapping[str, str]], list[str]]
    apply: Callable[[Mapping[str, str]], SetupChanges]
    intro: str = ""  # French, one or two sentences
    order: int = 50


class SetupRegister:
    """`register(step)` as `register_setup_steps` receives it, bound to one plugin."""

    def __init__(self, steps: dict[str, SetupStep], plugin: str) -> None:
        self._steps, self._plugin = steps, plugin

    def __call__(self, step: SetupStep) -> None:
        from agent.errors import RegistrationError

        if step.id in self._steps:
            raise RegistrationError(f"setup step {step.id!r} registered twice (plugin {self._plugin})")
        self._steps[step.id] = step


def collect_steps(host: PluginHost) -> list[SetupStep]:
    steps: dict[str, SetupStep] = {}
    call_registration(host, "register_setup_steps", lambda plugin: SetupRegister(steps, plugin))
    return sorted(steps.values(), key=lambda s: (s.order, s.id))


def visible(fields: list[SetupField], values: Mapping[str, str]) -> list[SetupField]:
    """The fields asked given the answers so far (a `when` field follows the answer it depends on)."""
    return [f for f in fields if f.when is None or values.get(f.when[0], "") == f.when[1]]


def missing(fields: list[SetupField], values: Mapping[str, str]) -> list[str]:
    return [f"« {f.label} » est obligatoire." for f in visible(fields, values)
            if f.required and f.kind != "secret" and not values.get(f.name, "").strip()]


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# -- verification helpers shared by the steps -------------------------------------------------------

def reachable(url: str, *, timeout: float = 3.0, label: str = "Le service") -> list[str]:
    """A TCP connection to the URL's host and port within `timeout` (the service's own checks come later)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return [f"{label} : adresse invalide « {url} » (attendu : https://hôte[:port]/chemin)."]
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return []
    except OSError as exc:
        return [f"{label} : {parts.hostname}:{port} injoignable ({exc.strerror or type(exc).__name__}) ; "
                "vérifiez l'adresse et le réseau."]


def existing_files(text: str, label: str) -> list[str]:
    return [f"{label} : fichier introuvable « {p} »." for p in split_list(text) if not Path(p).expanduser().is_file()]


# -- the configuration file ------------------------------------------------------------------------

def read_raw(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"TOML illisible : {exc}", f"unreadable TOML: {exc}") from exc


def merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif isinstance(value, Mapping):
            out[key] = merge({}, value)
        else:
            out[key] = value
    return out


def write_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write the TOML next to its final place, 0600 before any byte, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(dict(data), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class SetupSession:
    """Applies verified answers to one configuration file and the keyring (CLI and RPC alike)."""

    def __init__(self, path: Path | None, steps: list[SetupStep], secrets: SecretStore | None = None) -> None:
        self.path = path or default_config_path()
        self.steps = {s.id: s for s in steps}
        self.secrets = secrets or SecretStore()

    def config(self) -> Config:
        return config_from_dict(read_raw(self.path), source=self.path)

    def check(self, step_id: str, values: Mapping[str, str]) -> list[str]:
        step = self.step(step_id)
        return missing(step.fields(self.config()), values) or step.verify(values)

    def save(self, step_id: str, values: Mapping[str, str]) -> list[str]:
        """Verify, then write; the problems when there are any (nothing is written then)."""
        problems = self.check(step_id, values)
        if problems:
            return problems
        try:
            changes = self.step(step_id).apply(values)
        except OSError as exc:  # a file to import gone since it was verified
            return [f"Fichier illisible au moment de l'enregistrer ({exc.strerror or type(exc).__name__}) : "
                    "rien n'a été enregistré."]
        except UserFacingError as exc:  # e.g. a file to import replaced since it was verified
            return [exc.message]
        merged = merge(read_raw(self.path), changes.config)
        try:
            config_from_dict(merged)  # the host's own sections stay valid
        except ConfigError as exc:
            return [f"{exc.key} : {exc.message_fr}"]
        try:
            for name, secret in changes.secrets.items():
                self.secrets.set(name, secret)
            for name, data in changes.blobs.items():
                self.secrets.set_blob(name, data)
        except Exception as exc:  # the keyring backend's own errors vary by OS
            return [f"Le trousseau du système refuse le secret ({type(exc).__name__}) : rien n'a été enregistré."]
        write_atomic(self.path, merged)
        return []

    def step(self, step_id: str) -> SetupStep:
        if step_id not in self.steps:
            raise UserFacingError(f"Étape de configuration inconnue : {step_id}")
        return self.steps[step_id]
