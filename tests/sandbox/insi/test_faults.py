"""Deterministic fault injection, latency and jitter, timeouts, and the in-flight counter."""

from __future__ import annotations

import asyncio
import ssl
import time

import aiohttp
import pytest
from lxml import etree

from sandbox.insi.config import Decision, FaultRule, RequestFacts, SandboxConfig
from sandbox.insi.pki import SandboxPki
from sandbox.insi.server import InsiSandbox, start_insi_sandbox
from tests.sandbox.insi.helpers import NS, Client, envelope, sample, structure, traits, vitale

FAUTE = traits("FAUTE", ["JEAN"], "M", "1970-01-01")
ZOE = traits("ADRUN", ["ZOE"], "F", "1975-12-31")


async def test_siram_40_rule_on_birth_name_fires_twice(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(faults=[{"match": {"birth_name": "FAUTE"}, "fault": "siram_40", "times": 2}])
    replies = [await client.post(envelope(FAUTE, idam=sandbox.idam)) for _ in range(3)]
    assert [r.status for r in replies] == [500, 500, 200]
    expected = sample("FAULT_siram_40_insi_102_technical.xml")
    assert structure(replies[0].body) == structure(expected)
    assert replies[0].body == expected
    assert replies[2].cr == "01"
    # other patients are not affected
    assert (await client.post(envelope(ZOE, idam=sandbox.idam))).cr == "00"
    assert sandbox.stats.injected == {"siram_40": 2}
    assert sandbox.config.faults[0].fired == 2 and sandbox.config.faults[0].seen == 3


async def test_siram_40_on_the_vitale_operation(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(faults=[{"match": {"operation": "vitale"}, "fault": "siram_40"}])
    reply = await client.post(envelope(vitale(name="CORSE", date="1980-03-02"), idam=sandbox.idam,
                                       operation="rechercherInsAvecCarteVitale"))
    assert reply.status == 500 and "carte Vitale" in (reply.find(".//siram:Erreur").text or "")  # type: ignore[union-attr]
    assert (await client.post(envelope(ZOE, idam=sandbox.idam))).cr == "00"


async def test_desir_1020_and_desir_560_on_demand(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(faults=[{"match": {"first_name": "ZOE"}, "fault": "siram_40_desir_1020", "times": 1},
                              {"match": {"first_name": "ZOE"}, "fault": "desir_560", "times": 1}])
    first = await client.post(envelope(ZOE, idam=sandbox.idam))
    second = await client.post(envelope(ZOE, idam=sandbox.idam))
    third = await client.post(envelope(ZOE, idam=sandbox.idam))
    assert first.error_code == "desir_1020"
    assert first.xml().findtext(".//soap:Subcode/soap:Value", namespaces=NS) == "soap:siram_40"
    assert second.error_code == "desir_560"
    assert third.cr == "00"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_http_errors(sandbox: InsiSandbox, client: Client, status: int) -> None:
    sandbox.configure(faults=[f"http_{status}"])  # global: every request
    reply = await client.post(envelope(ZOE, idam=sandbox.idam))
    assert reply.status == status and reply.content_type.startswith("text/html")


async def test_malformed_and_empty_answers(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(faults=[{"fault": "malformed", "times": 1}, {"fault": "empty", "times": 1}])
    malformed = await client.post(envelope(ZOE, idam=sandbox.idam))
    assert malformed.status == 200 and malformed.body.startswith(b"<?xml")
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(malformed.body)
    empty = await client.post(envelope(ZOE, idam=sandbox.idam))
    assert empty.status == 200 and empty.body == b""
    assert (await client.post(envelope(ZOE, idam=sandbox.idam))).cr == "00"


async def test_connection_reset(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(faults=[{"fault": "reset", "times": 1}])
    with pytest.raises(aiohttp.ClientError):
        await client.post(envelope(ZOE, idam=sandbox.idam))
    assert (await client.post(envelope(ZOE, idam=sandbox.idam))).cr == "00"


async def test_timeout_holds_longer_than_the_client_waits(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(faults=[{"match": {"birth_name": "ADRUN"}, "fault": "timeout", "hold": 30, "times": 1}])
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await client.post(envelope(ZOE, idam=sandbox.idam), timeout=0.3)
    assert time.monotonic() - started < 2
    # the held request notices the caller hung up and leaves
    for _ in range(100):
        if sandbox.stats.in_flight == 0:
            break
        await asyncio.sleep(0.02)
    assert sandbox.stats.in_flight == 0
    assert sandbox.stats.injected == {"timeout": 1}
    assert (await client.post(envelope(ZOE, idam=sandbox.idam), timeout=2)).cr == "00"


async def test_short_hold_then_normal_answer(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(faults=[{"fault": "timeout", "hold": 0.2, "times": 1}])
    started = time.monotonic()
    reply = await client.post(envelope(ZOE, idam=sandbox.idam))
    assert reply.cr == "00" and time.monotonic() - started >= 0.2


async def test_stop_releases_held_requests(pki: SandboxPki, tls: dict[str | None, ssl.SSLContext]) -> None:
    sb = await start_insi_sandbox(pki=pki, faults=["timeout"], timeout_hold=60)
    task = asyncio.create_task(Client(sb, tls).post(envelope(ZOE, idam=sb.idam), timeout=30))
    for _ in range(500):
        if sb.stats.in_flight:
            break
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await sb.stop()
    assert time.monotonic() - started < 3
    reply = await task
    assert reply.cr == "00"


async def test_latency(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(latency=0.25)
    started = time.monotonic()
    assert (await client.post(envelope(ZOE, idam=sandbox.idam))).cr == "00"
    assert time.monotonic() - started >= 0.25
    sandbox.configure(latency=0.0, faults=[{"match": {"first_name": "ZOE"}, "delay": 0.2}])
    started = time.monotonic()
    await client.post(envelope(ZOE, idam=sandbox.idam))
    assert time.monotonic() - started >= 0.2


def test_jitter_is_seeded(pki: SandboxPki) -> None:
    def draws(seed: int, n: int = 5) -> list[float]:
        sb = InsiSandbox(pki=pki, config=SandboxConfig(latency=0.1, jitter=0.5, seed=seed))
        return [sb._delay(Decision()) for _ in range(n)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert all(0.1 <= d < 0.6 for d in draws(3, 50))
    sb = InsiSandbox(pki=pki, config=SandboxConfig(jitter=1.0, seed=1))
    first = [sb._delay(Decision()) for _ in range(3)]
    sb.configure(seed=1)
    assert [sb._delay(Decision()) for _ in range(3)] == first


async def test_concurrent_requests_are_counted_in_flight(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(latency=0.3)
    started = time.monotonic()
    replies = await asyncio.gather(*(client.post(envelope(ZOE, idam=sandbox.idam)) for _ in range(6)))
    assert [r.cr for r in replies] == ["00"] * 6
    assert time.monotonic() - started < 6 * 0.3
    assert sandbox.stats.max_in_flight == 6 and sandbox.stats.in_flight == 0
    assert sandbox.stats.total == 6


async def test_ring_buffer_of_request_bodies(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(history_size=2)
    for name in ("UN", "DEUX", "TROIS"):
        await client.post(envelope(traits(name, ["X"], "M", "2000-01-01"), idam=sandbox.idam))
    bodies = sandbox.stats.last_bodies
    assert len(bodies) == 2 and "DEUX" in bodies[0] and "TROIS" in bodies[1]
    assert [r.outcome for r in sandbox.stats.last_requests] == ["CR 01", "CR 01"]
    assert sandbox.stats.total == 3


# -- rule semantics, without the network ----------------------------------------------------

def test_rule_after_and_times() -> None:
    config = SandboxConfig()
    config.update({"faults": [{"match": {"birth_name": "faute"}, "fault": "siram_40", "after": 1, "times": 2},
                              {"fault": "none", "delay": 0.5}]})
    facts = RequestFacts(operation="rechercherInsAvecTraitsIdentite", birth_name="FAUTE", mode="mtls")
    faults = [config.decide(facts).fault for _ in range(5)]
    assert faults == [None, "siram_40", "siram_40", None, None]
    assert config.decide(RequestFacts(birth_name="AUTRE")).delay == 0.5
    config.reset_counters()
    assert [r.seen for r in config.faults] == [0, 0]


def test_first_fault_wins_and_later_rules_do_not_fire() -> None:
    config = SandboxConfig()
    config.update({"faults": ["http_503", {"fault": "siram_40", "times": 1}]})
    assert config.decide(RequestFacts()).fault == "http_503"
    assert config.faults[1].fired == 0 and config.faults[1].seen == 1


@pytest.mark.parametrize(("match", "facts", "expected"), [
    ({"operation": "traits"}, RequestFacts(operation="rechercherInsAvecTraitsIdentite"), True),
    ({"operation": "vitale"}, RequestFacts(operation="rechercherInsAvecTraitsIdentite"), False),
    ({"first_name": "bella"}, RequestFacts(first_names=("CATARINA BELLA",)), True),
    ({"first_name": "BEL"}, RequestFacts(first_names=("CATARINA BELLA",)), False),
    ({"birth_name": "Dé Vinci"}, RequestFacts(birth_name="DE VINCI"), True),
    ({"mode": "cps", "idam": "X"}, RequestFacts(mode="cps", idam="X"), True),
    ({"mode": "cps", "idam": "X"}, RequestFacts(mode="mtls", idam="X"), False),
    ({"nir": "2751263220749"}, RequestFacts(), False),
])
def test_rule_matching(match: dict[str, str], facts: RequestFacts, expected: bool) -> None:
    assert FaultRule.from_value({"match": match, "fault": "siram_40"}).matches(facts) is expected


@pytest.mark.parametrize("changes", [
    {"faults": [{"fault": "boom"}]},
    {"faults": [{"fault": "siram_40", "match": {"colour": "red"}}]},
    {"faults": [{"fault": "siram_40", "times": -1}]},
    {"faults": [{"fault": "http_302"}]},
    {"latency": -1},
    {"latency": True},
    {"body_style": "xml"},
    {"idams": "X"},
    {"strict": "yes"},
    {"unknown": 1},
    {"extra_identities": [{"birth_name": "X", "sex": "Z", "birth_date": "2000-01-01", "expected_cr": "01"}]},
])
def test_invalid_settings_change_nothing(changes: dict[str, object]) -> None:
    config = SandboxConfig()
    before = config.to_dict()
    with pytest.raises(ValueError):
        config.update({"latency": 1.0, **changes})
    assert config.to_dict() == before
