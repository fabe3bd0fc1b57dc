"""The INSi sandbox server: HTTPS on 127.0.0.1, SOAP 1.2 at `/lps`, both authentication modes on one port.

insi.md §1 lists two qualif hosts with the same path `/lps`: one with mutual TLS (organisation certificate,
CN `INSI-AUTO`/`INSI-MANU`) and one with server-only TLS plus a CPS-signed SAML assertion. Since the two
differ only in how the caller authenticates, the sandbox serves both on one port: the TLS server *asks* for a
client certificate (`CERT_OPTIONAL`, trusting only the sandbox organisation CA).

- A client certificate was presented → mTLS mode: its CN must be in `accepted_cns`, else DESIR_560. A
  `wsse:Security` header, if any, is ignored (SEL-MP-043 §3.2: mTLS carries no PS assertion).
- No client certificate → CPS mode: `wsse:Security` must hold a PS assertion signed by a certificate of the
  sandbox CPS CA (assertion.py), else DESIR_560 with the reason in the detail text.

Then, per request: WS-Addressing headers (strict mode), dispatch on the Body element (`RECSANSVITALE` →
`rechercherInsAvecTraitsIdentite`, `RECVITALE` → `rechercherInsAvecCarteVitale`) which must agree with
`wsa:Action`, schema checks (strict mode), the IDAM (unknown → siram_100/desir_550, byte for byte the
sample), and the search (identities.py) answered as CR 00/01/02 in the samples' wire format (responses.py).
Faults are HTTP 500. Fault injection and latency (config.py) apply before all of this.

Admin endpoints, loopback only, no `Origin` header, JSON: `GET /_sandbox/stats` (`?bodies=0` to leave the
request bodies out), `GET /_sandbox/config`, `POST /_sandbox/config` (changes, as `configure`),
`POST /_sandbox/reset` (zero the counters and the fault rules' counts). Nothing under `/lps` reaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import random
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from sandbox.insi.assertion import AssertionRejected, verify_ps_assertion
from sandbox.insi.config import Decision, RequestFacts, SandboxConfig
from sandbox.insi.faults import (
    ACCESS_LEVEL,
    SOAP_FAULTS,
    TECHNICAL,
    TECHNICAL_VITALE,
    UNKNOWN_IDAM,
    SoapFault,
    html_error_page,
    http_status,
    plain_fault,
)
from sandbox.insi.identities import IdentityBook, SearchResult, load_identities
from sandbox.insi.pki import SandboxPki, generate_sandbox_pki
from sandbox.insi.request import OP_TRAITS, OP_VITALE, InsiRequest, RequestRejected, parse_request
from sandbox.insi.responses import ACTION_PREFIX, CONTENT_TYPE, FAULT_ACTION, Addressing, resultat_envelope
from sandbox.insi.stats import RequestRecord, SandboxStats

SAMPLE_DAY = Path(__file__).parent / "data" / "journee-exemple.csv"  # a day's appointments, as an LGC exports it

if TYPE_CHECKING:
    from sandbox.supervisor import SandboxService

HOST = "127.0.0.1"
SOAP_PATH = "/lps"
ADMIN_PREFIX = "/_sandbox"
POLL = 0.02  # how often a held request looks at its connection and at stop()

# The acting user and PS attributes the sandbox profile gives the INS plugin (PS identity of pki.py).
SANDBOX_USER_NAME = "Dr Olivier SANDBOX"
SANDBOX_PROFESSION = "Médecin"
SANDBOX_BILLING_ID = "991234567"
SANDBOX_ACTIVITY_SECTOR = "SA07"
SANDBOX_SPECIALTY = "SM54"  # médecine générale


def _server_ssl_context(pki: SandboxPki) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no system CAs: only the sandbox organisation PKI
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    for ca in pki.ca_files:
        ctx.load_verify_locations(cafile=str(ca))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def _client_cn(request: web.Request) -> str | None:
    """CN of the verified client certificate; "" for a certificate without CN; None without certificate."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = cns[0].value if cns else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _facts(req: InsiRequest | None, mode: str) -> RequestFacts:
    if req is None:
        return RequestFacts(mode=mode)
    return RequestFacts(operation=req.operation, birth_name=req.birth_name, first_names=tuple(req.first_names),
                        sex=req.sex, birth_date=req.birth_date, birth_place=req.birth_place, idam=req.idam,
                        mode=mode, nir=req.nir, message_id=req.message_id)


def _soap(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": CONTENT_TYPE})


class InsiSandbox:
    """A running INSi stand-in. Create it with `start_insi_sandbox()`."""

    def __init__(self, *, pki: SandboxPki, config: SandboxConfig, owned_dir: Path | None = None) -> None:
        self.pki = pki
        self.config = config
        self.stats = SandboxStats()
        self.stats.resize(config.history_size)
        self.url = ""
        self.port = 0
        self._rng = random.Random(config.seed)
        self._base_identities = load_identities()
        self._book = IdentityBook([*self._base_identities, *config.extra_identities])
        self._owned_dir = owned_dir
        self._runner: web.AppRunner | None = None
        self._stopping = False

    # -- public API ---------------------------------------------------------------------
    @property
    def idam(self) -> str:
        """An IDAM the sandbox accepts (the first of `config.idams`)."""
        return self.config.idams[0] if self.config.idams else ""

    @property
    def base_url(self) -> str:
        return f"https://{HOST}:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}{ADMIN_PREFIX}"

    @property
    def book(self) -> IdentityBook:
        return self._book

    def configure(self, **changes: Any) -> None:
        """Change settings at runtime (keys of `SandboxConfig`; validated, applied atomically)."""
        changed = self.config.update(changes)
        if "seed" in changed:
            self._rng = random.Random(self.config.seed)
        if "extra_identities" in changed:
            self._book = IdentityBook([*self._base_identities, *self.config.extra_identities])
        if "history_size" in changed:
            self.stats.resize(self.config.history_size)

    def reset_stats(self) -> None:
        self.stats.reset()
        self.config.reset_counters()

    def plugin_settings(self, *, keyring: bool = False) -> dict[str, Any]:
        """`[plugins.ins]` settings for an agent talking to this sandbox (plugins/ins/settings.py keys); with
        `keyring`, the certificate is `keyring:ins.certificate` (import `certificates()` into the keyring)."""
        from plugins.ins.settings import CERTIFICATE_SECRET

        pki = self.pki
        return {
            "url": self.url,
            "auth": "mtls",
            "ca_files": [str(p) for p in pki.ca_files],
            "pkcs12_path": f"keyring:{CERTIFICATE_SECRET}" if keyring else str(pki.client_p12),
            "idam": self.idam,
            "emitter": pki.client_emitter,
            "user": {"kind": "ps", "name": SANDBOX_USER_NAME, "national_id": pki.ps_national_id,
                     "profession": SANDBOX_PROFESSION},
            "ps": {"national_id": pki.ps_national_id, "billing_id": SANDBOX_BILLING_ID,
                   "activity_sector": SANDBOX_ACTIVITY_SECTOR, "specialty_code": SANDBOX_SPECIALTY},
        }

    def secrets(self) -> dict[str, str]:
        """What the agent reads from its keyring: the client certificate's (throwaway) passphrase."""
        from plugins.ins.settings import PASSPHRASE_SECRET

        return {PASSPHRASE_SECRET: self.pki.client_passphrase}

    def certificates(self) -> dict[str, Path]:
        """The PKCS#12 a keyring-form agent needs in its keyring (`plugin_settings(keyring=True)`)."""
        from plugins.ins.settings import CERTIFICATE_SECRET

        return {CERTIFICATE_SECRET: self.pki.client_p12}

    def sandbox_settings(self) -> dict[str, Any]:
        """`[plugins.sandbox-insi]` (sandbox/insi/plugin.py): the test PS's key, the CPS of CPS mode (`cps`)."""
        return {"signer": {"key": str(self.pki.ps_key), "cert": str(self.pki.ps_cert)}, "cps": False,
                "user": {"name": SANDBOX_USER_NAME, "national_id": self.pki.ps_national_id,
                         "profession": SANDBOX_PROFESSION}}

    def as_service(self) -> SandboxService:
        from sandbox.supervisor import SandboxService

        # `vigie run --sandbox` ships a sample day (a CSV as an LGC exports it) for the start-of-day batch.
        return SandboxService(name="insi", endpoints={"insi": self.url}, stop=self.stop,
                              plugin_settings={"ins": {**self.plugin_settings(keyring=True),
                                                       "batch_file": str(SAMPLE_DAY)},
                                               "sandbox-insi": self.sandbox_settings()},
                              secrets=self.secrets(), certificates=self.certificates())

    async def stop(self) -> None:
        """Stop serving (held requests are released at once) and delete a PKI directory it created."""
        self._stopping = True
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    # -- server -------------------------------------------------------------------------
    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post(SOAP_PATH, self._handle_soap)
        app.router.add_get(f"{ADMIN_PREFIX}/stats", self._admin_stats)
        app.router.add_get(f"{ADMIN_PREFIX}/config", self._admin_get_config)
        app.router.add_post(f"{ADMIN_PREFIX}/config", self._admin_post_config)
        app.router.add_post(f"{ADMIN_PREFIX}/reset", self._admin_reset)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, HOST, port, ssl_context=_server_ssl_context(self.pki))
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        self.url = f"{self.base_url}{SOAP_PATH}"

    async def _wait(self, seconds: float, request: web.Request) -> None:
        """Sleep, but give up early when the caller hung up or the sandbox stops."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._stopping:
            remaining = deadline - loop.time()
            if remaining <= 0 or request.transport is None or request.transport.is_closing():
                return
            await asyncio.sleep(min(remaining, POLL))

    def _delay(self, decision: Decision) -> float:
        """Latency of one answer: fixed + the rules' delays + seeded jitter (drawn in arrival order)."""
        delay = self.config.latency + decision.delay
        if self.config.jitter > 0:
            delay += self._rng.uniform(0.0, self.config.jitter)
        return delay

    async def _handle_soap(self, request: web.Request) -> web.StreamResponse:
        self.stats.begin()
        try:
            return await self._serve(request)
        finally:
            self.stats.end()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        data = await request.read()
        cn = _client_cn(request)
        mode = "mtls" if cn is not None else "cps"
        req: InsiRequest | None = None
        rejected: SoapFault | None = None
        try:
            req = parse_request(data)
        except RequestRejected as exc:
            rejected = exc.fault
        decision = self.config.decide(_facts(req, mode))
        record = RequestRecord(at=SandboxStats.now(), operation=(req.operation if req and req.operation else "unknown"),
                               mode=mode, client_cn=cn, message_id=req.message_id if req else None, outcome="pending",
                               body=data.decode("utf-8", "replace"))
        self.stats.arrive(record)
        if decision.fault is not None:
            self.stats.injected[decision.fault] += 1
        delay = self._delay(decision)
        if delay > 0:
            await self._wait(delay, request)

        rule = decision.rule
        if rule is None or rule.fault == "timeout":
            if rule is not None:
                await self._wait(self.config.timeout_hold if rule.hold is None else rule.hold, request)
            outcome, response = self._answer(request, req, rejected, mode, cn)
            self.stats.finish(record, outcome if rule is None else "injected timeout")
            return response
        self.stats.finish(record, f"injected {rule.fault}")
        return self._inject(rule.fault, request, req, rejected, mode, cn)

    def _inject(self, kind: str, request: web.Request, req: InsiRequest | None, rejected: SoapFault | None,
                mode: str, cn: str | None) -> web.StreamResponse:
        if kind in SOAP_FAULTS:
            fault = SOAP_FAULTS[kind]
            if fault is TECHNICAL and req is not None and req.operation == OP_VITALE:
                fault = fault.with_detail(TECHNICAL_VITALE)
            return self._fault(fault, req)
        status = http_status(kind)
        if status is not None:
            try:
                phrase = http.HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            return web.Response(body=html_error_page(status, phrase), status=status,
                                headers={"Content-Type": "text/html; charset=iso-8859-1"})
        if kind == "empty":
            return _soap(b"")
        if kind == "reset":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never sent: the connection is gone
        # malformed: the answer the request deserved, cut in the middle
        _, normal = self._answer(request, req, rejected, mode, cn)
        body = normal.body if isinstance(normal.body, bytes) else b""
        return _soap(body[: max(1, len(body) // 2)])

    def _addressing(self, req: InsiRequest | None, *, fault: bool) -> Addressing | None:
        if not self.config.addressing_headers or req is None:
            return None
        action = FAULT_ACTION if fault or req.operation is None else f"{ACTION_PREFIX}{req.operation}Response"
        return Addressing(action=action, relates_to=req.message_id)

    def _fault(self, fault: SoapFault, req: InsiRequest | None) -> web.Response:
        message_id = req.message_id if req is not None else None
        return _soap(fault.render(message_id, self._addressing(req, fault=True)), status=500)

    def _answer(self, request: web.Request, req: InsiRequest | None, rejected: SoapFault | None, mode: str,
                cn: str | None) -> tuple[str, web.Response]:
        """What the service answers (no fault injection): (outcome label for the stats, response)."""
        config = self.config
        if config.strict and request.content_type != "application/soap+xml":
            text = (f"Unsupported Content-Type: {request.content_type} Supported ones are: "
                    "[application/soap+xml]")
            return "http 415", web.Response(text=text, status=415)
        if rejected is not None or req is None:
            fault = rejected or plain_fault("Unreadable request")
            return "fault soap", self._fault(fault, None)

        def refuse(fault: SoapFault) -> tuple[str, web.Response]:
            return f"fault {fault.erreur_code or fault.subcode or fault.code}", self._fault(fault, req)

        # authentication
        if mode == "mtls":
            if cn not in config.accepted_cns:
                return refuse(ACCESS_LEVEL)
        else:
            try:
                verify_ps_assertion(req.security, ca_file=self.pki.cps_ca, max_age=config.assertion_max_age,
                                    require_specialty=config.require_specialty_code)
            except AssertionRejected as exc:
                return refuse(ACCESS_LEVEL.with_detail(f"Niveau d'accès insuffisant : {exc}"))
        # addressing and dispatch
        if config.strict:
            for name, value in (("Action", req.action), ("MessageID", req.message_id)):
                if value is None:
                    return refuse(plain_fault(
                        f"A required header representing a Message Addressing Property is not present: {name}",
                        subcode="wsa:MessageAddressingHeaderRequired"))
        if req.operation is None:
            return refuse(plain_fault(f"Cannot find dispatch method for {req.body_element}"))
        if req.action is not None and req.action_operation != req.operation:
            return refuse(plain_fault(f'The "{req.action}" cannot be processed at the receiver',
                                      subcode="wsa:ActionNotSupported"))
        if config.strict and req.schema_problems:
            return refuse(plain_fault("Requête non conforme au schéma : " + " ; ".join(req.schema_problems)))
        # software authorisation
        if req.idam not in config.idams:
            return refuse(UNKNOWN_IDAM)
        result = self._search(req)
        body = resultat_envelope(result, style=config.body_style, addressing=self._addressing(req, fault=False))
        return f"CR {result.cr}", _soap(body)

    def _search(self, req: InsiRequest) -> SearchResult:
        if req.operation == OP_TRAITS:
            return self._book.search_traits(birth_name=req.birth_name, first_names=req.first_names, sex=req.sex,
                                            birth_date=req.birth_date, birth_place=req.birth_place)
        return self._book.search_vitale(nir=req.nir, nir_key=req.nir_key, birth_name=req.birth_name,
                                        birth_date=req.birth_date, rank=req.rank)

    # -- admin --------------------------------------------------------------------------
    @staticmethod
    def _admin_refusal(request: web.Request) -> web.Response | None:
        try:
            loopback = request.remote is not None and ipaddress.ip_address(request.remote).is_loopback
        except ValueError:
            loopback = False
        if not loopback or "Origin" in request.headers:
            return web.json_response({"error": "forbidden"}, status=403)
        if request.method == "POST" and request.content_type != "application/json":
            return web.json_response({"error": "expected application/json"}, status=415)
        return None

    async def _admin_stats(self, request: web.Request) -> web.Response:
        refusal = self._admin_refusal(request)
        if refusal is not None:
            return refusal
        bodies = request.query.get("bodies", "1") not in ("0", "false", "no")
        return web.json_response(self.stats.to_dict(bodies=bodies))

    async def _admin_get_config(self, request: web.Request) -> web.Response:
        return self._admin_refusal(request) or web.json_response(self.config.to_dict())

    async def _admin_post_config(self, request: web.Request) -> web.Response:
        refusal = self._admin_refusal(request)
        if refusal is not None:
            return refusal
        try:
            changes = await request.json()
        except ValueError:
            return web.json_response({"error": "invalid JSON"}, status=400)
        if not isinstance(changes, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        try:
            self.configure(**changes)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.config.to_dict())

    async def _admin_reset(self, request: web.Request) -> web.Response:
        refusal = self._admin_refusal(request)
        if refusal is not None:
            return refusal
        self.reset_stats()
        return web.json_response({"ok": True})


async def start_insi_sandbox(*, latency: float = 0.0, jitter: float = 0.0, seed: int = 0,
                             extra_identities: list[Any] | None = None, faults: list[Any] | None = None,
                             directory: Path | None = None, port: int = 0, pki: SandboxPki | None = None,
                             **options: Any) -> InsiSandbox:
    """Start the INSi sandbox on 127.0.0.1:`port` (0: a free port).

    The PKI is generated into `directory` (kept on stop) or a private temporary directory (deleted on
    stop), unless an existing `pki` is given (tests share one to save the key generation). `options` are
    further `SandboxConfig` settings (`idams`, `strict`, `addressing_headers`, `body_style`, ...).
    """
    config = SandboxConfig()
    config.update({"latency": latency, "jitter": jitter, "seed": seed, "faults": list(faults or []),
                   "extra_identities": list(extra_identities or []), **options})
    owned: Path | None = None
    if pki is None:
        if directory is None:
            directory = owned = Path(tempfile.mkdtemp(prefix="vigie-insi-sandbox-"))
        try:
            pki = await asyncio.to_thread(generate_sandbox_pki, directory)
        except BaseException:
            if owned is not None:
                shutil.rmtree(owned, ignore_errors=True)
            raise
    sandbox = InsiSandbox(pki=pki, config=config, owned_dir=owned)
    try:
        await sandbox.start(port)
    except BaseException:
        with contextlib.suppress(Exception):
            await sandbox.stop()
        raise
    return sandbox
