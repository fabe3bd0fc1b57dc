"""The MSSanté sandbox: an embedded operator (submission + IMAP), Pro Santé Connect, the Annuaire Santé.

`vigie run --sandbox` needs no root, so instead of Postfix/Dovecot (the tests' operator) the sandbox
runs its own small servers over asyncio speaking the same protocols, with the same checks: STARTTLS,
client certificate from the sandbox CA (application mailbox) or a PSC bearer token, the MSSanté headers
(sandbox/mss/smtp.py), DSN and MDN coming back (sandbox/mss/mailstore.py). The product plugin is
configured exactly as for a real operator: endpoints, CA file, PKCS#12 path, and the passphrase put in
the agent's keyring.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.mss import directory
from sandbox.mss.imap import serve_imap
from sandbox.mss.mailstore import MailState
from sandbox.mss.pki import SERVER_NAME, MailPki, generate_mail_pki
from sandbox.mss.psc import PscIssuer
from sandbox.mss.smtp import serve_smtp

if TYPE_CHECKING:
    from sandbox.supervisor import SandboxService

DOMAIN = "cabinet.sandbox.mssante.test"
APP_MAILBOX = f"logiciel@{DOMAIN}"
PRACTITIONERS = [
    directory.Practitioner("10001234567", "Dr", "Paul", "MARTIN", f"paul.martin@{DOMAIN}"),
    directory.Practitioner("10009876543", "Dr", "Sophie", "LEROY", "sophie.leroy@chu.sandbox.mssante.test"),
    directory.Practitioner("10005555555", "", "Claire", "BERNARD", "claire.bernard@kine.sandbox.mssante.test"),
]


@dataclass
class MssSandbox:
    pki: MailPki
    state: MailState
    psc: PscIssuer
    smtp_port: int
    imap_port: int
    http_url: str
    api_key: str
    _servers: list[asyncio.Server] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    def plugin_settings(self, *, keyring: bool = False) -> dict[str, Any]:
        """`[plugins.mss]`; with `keyring`, the certificate is `keyring:mss.certificate` (`certificates()`)."""
        from plugins.mss.settings import CERTIFICATE_SECRET

        pkcs12 = f"keyring:{CERTIFICATE_SECRET}" if keyring else str(self.pki.app_client.p12)
        return {"mailbox": APP_MAILBOX, "auth": "certificate", "pkcs12": pkcs12,
                "smtp_host": SERVER_NAME, "smtp_port": self.smtp_port, "imap_host": SERVER_NAME,
                "imap_port": self.imap_port, "imap_tls": "implicit", "ca_files": [str(self.pki.ca)],
                "nil": "VIGIE-SANDBOX", "directory_url": f"{self.http_url}/fhir/v2", "poll_interval": 30.0,
                "structure_id": "312345678900019", "structure_name": "Cabinet du bac à sable",
                "ipp_oid": "1.2.250.1.999.1.7"}  # the sandbox practice's local patient ids (unqualified INS)

    def certificates(self) -> dict[str, Path]:
        from plugins.mss.settings import CERTIFICATE_SECRET

        return {CERTIFICATE_SECRET: self.pki.app_client.p12}

    def as_service(self) -> SandboxService:
        from sandbox.supervisor import SandboxService

        return SandboxService(
            name="mss", endpoints={"mss_smtp": f"smtp://{SERVER_NAME}:{self.smtp_port}",
                                   "mss_imap": f"imaps://{SERVER_NAME}:{self.imap_port}",
                                   "mss_directory": f"{self.http_url}/fhir/v2"},
            stop=self.stop, plugin_settings={"mss": self.plugin_settings(keyring=True)},
            secrets={"mss.pkcs12": self.pki.app_client.passphrase, "mss.directory_key": self.api_key},
            certificates=self.certificates())

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()


def _port(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


async def start_mss_sandbox(directory_path: Path | None = None, *, mdn_delay: float = 1.0,
                            pki_days: int = 7) -> MssSandbox:
    root = directory_path or Path(tempfile.mkdtemp(prefix="vigie-mss-sandbox-"))
    pki = await asyncio.to_thread(generate_mail_pki, root / "pki", app_mailbox=APP_MAILBOX, days=pki_days)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    await asyncio.to_thread(tls.load_cert_chain, pki.server_cert, pki.server_key)
    tls.verify_mode = ssl.CERT_OPTIONAL  # a personal mailbox logs in with a token, without a certificate
    state = MailState(domains=(DOMAIN, "patient.mssante.fr", "chu.sandbox.mssante.test",
                               "kine.sandbox.mssante.test"), mdn_delay=mdn_delay)
    psc = PscIssuer()
    smtp = await serve_smtp(state, tls, psc.check)
    imap = await serve_imap(state, tls, psc.check, implicit=True)
    api_key = secrets.token_urlsafe(16)
    app = psc.app()
    app.add_routes(directory.routes(PRACTITIONERS, api_key))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server: Any = site._server
    http_port = server.sockets[0].getsockname()[1]
    return MssSandbox(pki, state, psc, _port(smtp), _port(imap), f"http://127.0.0.1:{http_port}", api_key,
                      [smtp, imap], runner)
