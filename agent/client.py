"""A small synchronous client of the local API for CLI subcommands that act on a running agent.

It finds the agent from the same configuration the agent uses (`--config`, else the default file):
the port and a token from `api.tokens`. When that configuration has no token and a sandbox is
running, it uses the profile that sandbox advertised: one pointer file per sandbox, named by its API
port (`sandbox-<port>.json` in the user's state folder); with several running, it says which to choose.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from agent.config import APP_NAME, Config, load_config
from agent.errors import UserFacingError

POINTER_PREFIX = "sandbox-"


def sandbox_pointer_path(port: int) -> Path:
    """Where the sandbox listening on `port` advertises its profile (written by sandbox/supervisor.py)."""
    return platformdirs.user_state_path(APP_NAME) / f"{POINTER_PREFIX}{port}.json"


def running_sandboxes() -> list[dict[str, Any]]:
    """The pointers of the sandboxes still running (`port`, `config`, `api_url`, `pid`), by port."""
    found = []
    for path in sorted(platformdirs.user_state_path(APP_NAME).glob(f"{POINTER_PREFIX}*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if _pid_alive(int(data["pid"])) and Path(data["config"]).exists():
                found.append({"port": int(data["port"]), "config": data["config"], "api_url": data["api_url"],
                              "pid": int(data["pid"])})
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a stale or half-written pointer
    return sorted(found, key=lambda d: d["port"])


def running_sandbox_profile() -> Path | None:
    """The profile of the one running sandbox, None when none runs; several: say which to choose."""
    live = running_sandboxes()
    if len(live) > 1:
        choices = "\n".join(f"  port {d['port']} : --config {d['config']}" for d in live)
        raise UserFacingError(f"Plusieurs bacs à sable sont en marche : précisez lequel avec --config.\n{choices}")
    return Path(live[0]["config"]) if live else None


@dataclass
class AgentClient:
    url: str
    token: str | None
    timeout: float = 10.0

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2.0) as resp:
                data: dict[str, Any] = json.load(resp)
                return data
        except (OSError, ValueError):
            return None

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if not self.token:
            raise UserFacingError("Aucun jeton pour l'API locale : ajoutez-en un dans [api] tokens.")
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
        req = urllib.request.Request(
            f"{self.url}/rpc", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                answer = json.load(resp)
        except urllib.error.HTTPError as exc:
            try:
                answer = json.load(exc)
            except ValueError:
                raise UserFacingError(f"L'agent a répondu HTTP {exc.code}.") from None
        except OSError as exc:
            raise UserFacingError(f"Agent Vigie injoignable sur {self.url} ({exc}).") from None
        if "error" in answer:
            error = answer["error"]
            data = error.get("data") if isinstance(error.get("data"), dict) else None  # e.g. per-field errors
            raise UserFacingError(error.get("message", "erreur"), code=error.get("code", -32000), data=data)
        return answer.get("result")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # Windows: os.kill(pid, 0) is not a probe there; assume alive, health decides
        return True
    return True


def client_for(config_path: Path | None, config: Config | None = None) -> AgentClient:
    config = config or load_config(config_path)
    token = config.api.tokens[0] if config.api.tokens else None
    if token is None and config_path is None:
        profile = running_sandbox_profile()
        if profile is not None:
            return client_for(profile)
    return AgentClient(f"http://127.0.0.1:{config.api.port}", token)
