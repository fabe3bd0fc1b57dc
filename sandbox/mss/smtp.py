"""The sandbox operator's submission server: a small ESMTP server over asyncio (RFC 5321 subset).

What the agent uses and an MSSanté operator checks: EHLO, STARTTLS (required before anything else),
the client certificate of an application mailbox (verified against the sandbox CA; CN = mailbox) or
AUTH XOAUTH2/OAUTHBEARER with a PSC token (checked by the PSC stand-in), MAIL FROM (ENVID, RET),
RCPT TO (NOTIFY=SUCCESS,FAILURE), DATA; and the MSSanté headers: X-MSS-NIL on every mail, the
`XDM/1.0/DDM+` subject prefix and X-MSS-INS when an IHE_XDM.ZIP is attached. A mail that breaks them
is refused with `550 5.6.0` and a French reason, as the tests expect from an operator.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email
import re
import ssl
from collections.abc import Callable
from typing import Any

from sandbox.mss.mailstore import MailState

MAX_SIZE = 26 * 1024 * 1024
_PARAM = re.compile(r"([A-Z-]+)=(\S+)", re.IGNORECASE)


def header_problem(raw: bytes) -> str | None:
    msg = email.message_from_bytes(raw)
    if not msg.get("X-MSS-NIL"):
        return "en-tête X-MSS-NIL absent"
    has_xdm = any((p.get_filename() or "").upper() == "IHE_XDM.ZIP" for p in msg.walk())
    if has_xdm:
        if not str(msg.get("Subject", "")).startswith("XDM/1.0/DDM+"):
            return "objet sans préfixe XDM/1.0/DDM+ alors qu'un IHE_XDM.ZIP est joint"
        if (msg.get("X-MSS-INS") or "") not in ("O", "N"):
            return "en-tête X-MSS-INS absent ou invalide"
        if not msg.get("X-MSS-CODECDA"):
            return "en-tête X-MSS-CODECDA absent"
    return None


class SmtpSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, state: MailState,
                 tls: ssl.SSLContext, token_owner: Callable[[str], str | None], hostname: str) -> None:
        self.r, self.w = reader, writer
        self.state, self.tls, self.token_owner, self.hostname = state, tls, token_owner, hostname
        self.user: str | None = None
        self.secure = False
        self._reset()

    def _reset(self) -> None:
        self.sender: str | None = None
        self.envid: str | None = None
        self.rcpts: list[tuple[str, bool]] = []

    async def reply(self, text: str) -> None:
        self.w.write(text.encode() + b"\r\n")
        await self.w.drain()

    def _cert_user(self) -> str | None:
        sslobj: Any = self.w.get_extra_info("ssl_object")
        cert = sslobj.getpeercert() if sslobj is not None else None
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value).lower()
        return None

    async def run(self) -> None:
        await self.reply(f"220 {self.hostname} ESMTP bac à sable MSSanté")
        while True:
            try:
                line = await asyncio.wait_for(self.r.readline(), 300)
            except (TimeoutError, ConnectionError):
                return
            if not line:
                return
            cmd, _, arg = line.decode("utf-8", "replace").strip().partition(" ")
            verb = cmd.upper()
            if verb in ("EHLO", "HELO"):
                caps = [f"250-{self.hostname}", "250-PIPELINING", f"250-SIZE {MAX_SIZE}", "250-DSN",
                        "250-ENHANCEDSTATUSCODES", "250-8BITMIME"]
                caps.append("250-AUTH XOAUTH2 OAUTHBEARER" if self.secure else "250-STARTTLS")
                caps[-1] = "250 " + caps[-1][4:]
                await self.reply("\r\n".join(caps))
            elif verb == "STARTTLS" and not self.secure:
                await self.reply("220 2.0.0 Prêt pour TLS")
                await self.w.start_tls(self.tls)
                self.secure = True
                self.user = self._cert_user()
                self._reset()
            elif not self.secure and verb not in ("QUIT", "NOOP"):
                await self.reply("530 5.7.0 STARTTLS obligatoire")
            elif verb == "AUTH":
                await self._auth(arg)
            elif verb == "MAIL":
                if self.user is None:
                    await self.reply("530 5.7.0 Authentification requise (certificat ou jeton)")
                    continue
                m = re.match(r"FROM:\s*<([^>]*)>(.*)", arg, re.IGNORECASE)
                if not m:
                    await self.reply("501 5.5.4 Syntaxe MAIL FROM")
                    continue
                self._reset()
                self.sender = m.group(1).lower()
                params = dict((k.upper(), v) for k, v in _PARAM.findall(m.group(2)))
                self.envid = params.get("ENVID")
                if self.sender != self.user:
                    await self.reply("553 5.7.1 Expéditeur différent de la boîte authentifiée")
                    self.sender = None
                    continue
                await self.reply("250 2.1.0 OK")
            elif verb == "RCPT":
                m = re.match(r"TO:\s*<([^>]*)>(.*)", arg, re.IGNORECASE)
                if self.sender is None or not m:
                    await self.reply("503 5.5.1 MAIL FROM d'abord")
                    continue
                params = dict((k.upper(), v) for k, v in _PARAM.findall(m.group(2)))
                self.rcpts.append((m.group(1).lower(), "SUCCESS" in params.get("NOTIFY", "").upper()))
                await self.reply("250 2.1.5 OK")
            elif verb == "DATA":
                await self._data()
            elif verb == "RSET":
                self._reset()
                await self.reply("250 2.0.0 OK")
            elif verb == "NOOP":
                await self.reply("250 2.0.0 OK")
            elif verb == "QUIT":
                await self.reply("221 2.0.0 Au revoir")
                return
            else:
                await self.reply("502 5.5.2 Commande non prise en charge")

    async def _auth(self, arg: str) -> None:
        mech, _, initial = arg.partition(" ")
        if mech.upper() not in ("XOAUTH2", "OAUTHBEARER"):
            await self.reply("504 5.5.4 Mécanisme non pris en charge")
            return
        if not initial:
            await self.reply("334 ")
            initial = (await self.r.readline()).decode().strip()
        try:
            text = base64.b64decode(initial).decode("utf-8")
        except ValueError:
            await self.reply("501 5.5.2 Réponse SASL illisible")
            return
        user = re.search(r"(?:^|\x01|,)(?:user=|a=)([^\x01,]+)", text)
        token = re.search(r"auth=Bearer ([^\x01]+)", text)
        owner = self.token_owner(token.group(1)) if token else None
        if not user or owner is None or owner.lower() != user.group(1).lower():
            await self.reply("535 5.7.8 Jeton refusé ou expiré")
            return
        self.user = owner.lower()
        await self.reply("235 2.7.0 Authentification réussie")

    async def _data(self) -> None:
        if not self.rcpts:
            await self.reply("503 5.5.1 RCPT TO d'abord")
            return
        await self.reply("354 Fin par <CRLF>.<CRLF>")
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await self.r.readline()
            if not line or line in (b".\r\n", b".\n"):
                break
            if line.startswith(b".."):
                line = line[1:]
            size += len(line)
            if size <= MAX_SIZE:
                chunks.append(line)
        if size > MAX_SIZE:
            await self.reply("552 5.3.4 Message trop volumineux")
            return
        raw = b"".join(chunks)
        problem = header_problem(raw)
        if problem:
            await self.reply(f"550 5.6.0 Message non conforme MSSanté : {problem}")
            return
        assert self.sender is not None
        self.state.submitted(self.sender, self.rcpts, raw, self.envid)
        self._reset()
        await self.reply("250 2.0.0 Message accepté")


async def serve_smtp(state: MailState, tls: ssl.SSLContext, token_owner: Callable[[str], str | None],
                     host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await SmtpSession(reader, writer, state=state, tls=tls, token_owner=token_owner,
                              hostname="smtp.sandbox.mssante.test").run()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    return await asyncio.start_server(handle, host, port)
