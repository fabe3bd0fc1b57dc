"""InsiClient against a tiny scripted HTTPS server (real TLS, sandbox PKI): exact replies, full inspection."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLVerifier

from plugins.ins.insi.client import InsiClient, InsiSettings, first_name_plan
from plugins.ins.insi.envelope import NS_CTXBAM, NS_RECSANS, NS_RECVIT, NS_WSA, NS_WSSE
from plugins.ins.insi.saml import NS_SAML, PsAttributes
from plugins.ins.insi.signer import SoftwareSigner
from plugins.ins.insi.types import (
    InsiConfigError,
    InsiFault,
    InsiMalformedResponse,
    InsiTimeout,
    InsiUnavailable,
    SearchTraits,
    VitaleSearch,
)
from sandbox.insi.pki import SandboxPki
from tests.plugins.ins.insi.conftest import sample

CR00 = sample("REP_CR00_ADRTROIS_DOMINIQUE.xml")
CR01 = sample("REP_CR01.xml")
CR02 = sample("REP_CR02_DE_VINCI_LEONARDO.xml")
IDAM_FAULT = sample("FAULT_siram_100_desir_550_unknown_IDAM.xml")
TECH_FAULT = sample("FAULT_siram_40_insi_102_technical.xml")
DOMINIQUE = SearchTraits("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26")
HOUILLES = SearchTraits("HOUILLES", ("PIERRE", "PAUL", "JACQUES"), "M", "1993-01-27")


@dataclass
class Reply:
    body: bytes = CR00
    status: int = 200
    delay: float = 0.0
    content_type: str = "application/soap+xml; charset=utf-8"


@dataclass
class Seen:
    body: bytes
    headers: dict[str, str]
    client_cn: str | None

    @property
    def root(self) -> etree._Element:
        return etree.fromstring(self.body)

    @property
    def first_names(self) -> list[str]:
        return [el.text or "" for el in self.root.iter(f"{{{NS_RECSANS}}}Prenom")]

    @property
    def message_id(self) -> str | None:
        return self.root.findtext(f".//{{{NS_WSA}}}MessageID")


@dataclass
class Scripted:
    url: str
    replies: list[Reply | Callable[[Seen], Reply]] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    seen: list[Seen] = field(default_factory=list)

    def script(self, *replies: Reply | bytes) -> None:
        self.replies = [r if isinstance(r, Reply) else Reply(r) for r in replies]


def _cn(request: web.Request) -> str | None:
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    return str(x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


@pytest.fixture
async def server(pki: SandboxPki) -> AsyncIterator[Scripted]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    for ca in pki.ca_files:
        context.load_verify_locations(cafile=str(ca))
    context.verify_mode = ssl.CERT_OPTIONAL
    scripted = Scripted(url="")

    async def handle(request: web.Request) -> web.Response:
        seen = Seen(await request.read(), dict(request.headers), _cn(request))
        scripted.seen.append(seen)
        reply = scripted.replies.pop(0) if scripted.replies else scripted.default
        if callable(reply):
            reply = reply(seen)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return web.Response(body=reply.body, status=reply.status, headers={"Content-Type": reply.content_type})

    app = web.Application()
    app.router.add_post("/lps", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    scripted.url = f"https://127.0.0.1:{runner.addresses[0][1]}/lps"
    yield scripted
    await runner.cleanup()


def mtls_settings(pki: SandboxPki, url: str = "", **changes: Any) -> InsiSettings:
    base: dict[str, Any] = dict(
        url=url, auth="mtls", ca_files=list(pki.ca_files), pkcs12_path=pki.client_p12,
        pkcs12_passphrase=pki.client_passphrase, idam="IDAM-TEST", software_name="Vigie", software_version="0.1.0",
        instance_id="5f0c1d7e-0000-4000-8000-000000000001", connect_timeout=1.0, total_timeout=3.0,
        max_attempts=3, backoff_base=0.01, backoff_max=0.05)
    base.update(changes)
    return InsiSettings(**base)


@pytest.fixture
async def client(pki: SandboxPki, server: Scripted) -> AsyncIterator[InsiClient]:
    c = InsiClient(mtls_settings(pki, server.url))
    await c.start()
    yield c
    await c.close()


# -- the happy path and what is recorded ---------------------------------------------------------------
async def test_client_mtls_cr00_records_the_exchange(client: InsiClient, server: Scripted, pki: SandboxPki) -> None:
    before = time.time()
    outcome = await client.search_by_traits(DOMINIQUE)
    assert outcome.error is None
    assert outcome.response is not None and outcome.response.found
    assert outcome.response.active is not None and outcome.response.active.full == "297022A02077878"
    assert outcome.first_names_sent == ("DOMINIQUE",)
    [seen] = server.seen
    assert seen.client_cn == "INSI-AUTO"
    assert seen.headers["Content-Type"] == ('application/soap+xml; charset=utf-8; '
                                            'action="urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"')
    assert seen.root.findtext(f".//{{{NS_CTXBAM}}}Emetteur") == pki.client_emitter  # from the certificate OU
    assert seen.root.find(f".//{{{NS_WSSE}}}Security") is None
    [exchange] = outcome.exchanges
    assert exchange.operation == "rechercherInsAvecTraitsIdentite"
    assert exchange.message_id == seen.message_id
    assert exchange.http_status == 200 and exchange.error is None
    assert exchange.request_xml.encode() == seen.body
    assert exchange.response_xml == CR00.decode()
    assert before <= exchange.started_at <= time.time() and exchange.duration_ms > 0


def test_first_name_plan() -> None:
    assert first_name_plan(()) == [()]
    assert first_name_plan(("DOMINIQUE",)) == [("DOMINIQUE",)]
    assert first_name_plan(("PIERRE", " PAUL ", "", "JACQUES")) == [
        ("PIERRE",), ("PAUL",), ("JACQUES",), ("PIERRE PAUL JACQUES",)]


async def test_client_first_names_one_by_one_then_joined(client: InsiClient, server: Scripted) -> None:
    server.script(CR01, CR01, CR01, CR01)
    outcome = await client.search_by_traits(HOUILLES)
    assert [s.first_names for s in server.seen] == [["PIERRE"], ["PAUL"], ["JACQUES"], ["PIERRE PAUL JACQUES"]]
    assert outcome.first_names_sent == ("PIERRE", "PAUL", "JACQUES", "PIERRE PAUL JACQUES")
    assert outcome.error is None and outcome.response is not None and outcome.response.cr_code == "01"
    assert len(outcome.exchanges) == 4
    assert len({e.message_id for e in outcome.exchanges}) == 4


async def test_client_stops_at_the_first_cr00(client: InsiClient, server: Scripted) -> None:
    server.script(CR01, CR00)
    outcome = await client.search_by_traits(HOUILLES)
    assert outcome.first_names_sent == ("PIERRE", "PAUL")
    assert outcome.response is not None and outcome.response.found and len(server.seen) == 2


async def test_client_cr02_jumps_to_all_first_names(client: InsiClient, server: Scripted) -> None:
    server.script(CR02, CR02)
    outcome = await client.search_by_traits(HOUILLES)
    assert outcome.first_names_sent == ("PIERRE", "PIERRE PAUL JACQUES")
    assert outcome.response is not None and outcome.response.cr_code == "02"
    server.seen.clear()
    server.script(CR01, CR02, CR00)
    outcome = await client.search_by_traits(HOUILLES)
    assert outcome.first_names_sent == ("PIERRE", "PAUL", "PIERRE PAUL JACQUES")
    assert outcome.response is not None and outcome.response.found


async def test_client_no_first_name_sends_no_prenom(client: InsiClient, server: Scripted) -> None:
    outcome = await client.search_by_traits(SearchTraits("ADRTROIS", (), "F", "1997-02-26", "2A020"))
    assert outcome.first_names_sent == ("",)
    assert server.seen[0].first_names == []


async def test_client_invalid_traits_raise_before_any_call(client: InsiClient, server: Scripted) -> None:
    with pytest.raises(ValueError):
        await client.search_by_traits(SearchTraits("ADRTROIS", ("A", "B"), "F", "26/02/1997"))
    assert server.seen == []


# -- faults and retries ------------------------------------------------------------------------------------
async def test_client_sender_fault_is_not_retried(client: InsiClient, server: Scripted) -> None:
    server.script(Reply(IDAM_FAULT, 500))
    outcome = await client.search_by_traits(HOUILLES)
    assert isinstance(outcome.error, InsiFault) and not outcome.error.retryable
    assert outcome.error.desir == "desir_550"
    assert len(server.seen) == 1 and outcome.first_names_sent == ("PIERRE",)
    [exchange] = outcome.exchanges
    assert (exchange.http_status, exchange.error) == (500, "fault:siram_100:desir_550")
    assert exchange.response_xml == IDAM_FAULT.decode()


async def test_client_siram_40_is_retried_then_succeeds(client: InsiClient, server: Scripted) -> None:
    server.script(Reply(TECH_FAULT, 500), Reply(TECH_FAULT, 500), CR00)
    outcome = await client.search_by_traits(DOMINIQUE)
    assert outcome.error is None and outcome.response is not None and outcome.response.found
    assert [e.error for e in outcome.exchanges] == ["fault:siram_40:insi_102"] * 2 + [None]
    assert len({e.message_id for e in outcome.exchanges}) == 3


async def test_client_siram_40_gives_up_after_max_attempts(client: InsiClient, server: Scripted) -> None:
    server.default = Reply(TECH_FAULT, 500)
    outcome = await client.search_by_traits(HOUILLES)
    assert isinstance(outcome.error, InsiFault) and outcome.error.retryable
    assert len(server.seen) == 3 and outcome.first_names_sent == ("PIERRE",)


async def test_client_http_5xx_retried_4xx_not(client: InsiClient, server: Scripted) -> None:
    html = b"<html><body>Service Unavailable</body></html>"
    server.script(Reply(html, 503, content_type="text/html"), CR00)
    outcome = await client.search_by_traits(DOMINIQUE)
    assert outcome.error is None and [e.http_status for e in outcome.exchanges] == [503, 200]
    assert outcome.exchanges[0].error == "http_503"
    server.seen.clear()
    server.script(Reply(b"Not Found", 404, content_type="text/plain"))
    outcome = await client.search_by_traits(DOMINIQUE)
    assert isinstance(outcome.error, InsiUnavailable) and outcome.error.status == 404
    assert not outcome.error.retryable and len(server.seen) == 1
    assert "404" in outcome.error.message_fr


async def test_client_malformed_answer_is_not_retried(client: InsiClient, server: Scripted) -> None:
    server.script(CR00[: len(CR00) // 2])
    outcome = await client.search_by_traits(DOMINIQUE)
    assert isinstance(outcome.error, InsiMalformedResponse)
    assert [e.error for e in outcome.exchanges] == ["malformed"]


async def test_client_oversized_answer_is_malformed(pki: SandboxPki, server: Scripted) -> None:
    server.script(CR00)
    async with _started(mtls_settings(pki, server.url, max_response_bytes=100)) as client:
        outcome = await client.search_by_traits(DOMINIQUE)
    assert isinstance(outcome.error, InsiMalformedResponse)


async def test_client_timeout_returns_promptly(pki: SandboxPki, server: Scripted) -> None:
    server.default = Reply(CR00, delay=5.0)
    async with _started(mtls_settings(pki, server.url, total_timeout=0.4, max_attempts=1)) as client:
        started = time.monotonic()
        outcome = await client.search_by_traits(DOMINIQUE)
        elapsed = time.monotonic() - started
    assert isinstance(outcome.error, InsiTimeout) and outcome.error.retryable
    assert elapsed < 1.5
    assert [(e.error, e.http_status, e.response_xml) for e in outcome.exchanges] == [("timeout", None, None)]


async def test_client_search_budget_bounds_retries(pki: SandboxPki, server: Scripted) -> None:
    server.default = Reply(CR00, delay=5.0)
    settings = mtls_settings(pki, server.url, total_timeout=0.4, max_attempts=10, search_timeout=1.0)
    async with _started(settings) as client:
        started = time.monotonic()
        outcome = await client.search_by_traits(HOUILLES)
        elapsed = time.monotonic() - started
    assert isinstance(outcome.error, InsiTimeout)
    assert elapsed < 2.0
    assert 2 <= len(outcome.exchanges) <= 4


async def test_client_connection_refused_is_retried(pki: SandboxPki) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with _started(mtls_settings(pki, f"https://127.0.0.1:{port}/lps")) as client:
        outcome = await client.search_by_traits(DOMINIQUE)
    assert isinstance(outcome.error, InsiUnavailable) and outcome.error.retryable
    assert [(e.error, e.http_status) for e in outcome.exchanges] == [("connection", None)] * 3


async def test_client_untrusted_server_is_refused(pki: SandboxPki, server: Scripted) -> None:
    async with _started(mtls_settings(pki, server.url, ca_files=[pki.cps_ca])) as client:
        outcome = await client.search_by_traits(DOMINIQUE)
    assert isinstance(outcome.error, InsiUnavailable) and not outcome.error.retryable
    assert "certificat" in outcome.error.message_fr
    assert [e.error for e in outcome.exchanges] == ["tls"] and server.seen == []


# -- configuration -------------------------------------------------------------------------------------------
async def test_client_wrong_cn_refused_before_any_call(pki: SandboxPki, server: Scripted) -> None:
    client = InsiClient(mtls_settings(pki, server.url, pkcs12_path=pki.wrong_client_p12,
                                      pkcs12_passphrase=pki.wrong_client_passphrase))
    with pytest.raises(InsiConfigError) as info:
        await client.start()
    assert "INSI-AUTO" in info.value.message_fr
    assert not client.started and server.seen == []
    with pytest.raises(InsiConfigError):
        await client.search_by_traits(DOMINIQUE)
    await client.close()


@pytest.mark.parametrize(("changes", "words"), [
    ({"url": "http://127.0.0.1/lps"}, "https"),
    ({"idam": " "}, "IDAM"),
    ({"instance_id": ""}, "installation"),
    ({"auth": "basic"}, "mtls"),
    ({"auth": "cps"}, "CPS"),
    ({"pkcs12_passphrase": None}, "phrase de passe"),
    ({"max_attempts": 0}, "essais"),
])
async def test_client_start_config_errors(pki: SandboxPki, changes: dict[str, Any], words: str) -> None:
    client = InsiClient(mtls_settings(pki, **{"url": "https://127.0.0.1:1/lps", **changes}))
    with pytest.raises(InsiConfigError) as info:
        await client.start()
    assert words in info.value.message_fr


async def test_client_close_is_idempotent(client: InsiClient) -> None:
    await client.close()
    await client.close()
    assert not client.started


# -- CPS mode -------------------------------------------------------------------------------------------------
class ThreadRecordingSigner(SoftwareSigner):
    threads: list[str]

    def sign(self, data: bytes) -> bytes:
        self.threads.append(threading.current_thread().name)
        return super().sign(data)


def cps_settings(pki: SandboxPki, url: str, **changes: Any) -> tuple[InsiSettings, ThreadRecordingSigner]:
    base = SoftwareSigner.from_files(pki.ps_key, pki.ps_cert)
    signer = ThreadRecordingSigner(base._key, base._cert)
    signer.threads = []
    cps: dict[str, Any] = dict(auth="cps", pkcs12_path=None, pkcs12_passphrase=None, signer=signer,
                               ps=PsAttributes(billing_id="991234567", specialty_code="SM54"))
    settings = mtls_settings(pki, url, **{**cps, **changes})
    return settings, signer


async def test_client_cps_mode_sends_a_verifiable_assertion(pki: SandboxPki, server: Scripted) -> None:
    settings, signer = cps_settings(pki, server.url)
    async with _started(settings) as client:
        outcome = await client.search_by_traits(HOUILLES)  # CR00 at once
        await client.search_by_traits(DOMINIQUE)
    assert outcome.error is None
    ids = []
    for seen in server.seen:
        assert seen.client_cn is None  # server-auth TLS only
        result = XMLVerifier().verify(seen.body, x509_cert=pki.ps_cert.read_text())
        assert not isinstance(result, list) and result.signed_xml is not None
        ids.append(result.signed_xml.get("ID"))
        assert seen.root.findtext(f".//{{{NS_SAML}}}NameID") == pki.ps_national_id
        assert seen.root.findtext(f".//{{{NS_CTXBAM}}}Emetteur") == pki.ps_national_id
    assert len(ids) == 2 and ids[0] == ids[1]  # one assertion reused while young
    assert signer.threads and threading.main_thread().name not in signer.threads


async def test_client_cps_assertion_renewed_when_old(pki: SandboxPki, server: Scripted) -> None:
    settings, _ = cps_settings(pki, server.url, assertion_max_age=0.0)
    async with _started(settings) as client:
        await client.search_by_traits(DOMINIQUE)
        await client.search_by_traits(DOMINIQUE)
    ids = {s.root.find(f".//{{{NS_SAML}}}Assertion").get("ID") for s in server.seen}
    assert len(ids) == 2


async def test_client_cps_missing_billing_id_fails_at_start(pki: SandboxPki, server: Scripted) -> None:
    settings, _ = cps_settings(pki, server.url, ps=PsAttributes())
    with pytest.raises(InsiConfigError):
        await InsiClient(settings).start()


async def test_client_cps_dead_signer_is_reported(pki: SandboxPki, server: Scripted) -> None:
    settings, signer = cps_settings(pki, server.url, assertion_max_age=0.0)
    async with _started(settings) as client:
        def broken(data: bytes) -> bytes:
            raise OSError("card removed")

        signer.sign = broken  # type: ignore[method-assign]
        outcome = await client.search_by_traits(DOMINIQUE)
    assert isinstance(outcome.error, InsiConfigError) and "CPS" in outcome.error.message_fr
    assert server.seen == [] and outcome.exchanges == []


# -- Carte Vitale ------------------------------------------------------------------------------------------------
async def test_client_vitale_search(client: InsiClient, server: Scripted) -> None:
    outcome = await client.search_by_vitale(VitaleSearch(beneficiary_nir="297022A020778", beneficiary_nir_key="78",
                                                         insured_nir="160012B020777", birth_date="1997-02-26"))
    assert outcome.response is not None and outcome.response.found and outcome.first_names_sent == ()
    [seen] = server.seen
    assert 'action="urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale"' in seen.headers["Content-Type"]
    assert seen.root.findtext(f".//{{{NS_RECVIT}}}MatriculeIndividu/{{{NS_RECVIT}}}NumIdentifiant") == "297022A020778"
    assert outcome.exchanges[0].operation == "rechercherInsAvecCarteVitale"


async def test_client_concurrent_searches(client: InsiClient, server: Scripted) -> None:
    server.default = Reply(CR00, delay=0.05)
    outcomes = await asyncio.gather(*(client.search_by_traits(DOMINIQUE) for _ in range(20)))
    assert all(o.response is not None and o.response.found for o in outcomes)
    assert len({o.exchanges[0].message_id for o in outcomes}) == 20


class _started:
    """`async with _started(settings) as client`: start, then always close."""

    def __init__(self, settings: InsiSettings) -> None:
        self.client = InsiClient(settings)

    async def __aenter__(self) -> InsiClient:
        await self.client.start()
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
