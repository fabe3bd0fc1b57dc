"""The DMP client: HTTPS with the structure certificate, the VIHF, SOAP/MTOM exchanges, error kinds.

- TLS: only the configured CAs are trusted; the client certificate is the structure's PKCS#12 (passphrase
  from the keyring), loaded once at start (blocking work in a thread).
- VIHF: DIRECTE signed by the CPS (`current_signer()`, the card in the reader; the PIN goes through the
  card layer's prompt), INDIRECTE by the structure key. One per (patient, signer), reused for at most
  50 minutes (the assertion says one hour), never logged.
- Errors: `DmpError.kind` is `transport` (connection, timeout, 5xx, Receiver fault: retry with backoff),
  `rejected` (a functional refusal or a Sender fault: never retried), `card` (no CPS in the reader:
  wait), `config`. Messages are French; `detail` is for the log and never carries patient data.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from agent.cpu_lane import CpuLane
from plugins.common import tls, xmldsig
from plugins.dmp import soap
from plugins.dmp.errors import DmpError, explain_fault
from plugins.dmp.settings import DmpSettings
from plugins.dmp.transactions import SERVICES
from plugins.dmp.vihf import VihfContext, build_vihf

log = logging.getLogger(__name__)
VIHF_REUSE = 50 * 60.0  # seconds; the assertion is valid one hour
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class Pkcs12Signer:
    """INDIRECTE mode: the structure certificate's key signs the VIHF."""

    def __init__(self, key: tls.PrivateKey, cert: x509.Certificate) -> None:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise DmpError("config", "La signature du VIHF demande une clé RSA (certificat de structure).")
        self._key = key
        self._der = cert.public_bytes(serialization.Encoding.DER)

    def certificate(self) -> bytes:
        return self._der

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@dataclass
class Answer:
    element: etree._Element
    attachments: dict[str, bytes] = field(default_factory=dict)
    http_status: int = 200


class DmpClient:
    def __init__(self, settings: DmpSettings, *, passphrase: str | None,
                 current_signer: Callable[[], xmldsig.Signer | None]) -> None:
        self.settings = settings
        self._passphrase = passphrase
        self._current_signer = current_signer
        self._session: aiohttp.ClientSession | None = None
        self.structure_signer: Pkcs12Signer | None = None
        self._vihf: dict[tuple[str, int, str], tuple[float, etree._Element]] = {}
        self._vihf_lock = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(settings.concurrency)  # [plugins.dmp] concurrency
        # The XML work of every transaction (ITI-41 build, envelope, answer parsing) in one thread, not one per
        # job: a burst of documents then competes with the event loop through one thread (agent/cpu_lane.py).
        self.lane = CpuLane("dmp")

    async def start(self) -> None:
        if self._session is not None:
            return
        s = self.settings
        if s.missing:
            raise DmpError("config", s.missing)
        if self._passphrase is None:
            raise DmpError("config", "Phrase de passe du certificat de structure absente du trousseau (dmp.pkcs12).")
        context, signer = await asyncio.to_thread(self._tls)
        self.structure_signer = signer
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=max(4, s.concurrency * 2)),
            timeout=aiohttp.ClientTimeout(total=s.timeout, sock_connect=s.connect_timeout),
            headers={"User-Agent": f"{s.lps_name}/{s.lps_version}"})

    def _tls(self) -> tuple[ssl.SSLContext, Pkcs12Signer]:
        s = self.settings
        assert s.pkcs12 is not None and self._passphrase is not None
        try:
            data = tls.read_pkcs12_source(s.pkcs12, service="DMP")  # `keyring:dmp.certificate` or a file
            key, cert, chain = tls.load_pkcs12(data, self._passphrase, service="DMP")
            context = tls.client_context([Path(p) for p in s.ca_files], service="DMP")
            tls.load_client_identity(context, key, cert, chain, service="DMP")
        except tls.TlsError as exc:
            raise DmpError("config", exc.message, detail=exc.detail) from None
        return context, Pkcs12Signer(key, cert)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        self.lane.close()

    @property
    def started(self) -> bool:
        return self._session is not None

    # -- VIHF ------------------------------------------------------------------------------------
    def signer(self) -> xmldsig.Signer:
        if self.settings.auth_mode == "INDIRECTE":
            assert self.structure_signer is not None
            return self.structure_signer
        signer = self._current_signer()
        if signer is None:
            raise DmpError("card", "Carte CPS absente : insérez votre carte CPS pour échanger avec le DMP.")
        return signer

    async def vihf(self, ctx: VihfContext) -> etree._Element:
        signer = self.signer()
        key = (ctx.patient_ins + ctx.patient_ins_oid, id(signer), ctx.ps_national_id)
        async with self._vihf_lock:
            now = time.monotonic()
            cached = self._vihf.get(key)
            if cached is not None and now - cached[0] < VIHF_REUSE:
                return cached[1]
            try:
                assertion = await asyncio.to_thread(build_vihf, ctx, signer)
            except DmpError:
                raise
            except Exception as exc:  # the card layer may raise anything (wrong PIN, card pulled out)
                card_says = getattr(exc, "message_fr", None)
                raise DmpError("card", f"Signature du VIHF impossible : {card_says or 'vérifiez la carte CPS.'}",
                               detail=type(exc).__name__) from None
            self._vihf = {k: v for k, v in self._vihf.items() if now - v[0] < VIHF_REUSE}
            self._vihf[key] = (now, assertion)
            return assertion

    def forget_vihf(self) -> None:
        self._vihf.clear()

    # -- exchanges ---------------------------------------------------------------------------------
    def url(self, action: str) -> str:
        assert self.settings.url is not None
        return f"{self.settings.url}/{SERVICES[action]}"

    async def call(self, action: str, body: etree._Element, ctx: VihfContext, *,
                   parts: list[soap.Part] | None = None) -> Answer:
        if self._session is None:
            raise DmpError("config", "Client DMP non démarré.")
        vihf = await self.vihf(ctx)
        to = self.url(action)
        # lxml (the VIHF re-parse, the serialisation) and the MTOM join are CPU work: off the event loop.
        content_type, data = await self.lane.run(_request_body, action, to, body, vihf, parts)
        try:
            async with self._in_flight, asyncio.timeout(self.settings.timeout + 1.0):
                async with self._session.post(to, data=data, headers={"Content-Type": content_type},
                                              allow_redirects=False) as resp:
                    root, attachments = await _read(resp)
                    status = resp.status
        except TimeoutError:
            raise DmpError("transport", "Le DMP n'a pas répondu à temps.", detail="timeout") from None
        except aiohttp.ClientSSLError as exc:
            raise DmpError("transport", "Connexion sécurisée au DMP refusée (certificat).",
                           detail=type(exc).__name__) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DmpError("transport", "Le DMP est injoignable.", detail=type(exc).__name__) from None
        try:
            element = await self.lane.run(soap.parse_answer, root)
        except soap.SoapFault as fault:
            raise explain_fault(fault, status) from None
        except soap.MalformedAnswer as exc:
            if status >= 500:
                raise DmpError("transport", f"Le DMP est indisponible (erreur HTTP {status}).",
                               detail=str(exc)[:200]) from None
            raise DmpError("rejected" if 400 <= status < 500 else "transport",
                           f"Réponse illisible du DMP (HTTP {status}).", detail=str(exc)[:200]) from None
        if status >= 500:
            raise DmpError("transport", f"Le DMP est indisponible (erreur HTTP {status}).")
        return Answer(element=element, attachments=attachments, http_status=status)


def _request_body(action: str, to: str, body: etree._Element, vihf: etree._Element | None,
                  parts: list[soap.Part] | None) -> tuple[str, bytes]:
    """(Content-Type, bytes) of one request: a SOAP envelope, or its MTOM package when there are parts."""
    env = soap.serialize(soap.envelope(action, to, body, vihf, message_id=soap.new_message_id()))
    if parts is None:
        return f'application/soap+xml; charset=UTF-8; action="{action}"', env
    content_type, chunks = soap.mtom(env, parts, action=action)
    return content_type, b"".join(chunks)


async def _read(resp: aiohttp.ClientResponse) -> tuple[bytes, dict[str, bytes]]:
    """The SOAP part and the attachments (by Content-ID) of an answer, plain or multipart/related."""
    if resp.content_length is not None and resp.content_length > MAX_ANSWER_BYTES:
        raise DmpError("rejected", "Réponse du DMP trop volumineuse.")
    if resp.content_type != "multipart/related":
        return await resp.read(), {}
    reader = aiohttp.MultipartReader.from_response(resp)
    root: bytes | None = None
    attachments: dict[str, bytes] = {}
    while True:
        part = await reader.next()
        if part is None:
            break
        assert isinstance(part, aiohttp.BodyPartReader)
        data = await part.read(decode=False)
        cid = (part.headers.get("Content-ID") or "").strip().strip("<>")
        if root is None:
            root = bytes(data)
        else:
            attachments[cid] = bytes(data)
    if root is None:
        raise DmpError("transport", "Réponse MTOM du DMP vide.")
    return root, attachments


def sha1_hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()
