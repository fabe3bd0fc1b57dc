"""The INSi stand-in as a sandbox plugin: starts the téléservice, and in CPS mode plays the CPS card.

The product INS plugin needs nothing sandbox-specific: its `[plugins.ins]` settings name the stand-in,
the client certificate's passphrase is in the keyring (the supervisor seeds the sandbox agent's
throwaway keyring), and in CPS mode the signer comes through the card port (`context.acting`) as a CPS
in a reader would: here the stand-in's software key for the test PS, when `[plugins.sandbox-insi] cps =
true` (with `[plugins.ins] auth = "cps"`) and no card is in.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.acting import ActingUser
from agent.errors import ConfigError
from agent.hookspecs import hookimpl

if TYPE_CHECKING:
    from agent.context import PluginContext
    from sandbox.supervisor import SandboxService

# `[plugins.sandbox-insi]`: signer = {key, cert} (PEM files of the test PS), cps (plug it in as the CPS),
# user = {name, national_id, profession} (who that CPS names).
VIRTUAL_READER = "Bac à sable (clé logicielle CPS)"


def signer_files(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict) or set(raw) != {"key", "cert"} or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError("plugins.sandbox-insi.signer", "une table {key, cert} de chemins est attendue",
                          "a {key, cert} table of paths is expected")
    return dict(raw)


class InsiSandboxPlugin:
    @hookimpl
    def register_sandbox_services(self, register: Any) -> None:
        async def start() -> SandboxService:
            from sandbox.insi.server import start_insi_sandbox

            sandbox = await start_insi_sandbox()
            return sandbox.as_service()

        register("insi", start)

    @hookimpl
    async def startup(self, context: PluginContext) -> None:
        settings = context.settings
        if settings.get("cps") is not True or context.acting.card_signer is not None:
            return
        files = signer_files(settings.get("signer"))
        from plugins.ins.insi.signer import SoftwareSigner

        signer = await asyncio.to_thread(SoftwareSigner.from_files, Path(files["key"]), Path(files["cert"]))
        user = settings.get("user") or {}
        await context.acting.set_card_user(ActingUser(kind="cps", name=user.get("name"),
                                                      national_id=user.get("national_id"),
                                                      profession=user.get("profession"), reader=VIRTUAL_READER),
                                           signer)
