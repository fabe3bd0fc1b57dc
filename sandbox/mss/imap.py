"""The sandbox operator's IMAP server: a small IMAP4rev1 subset over asyncio (RFC 3501, 2177 IDLE).

Enough for the agent and for a person's mail client to look around: CAPABILITY, STARTTLS or implicit
TLS, AUTHENTICATE EXTERNAL (client certificate, CN = mailbox) / XOAUTH2 / OAUTHBEARER (PSC token),
LIST, CREATE, SELECT/EXAMINE (with UIDVALIDITY), APPEND (literal), SEARCH/UID SEARCH (ALL, UID n:*,
HEADER Message-ID), FETCH/UID FETCH (UID, FLAGS, BODY[]/BODY.PEEK[]/RFC822), IDLE, NOOP, LOGOUT.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections.abc import Callable
from typing import Any

from sandbox.mss.mailstore import UIDVALIDITY, MailState, Stored

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\{\d+\+?\})|(\([^)]*\))|(\S+)')


def _args(text: str) -> list[str]:
    out = []
    for m in _TOKEN.finditer(text):
        out.append(m.group(1) if m.group(1) is not None else m.group(0))
    return out


def _uid_set(spec: str, items: list[Stored], by_uid: bool) -> list[Stored]:
    out: list[Stored] = []
    last = (items[-1].uid if by_uid else len(items)) if items else 0
    for part in spec.split(","):
        lo_s, _, hi_s = part.partition(":")
        lo = last if lo_s == "*" else int(lo_s)
        hi = lo if not hi_s else (last if hi_s == "*" else int(hi_s))
        lo, hi = min(lo, hi), max(lo, hi)
        for seq, item in enumerate(items, 1):
            key = item.uid if by_uid else seq
            if lo <= key <= hi and item not in out:
                out.append(item)
    return out


class ImapSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, state: MailState,
                 tls: ssl.SSLContext, token_owner: Callable[[str], str | None], implicit: bool) -> None:
        self.r, self.w = reader, writer
        self.state, self.tls, self.token_owner = state, tls, token_owner
        self.secure = implicit
        self.user: str | None = None
        self.folder: str | None = None

    async def send(self, text: str | bytes) -> None:
        self.w.write((text.encode() if isinstance(text, str) else text) + b"\r\n")
        await self.w.drain()

    def _caps(self) -> str:
        caps = "IMAP4rev1 SASL-IR IDLE UIDPLUS SPECIAL-USE"
        return caps + (" AUTH=EXTERNAL AUTH=XOAUTH2 AUTH=OAUTHBEARER" if self.secure else " STARTTLS LOGINDISABLED")

    def _cert_user(self) -> str | None:
        sslobj: Any = self.w.get_extra_info("ssl_object")
        cert = sslobj.getpeercert() if sslobj is not None else None
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value).lower()
        return None

    async def run(self) -> None:
        await self.send(f"* OK [CAPABILITY {self._caps()}] bac à sable MSSanté prêt")
        while True:
            line = await self.r.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            tag, _, rest = text.partition(" ")
            cmd, _, arg = rest.partition(" ")
            verb = cmd.upper()
            uid = False
            if verb == "UID":
                uid = True
                cmd, _, arg = arg.partition(" ")
                verb = cmd.upper()
            try:
                if not await self._dispatch(tag, verb, arg, uid):
                    return
            except (ValueError, IndexError):
                await self.send(f"{tag} BAD commande invalide")

    async def _dispatch(self, tag: str, verb: str, arg: str, uid: bool) -> bool:
        if verb == "CAPABILITY":
            await self.send(f"* CAPABILITY {self._caps()}")
        elif verb == "NOOP":
            pass
        elif verb == "LOGOUT":
            await self.send("* BYE au revoir")
            await self.send(f"{tag} OK LOGOUT terminé")
            return False
        elif verb == "STARTTLS" and not self.secure:
            await self.send(f"{tag} OK début de TLS")
            await self.w.start_tls(self.tls)
            self.secure = True
            return True
        elif not self.secure:
            await self.send(f"{tag} NO [PRIVACYREQUIRED] TLS obligatoire")
            return True
        elif verb == "AUTHENTICATE":
            await self._authenticate(tag, arg)
            return True
        elif self.user is None:
            await self.send(f"{tag} NO authentification requise")
            return True
        elif verb == "LIST":
            for name in self.state.box(self.user).folders:
                flag = "\\Sent" if name == "Sent" else ("\\HasNoChildren" if name != "INBOX" else "")
                await self.send(f'* LIST ({flag}) "." "{name}"')
        elif verb == "CREATE":
            self.state.box(self.user).folders.setdefault(_args(arg)[0], [])
        elif verb in ("SELECT", "EXAMINE"):
            name = _args(arg)[0]
            box = self.state.box(self.user)
            if name not in box.folders:
                await self.send(f"{tag} NO dossier inconnu")
                return True
            self.folder = name
            items = box.folders[name]
            await self.send(f"* {len(items)} EXISTS")
            await self.send(f"* OK [UIDVALIDITY {UIDVALIDITY}] UIDs valides")
            await self.send(f"* OK [UIDNEXT {box.next_uid.get(name, 1)}] prochain UID")
        elif verb == "APPEND":
            await self._append(tag, arg)
            return True
        elif verb == "SEARCH":
            await self._search(arg, uid)
        elif verb == "FETCH":
            await self._fetch(arg, uid)
        elif verb == "IDLE":
            await self._idle()
        else:
            await self.send(f"{tag} BAD commande non prise en charge")
            return True
        await self.send(f"{tag} OK {verb} terminé")
        return True

    async def _authenticate(self, tag: str, arg: str) -> None:
        parts = arg.split(" ", 1)
        mech = parts[0].upper()
        initial = parts[1] if len(parts) > 1 else None
        if initial is None:
            await self.send("+ ")
            initial = (await self.r.readline()).decode().strip()
        if mech == "EXTERNAL":
            self.user = self._cert_user()
        elif mech in ("XOAUTH2", "OAUTHBEARER"):
            try:
                text = base64.b64decode(initial).decode("utf-8")
            except ValueError:
                text = ""
            user = re.search(r"(?:^|\x01|,)(?:user=|a=)([^\x01,]+)", text)
            token = re.search(r"auth=Bearer ([^\x01]+)", text)
            owner = self.token_owner(token.group(1)) if token else None
            self.user = owner.lower() if owner and user and owner.lower() == user.group(1).lower() else None
        if self.user is None:
            await self.send(f"{tag} NO [AUTHENTICATIONFAILED] échec d'authentification")
        else:
            await self.send(f"{tag} OK [CAPABILITY {self._caps()}] connecté")

    async def _append(self, tag: str, arg: str) -> None:
        m = re.match(r'"?([^"\s]+)"?\s*(\([^)]*\))?\s*(?:"[^"]*"\s*)?\{(\d+)(\+?)\}$', arg.strip())
        if not m:
            await self.send(f"{tag} BAD APPEND")
            return
        if not m.group(4):
            await self.send("+ prêt")
        data = await self.r.readexactly(int(m.group(3)))
        await self.r.readline()
        assert self.user is not None
        flags = set((m.group(2) or "()").strip("()").split())
        item = self.state.box(self.user).add(m.group(1), data, flags)
        await self.send(f"{tag} OK [APPENDUID {UIDVALIDITY} {item.uid}] APPEND terminé")

    def _items(self) -> list[Stored]:
        assert self.user is not None and self.folder is not None
        return self.state.box(self.user).folders[self.folder]

    async def _search(self, arg: str, uid: bool) -> None:
        items = self._items()
        args = _args(arg)
        if args and args[0].upper() == "CHARSET":
            args = args[2:]
        found = list(items)
        i = 0
        while i < len(args):
            key = args[i].upper()
            if key == "UID":
                found = [x for x in found if x in _uid_set(args[i + 1], items, True)]
                i += 2
            elif key == "HEADER":
                name, value = args[i + 1].lower(), args[i + 2].lower()
                found = [x for x in found if value in (_header(x.raw, name) or "\0")]
                i += 3
            else:
                i += 1
        numbers = [str(x.uid if uid else items.index(x) + 1) for x in found]
        await self.send("* SEARCH" + ("" if not numbers else " " + " ".join(numbers)))

    async def _fetch(self, arg: str, uid: bool) -> None:
        spec, _, what = arg.partition(" ")
        items = self._items()
        for item in _uid_set(spec, items, uid):
            seq = items.index(item) + 1
            fields = [f"UID {item.uid}", f"FLAGS ({' '.join(sorted(item.flags))})"]
            if "BODY" in what.upper() or "RFC822" in what.upper():
                head = f"* {seq} FETCH ({' '.join(fields)} BODY[] {{{len(item.raw)}}}"
                self.w.write(head.encode() + b"\r\n" + item.raw + b")\r\n")
                await self.w.drain()
            else:
                await self.send(f"* {seq} FETCH ({' '.join(fields)})")

    async def _idle(self) -> None:
        assert self.user is not None and self.folder is not None
        known = len(self._items())
        await self.send("+ en attente")
        waiter = self.state.waiter()
        reader = asyncio.ensure_future(self.r.readline())
        try:
            while True:
                wake = asyncio.ensure_future(waiter.wait())
                done, _ = await asyncio.wait({reader, wake}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    wake.cancel()
                    return
                if wake in done:
                    waiter.clear()
                    now = len(self._items())
                    if now != known:
                        known = now
                        await self.send(f"* {now} EXISTS")
                else:
                    wake.cancel()
                    await self.send("* OK toujours là")
        finally:
            self.state.forget(waiter)
            if not reader.done():
                reader.cancel()


def _header(raw: bytes, name: str) -> str | None:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    for line in head.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip().lower()
    return None


async def serve_imap(state: MailState, tls: ssl.SSLContext, token_owner: Callable[[str], str | None], *,
                     implicit: bool, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await ImapSession(reader, writer, state=state, tls=tls, token_owner=token_owner, implicit=implicit).run()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    return await asyncio.start_server(handle, host, port, ssl=tls if implicit else None)
