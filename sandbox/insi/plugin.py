"""The INSi stand-in as a sandbox plugin: starts the téléservice, and in CPS mode plays the CPS card.

The product INS plugin needs nothing sandbox-specific: its `[plugins.ins]` settings name the stand-in,
the client certificate's passphrase is in the keyring (the supervisor seeds the sandbox agent's
throwaway keyring), and in CPS mode the signer comes through the card port (`Agent.set_acting_user`)
as a CPS in a reader would: here the stand-in's software key, when no card is in.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.acting import ActingUser
from agent.hookspecs import hookimpl

if TYPE_CHECKING:
    from agent.app import Agent
    from sandbox.supervisor import SandboxService

SETTINGS = "sandbox-insi"  # `[plugins.sandbox-insi]`: signer = {key, cert} (PEM files of the test PS)
VIRTUAL_READER = "Bac à sable (clé logicielle CPS)"


class InsiSandboxPlugin:
    @hookimpl
    def register_sandbox_services(self, register: Any) -> None:
        async def start() -> SandboxService:
            from sandbox.insi.server import start_insi_sandbox

            sandbox = await start_insi_sandbox()
            return sandbox.as_service()

        register("insi", start)

    @hookimpl
    async def startup(self, agent: Agent) -> None:
        signer_files = agent.config.plugin_settings(SETTINGS).get("signer")
        ins = agent.config.plugin_settings("ins")
        if not signer_files or agent.card_signer is not None or not _cps_mode(ins):
            return
        from plugins.ins.insi.signer import SoftwareSigner

        signer = await asyncio.to_thread(SoftwareSigner.from_files, Path(signer_files["key"]),
                                         Path(signer_files["cert"]))
        user = ins.get("user", {})
        await agent.set_acting_user(ActingUser(kind="cps", name=user.get("name"), national_id=user.get("national_id"),
                                               profession=user.get("profession"), reader=VIRTUAL_READER), signer)


def _cps_mode(raw: dict[str, Any]) -> bool:
    from agent.errors import ConfigError
    from plugins.ins.settings import parse_settings

    try:
        return parse_settings(raw).auth == "cps"
    except ConfigError:
        return False  # the INS plugin reports its own configuration errors
