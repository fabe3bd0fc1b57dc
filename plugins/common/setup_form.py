"""The two ends of a capability plugin's set-up form that read its settings (plugins/*/setup.py).

`current(config, plugin, parse, default)`: the settings the form starts from (the defaults when the
file's section does not parse: the form is how it gets fixed). `parsed(parse, raw)`: the answers through
the plugin's own `parse_settings` (same rules and French messages as at start-up), or the French problem
naming the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from agent.config import Config
from agent.errors import ConfigError

S = TypeVar("S")
Parse = Callable[[dict[str, Any]], S]


def current(config: Config, plugin: str, parse: Parse[S], default: Callable[[], S]) -> S:
    try:
        return parse(config.plugin_settings(plugin))
    except ConfigError:
        return default()


def parsed(parse: Parse[S], raw: Mapping[str, Any]) -> tuple[S | None, list[str]]:
    try:
        return parse(dict(raw)), []
    except ConfigError as exc:
        return None, [f"{exc.key.rsplit('.', 1)[-1]} : {exc.message_fr}"]
