"""A small synchronous client of the local API for CLI subcommands that act on a running agent.

It finds the agent from the same configuration the agent uses (`--config`, else the default file):
the port and a token from `api.tokens`. When that configuration has no token and a sandbox is
running, it uses the sandbox profile the supervisor advertised.
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


def sandbox_pointer_path() -> Path:
    return platformdirs.user_state_path(APP_NAME) / "sandbox.json"


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


def sandbox_profile() -> Path | None:
    """The configuration of the running `vigie run --sandbox`, from its pointer file; None when none runs."""
    pointer = sandbox_pointer_path()
    if pointer.exists():
        try:
            data = json.loads(pointer.read_text())
            if _pid_alive(int(data["pid"])):
                return Path(data["config"])
        except (OSError, ValueError, KeyError):
            pass  # a stale or half-written pointer: fall back to the default configuration
    return None


def client_for(config_path: Path | None, config: Config | None = None) -> AgentClient:
    config = config or load_config(config_path)
    token = config.api.tokens[0] if config.api.tokens else None
    if token is None and config_path is None:
        profile = sandbox_profile()
        if profile is not None:
            return client_for(profile)
    return AgentClient(f"http://127.0.0.1:{config.api.port}", token)
