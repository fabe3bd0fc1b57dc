"""The sandbox's own plugin: `vigie sandbox run` (alias `vigie run --sandbox`) and `sandbox.info`.

`sandbox.info` lets the supervisor check that the agent answering on the port is the child it started
(its pid and the profile's nonce, over an authenticated call), not another agent that holds the port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING, Any

from agent.hookspecs import hookimpl

if TYPE_CHECKING:
    from agent.context import PluginContext
    from agent.rpc import RpcContext

# `[plugins.sandbox]` of the throwaway profile: `nonce`.


def configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="sans icône de notification (serveur, CI)")
    parser.add_argument("--port", type=int, metavar="N", help="port de l'API locale (défaut 8743)")
    parser.add_argument("--practice", action="store_true",
                        help="deux postes d'un cabinet (accueil, cabinet) sur une base PostgreSQL partagée")


def run(args: argparse.Namespace) -> int:
    from sandbox.supervisor import run_sandbox

    return asyncio.run(run_sandbox(config_path=args.config, port=args.port, headless=args.headless,
                                   practice=getattr(args, "practice", False)))


class SandboxPlugin:
    """Registered as `sandbox`, in the CLI (its command) and in the sandbox's agent (`sandbox.info`)."""

    def __init__(self) -> None:
        self.nonce: str | None = None

    @hookimpl
    def register_cli_commands(self, register: Any) -> None:
        register("sandbox run", "démarrer l'agent sur les services nationaux simulés (= vigie run --sandbox)",
                 configure_run, run)

    @hookimpl
    def register_rpc_methods(self, register: Any) -> None:
        register("sandbox.info", self.info, params={"type": "object", "additionalProperties": False},
                 scope="admin", description="Sandbox only: this agent's pid and profile nonce.")

    @hookimpl
    def startup(self, context: PluginContext) -> None:
        nonce = context.settings.get("nonce")
        self.nonce = nonce if isinstance(nonce, str) else None

    async def info(self, params: dict[str, Any], ctx: RpcContext) -> dict[str, Any]:
        return {"pid": os.getpid(), "nonce": self.nonce}
