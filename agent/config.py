"""Configuration: one TOML file, `VIGIE_*` environment overrides, strict validation.

The file lives in the user config directory (platformdirs) unless `--config FILE` is given. Every
section is a dataclass; unknown keys and wrong types are refused with a message that names the key,
in French and in English, because the person fixing it may be a practitioner or a developer.
Plugin settings live in `[plugins.<name>]` tables that each plugin validates itself.
Secrets never live here: see `agent.secrets` (keyring).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from agent.errors import ConfigError

APP_NAME = "vigie"
DEFAULT_PORT = 8743
ENV_PREFIX = "VIGIE_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def default_config_path() -> Path:
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def _default_store_path() -> Path:
    return platformdirs.user_data_path(APP_NAME) / "vigie.sqlite3"


def _default_log_dir() -> Path:
    return platformdirs.user_log_path(APP_NAME)


@dataclass
class ApiConfig:
    """`[api]`: the local API the LGC talks to (see docs/local-api.md)."""

    port: int = DEFAULT_PORT
    allowed_origins: list[str] = field(default_factory=list)
    # Plain tokens for development and tests only; paired clients' tokens are stored hashed.
    tokens: list[str] = field(default_factory=list)
    auto_accept_pairing: bool = False
    pairing_timeout: float = 120.0
    max_message_bytes: int = 1024 * 1024
    rate_per_second: float = 50.0
    rate_burst: int = 100


@dataclass
class StoreConfig:
    """`[store]`: the database holding the outbox, paired clients, settings and plugin tables.

    The embedded SQLite file at `path` by default (one workstation). `url = "postgresql://…"` puts it in
    the practice's PostgreSQL, shared by every workstation's agent (add `?sslmode=verify-full` for TLS);
    `workstation` names this agent among them (default: host name and API port).
    """

    path: Path = field(default_factory=_default_store_path)
    url: str = ""
    pool_size: int = 4
    workstation: str = ""
    # synchronous=FULL: each commit is fsynced (survives power loss, not only a crash). Costs
    # throughput; see docs/benchmarks.md.
    fsync: bool = False


@dataclass
class LogConfig:
    """`[log]`: level, folder of the rotating file, and console output (on in sandbox/dev)."""

    level: str = "INFO"
    dir: Path = field(default_factory=_default_log_dir)
    console: bool = False


@dataclass
class Config:
    api: ApiConfig = field(default_factory=ApiConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    log: LogConfig = field(default_factory=LogConfig)
    disabled_plugins: list[str] = field(default_factory=list)
    # Endpoints of national services by name (the sandbox fills these with its loopback stand-ins).
    services: dict[str, str] = field(default_factory=dict)
    # `[plugins.<name>]` tables, passed to each plugin unvalidated: the plugin owns its schema.
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    sandbox: bool = False
    source: Path | None = None

    def plugin_settings(self, name: str) -> dict[str, Any]:
        return dict(self.plugins.get(name, {}))


_SECTIONS: dict[str, type] = {"api": ApiConfig, "store": StoreConfig, "log": LogConfig}
_TOP_LEVEL = {"disabled_plugins", "services", "plugins", "sandbox"}


def _type_name(tp: Any) -> tuple[str, str]:
    names = {
        int: ("un entier", "an integer"),
        float: ("un nombre", "a number"),
        bool: ("un booléen (true/false)", "a boolean (true/false)"),
        str: ("une chaîne", "a string"),
        Path: ("un chemin", "a path"),
    }
    if typing.get_origin(tp) is list:
        return ("une liste de chaînes", "a list of strings")
    return names.get(tp, (str(tp), str(tp)))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check `value` against the field type `tp`; accept only lossless conversions."""
    ok: bool
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is Path:
        ok = isinstance(value, str | Path) and str(value) != ""
        value = Path(os.path.expanduser(str(value))) if ok else value
    elif typing.get_origin(tp) is list:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = list(value) if ok else value
    else:  # pragma: no cover - a developer added a field of an unsupported type
        raise TypeError(f"unsupported config field type {tp!r} for {key}")
    if not ok:
        fr, en = _type_name(tp)
        raise ConfigError(key, f"la valeur doit être {fr}", f"the value must be {en}")
    return value


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _build_section(name: str, raw: Any) -> Any:
    cls = _SECTIONS[name]
    if not isinstance(raw, dict):
        raise ConfigError(name, "cette section doit être une table TOML", "this section must be a TOML table")
    types_ = _field_types(cls)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{name}.{key}"
        if key not in types_:
            raise ConfigError(dotted, "clé inconnue", "unknown key")
        values[key] = _coerce(dotted, value, types_[key])
    section = cls(**values)
    _validate_section(name, section)
    return section


def _validate_section(name: str, section: Any) -> None:
    if isinstance(section, ApiConfig):
        if not 0 <= section.port <= 65535:
            raise ConfigError("api.port", "port hors de 0..65535", "port outside 0..65535")
        for origin in section.allowed_origins:
            if "://" not in origin or origin.endswith("/"):
                raise ConfigError(
                    "api.allowed_origins",
                    f"origine invalide « {origin} » (attendu : schéma://hôte[:port], sans / final)",
                    f"invalid origin '{origin}' (expected scheme://host[:port], no trailing /)",
                )
        for token in section.tokens:
            if len(token) < 16:
                raise ConfigError(
                    "api.tokens", "jeton trop court (16 caractères minimum)", "token too short (16+ chars)"
                )
        if section.max_message_bytes < 1024:
            raise ConfigError("api.max_message_bytes", "1024 octets minimum", "at least 1024 bytes")
        if section.rate_per_second <= 0 or section.rate_burst <= 0:
            raise ConfigError("api.rate_per_second", "doit être positif", "must be positive")
    if isinstance(section, LogConfig):
        section.level = section.level.upper()
        if section.level not in LOG_LEVELS:
            raise ConfigError(
                "log.level", f"niveau inconnu (attendu : {', '.join(LOG_LEVELS)})",
                f"unknown level (expected one of {', '.join(LOG_LEVELS)})",
            )


def _env_value(raw: str, tp: Any, key: str) -> Any:
    """Parse an environment string into the TOML-like value `_coerce` expects."""
    if tp is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "oui", "on"):
            return True
        if low in ("0", "false", "no", "non", "off", ""):
            return False
        raise ConfigError(key, "booléen attendu (true/false)", "boolean expected (true/false)")
    if tp is int or tp is float:
        try:
            return tp(raw)
        except ValueError:
            fr, en = _type_name(tp)
            raise ConfigError(key, f"la valeur doit être {fr}", f"the value must be {en}") from None
    if typing.get_origin(tp) is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """`VIGIE_<SECTION>_<KEY>` overrides `[section] key`; `VIGIE_DISABLED_PLUGINS` is a CSV list."""
    for section, cls in _SECTIONS.items():
        for name, tp in _field_types(cls).items():
            env = f"{ENV_PREFIX}{section}_{name}".upper()
            if env in environ:
                data.setdefault(section, {})
                if isinstance(data[section], dict):
                    data[section][name] = _env_value(environ[env], tp, f"{section}.{name} ({env})")
    if f"{ENV_PREFIX}DISABLED_PLUGINS" in environ:
        data["disabled_plugins"] = _env_value(environ[f"{ENV_PREFIX}DISABLED_PLUGINS"], list[str], "")
    if f"{ENV_PREFIX}SANDBOX" in environ:
        data["sandbox"] = _env_value(environ[f"{ENV_PREFIX}SANDBOX"], bool, "sandbox")


def config_from_dict(data: Mapping[str, Any], *, source: Path | None = None) -> Config:
    data = dict(data)
    config = Config(source=source)
    for key, value in data.items():
        if key in _SECTIONS:
            setattr(config, key, _build_section(key, value))
        elif key == "disabled_plugins":
            config.disabled_plugins = _coerce(key, value, list[str])
        elif key == "sandbox":
            config.sandbox = _coerce(key, value, bool)
        elif key == "services":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(key, "table nom = \"URL\" attendue", "table of name = \"URL\" expected")
            config.services = dict(value)
        elif key == "plugins":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise ConfigError(key, "tables [plugins.<nom>] attendues", "[plugins.<name>] tables expected")
            config.plugins = {k: dict(v) for k, v in value.items()}
        else:
            raise ConfigError(key, "clé ou section inconnue", "unknown key or section")
    return config


def load_config(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (or the default file, which may be absent), apply env overrides, validate."""
    environ = os.environ if environ is None else environ
    explicit = path is not None
    file = Path(path) if path is not None else default_config_path()
    data: dict[str, Any] = {}
    if file.exists():
        try:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(file), f"TOML illisible : {exc}", f"unreadable TOML: {exc}") from exc
    elif explicit:
        raise ConfigError(str(file), "fichier introuvable", "file not found")
    _apply_env(data, environ)
    return config_from_dict(data, source=file if file.exists() else None)


def config_from_env(environ: Mapping[str, str] | None = None) -> Config:
    """The defaults with the `VIGIE_*` overrides only (no file): what the sandbox starts from without --config."""
    data: dict[str, Any] = {}
    _apply_env(data, os.environ if environ is None else environ)
    return config_from_dict(data)


def config_to_dict(config: Config) -> dict[str, Any]:
    """The TOML-serialisable form of `config` (paths as strings); used to write sandbox profiles."""

    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, Path):
            return str(obj)
        if isinstance(obj, dict):
            return {k: plain(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [plain(v) for v in obj]
        return obj

    out = {k: plain(v) for k, v in dataclasses.asdict(config).items() if k != "source"}
    out["api"] = plain(config.api)
    out["store"] = plain(config.store)
    out["log"] = plain(config.log)
    return out


__all__ = [
    "ApiConfig", "Config", "LogConfig", "StoreConfig", "config_from_dict", "config_from_env", "config_to_dict",
    "default_config_path", "load_config",
]
