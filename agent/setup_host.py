"""The host's own set-up step: which practice software (LGC) origins may use Vigie, and the API port."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from agent.config import DEFAULT_PORT, Config, config_from_dict
from agent.errors import ConfigError
from agent.setup_steps import SetupChanges, SetupField, SetupStep, split_list


def _fields(config: Config) -> list[SetupField]:
    return [
        SetupField("allowed_origins", "Adresses (origines) des logiciels de cabinet autorisés", "text",
                   default=", ".join(config.api.allowed_origins), required=False,
                   help="Séparées par des virgules, par exemple https://lgc.example.fr (sans / final). "
                        "Les autres devront être acceptés par appairage."),
        SetupField("port", "Port de l'API locale", "text", default=str(config.api.port),
                   help=f"{DEFAULT_PORT} sauf si un autre programme l'utilise."),
    ]


def _port(values: Mapping[str, str]) -> int | None:
    try:
        port = int(values.get("port", "").strip())
    except ValueError:
        return None
    return port if 1 <= port <= 65535 else None


def _verify(values: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    port = _port(values)
    try:
        config_from_dict({"api": {"allowed_origins": split_list(values.get("allowed_origins", ""))}})
    except ConfigError as exc:
        problems.append(exc.message_fr[0].upper() + exc.message_fr[1:] + ".")
    if port is None:
        problems.append("Le port doit être un nombre entre 1 et 65535.")
    elif not _port_usable(port):
        problems.append(f"Le port {port} est occupé par un autre programme : choisissez-en un autre.")
    return problems


def _port_usable(port: int) -> bool:
    """Free, or already Vigie's (the settings page runs inside the agent listening on it)."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1.0) as resp:
            if json.load(resp).get("status") == "ok":
                return True
    except (OSError, ValueError):
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _apply(values: Mapping[str, str]) -> SetupChanges:
    return SetupChanges(config={"api": {"allowed_origins": split_list(values.get("allowed_origins", "")),
                                        "port": _port(values) or DEFAULT_PORT}})


API_STEP = SetupStep(
    id="api", title="Logiciels de cabinet et API locale", fields=_fields, verify=_verify, apply=_apply,
    intro="Vigie n'accepte que les logiciels de cabinet que vous autorisez, sur ce poste seulement.", order=10)
