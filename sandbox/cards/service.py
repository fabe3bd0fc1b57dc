"""The card stand-in of `vigie run --sandbox`: a PC/SC service with two vpcd slots for virtual cards.

Where a private pcscd can run (Linux, root: sandbox/cards/pcscd.py) the sandbox gets its own daemon, so
restarting it or plugging cards never touches the machine's; elsewhere it uses the system pcscd and
vsmartcard's default port. Either way the agent reads Vitale cards with the APDU backend.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sandbox.cards.pcscd import PrivatePcscd, private_pcscd_supported

DEFAULT_VPCD_PORT = 0x8C7B


async def start_card_sandbox() -> Any:
    from sandbox.supervisor import SandboxService

    settings: dict[str, Any] = {"vitale_reader": "apdu"}
    if private_pcscd_supported() is not None:
        settings["vpcd_port"] = DEFAULT_VPCD_PORT

        async def nothing() -> None:
            return None

        return SandboxService(name="pcsc", endpoints={"pcsc": f"vpcd://127.0.0.1:{DEFAULT_VPCD_PORT}"},
                              stop=nothing, plugin_settings={"cards": settings})
    root = Path(tempfile.mkdtemp(prefix="vigie-pcscd-"))
    daemon = PrivatePcscd(root)
    await asyncio.to_thread(daemon.start)
    settings.update(pcsc_socket=str(daemon.socket_path), vpcd_port=daemon.port)

    async def stop() -> None:
        await asyncio.to_thread(daemon.stop)
        shutil.rmtree(root, ignore_errors=True)

    return SandboxService(name="pcsc", endpoints={"pcsc": f"vpcd://127.0.0.1:{daemon.port}"}, stop=stop,
                          plugin_settings={"cards": settings})
