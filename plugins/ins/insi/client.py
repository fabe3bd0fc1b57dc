"""The INSi client: TLS (mTLS or CPS assertion), timeouts, bounded retries, first-name strategy, audit.

Rules (insi.md §6, plus what padoa lacks):
- Every HTTP exchange has a connect timeout and a total timeout, and a whole search has a budget
  (`search_timeout`) covering all its calls, attempts and backoff pauses.
- Retries: only what can succeed later — `siram_40` and other Receiver faults, HTTP 5xx without a
  fault, connection errors, timeouts — with a short capped exponential backoff (jittered), at most
  `max_attempts` per call. Sender faults, HTTP 4xx, TLS failures and unreadable answers are
  never retried here (the caller's outbox decides what to do later).
- First names, like approved clients: one call per local first name in order, then one call with
  all of them joined by spaces (skipped when there is a single first name); stop at the first
  CR 00 or error. On CR 02 the remaining single first names are skipped and the joined call is made
  at once: more first names is what narrows "several identities" (the esante-bretagne advice); if
  it still gives 02 the outcome is CR 02, for the user to add the birth place or check a document.
- Every exchange is recorded (raw request, raw response or fault, MessageID, timings, HTTP status)
  in `SearchOutcome.exchanges`; each HTTP request gets its own MessageID, ContexteBAM/LPS Id and
  Temps.
- Service errors never raise: they are in `SearchOutcome.error`. Blocking work (PKCS#12 and CA
  loading, CPS signing, parsing of large answers) runs in worker threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from cryptography import x509
from lxml import etree

from plugins.ins.insi.envelope import (
    SoftwareContext,
    action,
    build_traits_request,
    build_vitale_request,
    new_message_id,
    serialize,
)
from plugins.ins.insi.parser import parse_response
from plugins.ins.insi.saml import PsAttributes, build_signed_assertion, certificate_cn, security_header
from plugins.ins.insi.signer import Signer
from plugins.ins.insi.tls import ClientIdentity, build_ssl_context, check_organisation_certificate, load_pkcs12
from plugins.ins.insi.types import (
    OPERATION_TRAITS,
    OPERATION_VITALE,
    InsiCardMissing,
    InsiConfigError,
    InsiError,
    InsiExchange,
    InsiFault,
    InsiMalformedResponse,
    InsiResponse,
    InsiTimeout,
    InsiUnavailable,
    SearchOutcome,
    SearchTraits,
    VitaleSearch,
)

log = logging.getLogger(__name__)

PARSE_IN_THREAD_ABOVE = 64 * 1024  # bytes; typical answers are ~1 KB


@dataclass
class InsiSettings:
    url: str
    auth: str = "mtls"  # "mtls" (organisation certificate) | "cps" (signed PS assertion)
    ca_files: list[Path] = field(default_factory=list)
    pkcs12_path: Path | str | None = None  # "keyring:<name>" or a file (plugins/ins/insi/tls.load_pkcs12)
    pkcs12_passphrase: str | None = None
    idam: str = ""
    software_name: str = "Vigie"
    software_version: str = "0"
    instance_id: str = ""
    emitter: str | None = None  # default: certificate OU (mTLS) or the PS national id (CPS)
    connect_timeout: float = 3.0
    total_timeout: float = 10.0  # one HTTP exchange
    max_attempts: int = 3  # per call, retryable errors only
    signer: Signer | None = None  # CPS mode
    ps: PsAttributes = field(default_factory=PsAttributes)  # CPS mode
    search_timeout: float = 30.0  # one whole search: every call, attempt and pause
    backoff_base: float = 0.2
    backoff_max: float = 1.0
    assertion_max_age: float = 50 * 60.0  # the service accepts an assertion for about an hour
    max_response_bytes: int = 2_000_000
    concurrency: int = 16  # open connections at most


def first_name_plan(first_names: Sequence[str]) -> list[tuple[str, ...]]:
    """The `Prenom` values of each call, in order (see the module docstring)."""
    names = [" ".join(n.split()) for n in first_names if n and n.strip()]
    if not names:
        return [()]
    plan: list[tuple[str, ...]] = [(n,) for n in names]
    if len(names) > 1:
        plan.append((" ".join(names),))
    return plan


class InsiClient:
    def __init__(self, settings: InsiSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._context: SoftwareContext | None = None
        self._assertion: tuple[float, Signer, etree._Element] | None = None  # signed at, by, assertion
        self._assertion_lock = asyncio.Lock()
        self._current_signer: Callable[[], Signer | None] | None = None
        self.identity: ClientIdentity | None = None  # mTLS: the organisation certificate in use

    # -- lifecycle ---------------------------------------------------------------------------
    def _validate(self) -> None:
        s = self.settings
        if not s.url.startswith("https://"):
            raise InsiConfigError("Adresse du service INSi invalide : une URL https:// est attendue.")
        if s.auth not in ("mtls", "cps"):
            raise InsiConfigError("Mode d'authentification INSi inconnu : « mtls » ou « cps » attendu.")
        if not s.idam.strip():
            raise InsiConfigError("Numéro d'autorisation du logiciel (IDAM) INSi non configuré.")
        if not s.instance_id.strip():
            raise InsiConfigError("Identifiant d'installation INSi absent.")
        if min(s.connect_timeout, s.total_timeout, s.search_timeout) <= 0 or s.max_attempts < 1:
            raise InsiConfigError("Délais ou nombre d'essais INSi invalides.")
        if s.auth == "cps" and s.signer is None:
            raise InsiConfigError("Mode CPS : aucune carte CPS (signataire) n'est disponible pour signer l'assertion.")

    async def start(self) -> None:
        """Check the configuration and certificates, then open the HTTPS session (InsiConfigError)."""
        if self._session is not None:
            return
        self._validate()
        s = self.settings
        emitter = s.emitter
        identity = None
        if s.auth == "mtls":
            identity = await asyncio.to_thread(load_pkcs12, s.pkcs12_path, s.pkcs12_passphrase)
            check_organisation_certificate(identity)
            emitter = emitter or identity.ou
        else:
            assert s.signer is not None
            try:
                cert = x509.load_der_x509_certificate(await asyncio.to_thread(s.signer.certificate))
            except Exception as exc:  # the card layer may raise anything
                raise InsiConfigError("Certificat de la carte CPS illisible.", detail=repr(exc)) from None
            emitter = emitter or s.ps.national_id or certificate_cn(cert)
        ssl_context = await asyncio.to_thread(build_ssl_context, s.ca_files, identity)
        self.identity = identity
        self._context = SoftwareContext(idam=s.idam, software_name=s.software_name,
                                        software_version=s.software_version, instance_id=s.instance_id,
                                        emitter=emitter)
        if s.auth == "cps":
            await self._security()  # sign once now: a missing attribute or a dead signer shows at start
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ssl_context, limit=s.concurrency),
            timeout=aiohttp.ClientTimeout(total=s.total_timeout, sock_connect=s.connect_timeout),
            headers={"User-Agent": f"{s.software_name}/{s.software_version}"},
        )

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def forget_assertion(self) -> None:
        """Who holds the card changed (CPS removed or another inserted): sign a new assertion next time
        rather than acting for one hour more under the previous card's identity."""
        self._assertion = None

    def follow_signer(self, current: Callable[[], Signer | None]) -> None:
        """CPS mode: sign with what `current()` gives when signing (the card in a reader; None once it is
        removed) rather than the signer given at start. Read at each assertion, with no hook in between:
        a call right after a removal or an insertion never signs with, or reuses the assertion of, the
        card that left; with no card in, it says to insert one."""
        self._current_signer = current

    @property
    def started(self) -> bool:
        return self._session is not None

    def _require_started(self) -> tuple[aiohttp.ClientSession, SoftwareContext]:
        if self._session is None or self._context is None:
            raise InsiConfigError("Client INSi non démarré.")
        return self._session, self._context

    # -- searches ----------------------------------------------------------------------------
    async def search_by_traits(self, traits: SearchTraits) -> SearchOutcome:
        """Traits search with the first-name strategy. ValueError on invalid traits (caller bug)."""
        _, context = self._require_started()
        plan = first_name_plan(traits.first_names)
        for names in plan:  # fail fast, before any call, on traits the envelope cannot carry
            build_traits_request(context, traits, names, message_id="uuid:check")
        outcome = SearchOutcome(response=None, error=None)
        deadline = asyncio.get_running_loop().time() + self.settings.search_timeout
        sent: list[str] = []
        index = 0
        while index < len(plan):
            names = plan[index]
            sent.append(" ".join(names))

            def build(message_id: str, security: etree._Element | None,
                      names: tuple[str, ...] = names) -> etree._Element:
                return build_traits_request(context, traits, names, message_id=message_id, security=security)

            response, error = await self._call(OPERATION_TRAITS, build, outcome.exchanges, deadline)
            if error is not None:
                outcome.error = error
                break
            outcome.response = response
            assert response is not None
            if response.cr_code == "00":
                break
            joined = len(plan) - 1
            index = joined if response.cr_code == "02" and len(plan) > 1 and index < joined else index + 1
        outcome.first_names_sent = tuple(sent)
        return outcome

    async def search_by_vitale(self, search: VitaleSearch) -> SearchOutcome:
        """Carte Vitale search: one call (with retries). ValueError on invalid inputs (caller bug)."""
        _, context = self._require_started()
        build_vitale_request(context, search, message_id="uuid:check")
        outcome = SearchOutcome(response=None, error=None)
        deadline = asyncio.get_running_loop().time() + self.settings.search_timeout

        def build(message_id: str, security: etree._Element | None) -> etree._Element:
            return build_vitale_request(context, search, message_id=message_id, security=security)

        outcome.response, outcome.error = await self._call(OPERATION_VITALE, build, outcome.exchanges, deadline)
        return outcome

    # -- one call with retries -----------------------------------------------------------------
    async def _call(self, operation: str, build: Callable[[str, etree._Element | None], etree._Element],
                    exchanges: list[InsiExchange], deadline: float) -> tuple[InsiResponse | None, InsiError | None]:
        s = self.settings
        loop = asyncio.get_running_loop()
        error: InsiError = InsiTimeout(detail="search budget exhausted before the call")
        for attempt in range(1, s.max_attempts + 1):
            remaining = deadline - loop.time()
            if remaining <= 0.05:
                return None, error
            try:
                security = await self._security()
            except InsiError as exc:
                return None, exc
            message_id = new_message_id()
            body = serialize(build(message_id, security))
            response, call_error = await self._exchange(operation, message_id, body, min(s.total_timeout, remaining),
                                                        exchanges)
            if call_error is None:
                return response, None
            error = call_error
            if not error.retryable or attempt == s.max_attempts:
                return None, error
            delay = min(s.backoff_max, s.backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if loop.time() + delay >= deadline:
                return None, error
            log.info("INSi %s: attempt %d failed (%s), retrying in %.2f s", operation, attempt,
                     exchanges[-1].error if exchanges else "?", delay)
            await asyncio.sleep(delay)
        return None, error

    async def _exchange(self, operation: str, message_id: str, body: bytes, timeout: float,
                        exchanges: list[InsiExchange]) -> tuple[InsiResponse | None, InsiError | None]:
        session, _ = self._require_started()
        s = self.settings
        started_at = time.time()
        t0 = time.perf_counter()
        status: int | None = None
        raw: bytes | None = None
        response: InsiResponse | None = None
        error: InsiError | None = None
        tag: str | None = None
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action(operation)}"'}
        try:
            # aiohttp enforces the per-request timeouts; asyncio.timeout is the backstop.
            async with asyncio.timeout(timeout + 1.0):
                async with session.post(s.url, data=body, headers=headers, allow_redirects=False,
                                        timeout=aiohttp.ClientTimeout(total=timeout,
                                                                      sock_connect=s.connect_timeout)) as resp:
                    status = resp.status
                    raw = await self._read(resp)
        except TimeoutError:
            error, tag = InsiTimeout(f"Le service INSi n'a pas répondu à temps (délai de {timeout:.0f} s).",
                                     detail="timeout"), "timeout"
        except aiohttp.ClientConnectorCertificateError as exc:
            error, tag = InsiUnavailable(
                "Connexion au service INSi refusée : son certificat n'est pas reconnu par les autorités de "
                "certification configurées.", retryable=False, detail=str(exc)), "tls"
        except aiohttp.ClientSSLError as exc:
            error, tag = InsiUnavailable(
                "Échec de la connexion sécurisée au service INSi (certificat refusé ou TLS).",
                retryable=False, detail=str(exc)), "tls"
        except _TooLarge:
            error, tag = InsiMalformedResponse(detail="response too large"), "malformed"
        except (aiohttp.ClientError, OSError) as exc:
            error, tag = InsiUnavailable("Le service INSi est injoignable.", detail=repr(exc)), "connection"
        if error is None:
            assert raw is not None and status is not None
            response, error, tag = await self._interpret(status, raw)
        exchanges.append(InsiExchange(
            operation=operation, message_id=message_id, started_at=started_at,
            duration_ms=round((time.perf_counter() - t0) * 1000, 3), http_status=status, error=tag,
            request_xml=body.decode("utf-8"),
            response_xml=raw.decode("utf-8", errors="replace") if raw is not None else None,
        ))
        return response, error

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.settings.max_response_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def _interpret(self, status: int, raw: bytes) -> tuple[InsiResponse | None, InsiError | None, str | None]:
        ok = 200 <= status < 300
        try:
            if len(raw) > PARSE_IN_THREAD_ABOVE:
                response = await asyncio.to_thread(parse_response, raw)
            else:
                response = parse_response(raw)
        except InsiFault as fault:
            return None, fault, f"fault:{fault.subcode or fault.soap_code}:{fault.error_code}"
        except InsiMalformedResponse as exc:
            if ok:
                return None, exc, "malformed"
            return None, _http_error(status), f"http_{status}"
        if not ok:
            return None, _http_error(status), f"http_{status}"
        return response, None, None

    # -- CPS assertion -----------------------------------------------------------------------
    async def _security(self) -> etree._Element | None:
        """The wsse:Security header (CPS mode), from a cached assertion younger than its max age."""
        s = self.settings
        if s.auth != "cps":
            return None
        async with self._assertion_lock:
            now = time.monotonic()
            signer = self._current_signer() if self._current_signer is not None else s.signer
            if signer is None:  # the card was removed after start (follow_signer)
                raise InsiCardMissing("Mode CPS : carte CPS retirée : insérez-la pour interroger l'INSi.")
            if self._assertion is None or now - self._assertion[0] > s.assertion_max_age \
                    or self._assertion[1] is not signer:
                try:
                    assertion = await asyncio.to_thread(build_signed_assertion, signer, s.ps,
                                                        now=dt.datetime.now(dt.UTC))
                except InsiError:
                    raise
                except Exception as exc:  # the card layer (PKCS#11) may raise anything
                    card_says = getattr(exc, "message_fr", None)  # hardware.errors.CardError: wrong PIN...
                    reason = card_says or "vérifiez la carte CPS."
                    raise InsiConfigError(f"Signature de l'assertion CPS impossible : {reason}",
                                          detail=repr(exc)) from None
                self._assertion = (now, signer, assertion)
            return security_header([self._assertion[2]])


class _TooLarge(Exception):
    pass


def _http_error(status: int) -> InsiUnavailable:
    if status >= 500:
        return InsiUnavailable(f"Le service INSi est indisponible (erreur HTTP {status}).", status=status,
                               retryable=True)
    return InsiUnavailable(f"Le service INSi a refusé la requête (erreur HTTP {status}) : vérifiez l'adresse "
                           "configurée.", status=status, retryable=False)
