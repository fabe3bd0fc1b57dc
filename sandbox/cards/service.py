"""The card stand-in of `vigie run --sandbox`: a PC/SC service with two vpcd slots for virtual cards.

Where a private pcscd can run (Linux, root: sandbox/cards/pcscd.py) the sandbox gets its own daemon, so
restarting it or plugging cards never touches the machine's; elsewhere it uses the system pcscd and
vsmartcard's default port. Either way the agent reads Vitale cards with the APDU backend, and, when
SoftHSM2 is installed, the test CPS card's PKCS#11 side is a SoftHSM2 token (PIN 1234) holding a throwaway
PS certificate (its own test CA: it names the acting user; INSi CPS mode in the sandbox keeps signing with
the INSi sandbox's software key).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sandbox.cards.pcscd import PrivatePcscd, private_pcscd_supported
from sandbox.cards.plugin import DEFAULT_VPCD_PORT, SETTINGS
from sandbox.cards.softhsm import SoftToken, create_cps_token, softhsm_missing
from sandbox.insi.pki import generate_sandbox_pki


async def start_card_sandbox() -> Any:
    from sandbox.supervisor import SandboxService

    settings: dict[str, Any] = {"vitale_reader": "apdu"}  # [plugins.cards]
    port = DEFAULT_VPCD_PORT
    root = Path(tempfile.mkdtemp(prefix="vigie-cards-"))
    daemon: PrivatePcscd | None = None
    try:
        if softhsm_missing() is None:
            token = await asyncio.to_thread(_cps_token, root)
            settings.update(pkcs11_module=str(token.module), pkcs11_token_label=token.label,
                            softhsm2_conf=str(token.conf))
        if private_pcscd_supported() is None:
            daemon = PrivatePcscd(root / "pcscd")
            await asyncio.to_thread(daemon.start)
            settings["pcsc_socket"] = str(daemon.socket_path)
            port = daemon.port
    except BaseException:  # a failed start leaves no token store or directory behind
        await asyncio.to_thread(shutil.rmtree, root, ignore_errors=True)
        raise

    async def stop() -> None:
        if daemon is not None:
            await asyncio.to_thread(daemon.stop)
        await asyncio.to_thread(shutil.rmtree, root, ignore_errors=True)

    return SandboxService(name="pcsc", endpoints={"pcsc": f"vpcd://127.0.0.1:{port}"},
                          stop=stop, plugin_settings={"cards": settings, SETTINGS: {"vpcd_port": port}})


def _cps_token(root: Path) -> SoftToken:
    pki = generate_sandbox_pki(root / "pki")
    return create_cps_token(root / "softhsm", pki.ps_key, pki.ps_cert)
