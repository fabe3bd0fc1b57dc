"""The two ends of a capability plugin's set-up form that read its settings (plugins/*/setup.py).

`current(config, plugin, parse, default)`: the settings the form starts from (the defaults when the
file's section does not parse: the form is how it gets fixed). `parsed(parse, raw)`: the answers through
the plugin's own `parse_settings` (same rules and French messages as at start-up), or the French problem
naming the key. `ipp_oid_field` / `ipp_oid_value` / `ipp_oid_problems`: the practice's OID for its local
patient ids (IPP), asked the same way by the DMP and MSSanté steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from agent.config import Config
from agent.errors import ConfigError
from agent.setup_steps import DELETE, SetupField

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


_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")


def ipp_oid_field(current: str | None) -> SetupField:
    return SetupField("ipp_oid", "OID des identifiants patients du cabinet (IPP)", "text", default=current or "",
                      required=False,
                      help="Facultatif. Autorité d'affectation des numéros de dossier du logiciel (ex. 1.2.250.1.…) : "
                           "sans elle, un patient dont l'INS n'est pas qualifiée ne peut pas être nommé dans un CDA.")


def ipp_oid_value(values: Mapping[str, str]) -> str:
    return values.get("ipp_oid", "").strip()


def ipp_oid_problems(values: Mapping[str, str]) -> list[str]:
    oid = ipp_oid_value(values)
    if oid and not _OID.fullmatch(oid):
        return ["OID des identifiants patients : une suite de nombres séparés par des points (ex. 1.2.250.1.999.1)."]
    return []


def ipp_oid_config(values: Mapping[str, str]) -> Any:
    """The config value to write: the OID, or DELETE when left empty."""
    return ipp_oid_value(values) or DELETE
