"""InsiClient against the INSi sandbox (sandbox/insi/server.py): real TLS, both auth modes, fault injection."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugins.ins.insi.client import InsiClient, InsiSettings
from plugins.ins.insi.saml import PsAttributes
from plugins.ins.insi.signer import SoftwareSigner
from plugins.ins.insi.types import (
    InsiConfigError,
    InsiFault,
    InsiMalformedResponse,
    InsiTimeout,
    InsiUnavailable,
    SearchOutcome,
    SearchTraits,
    VitaleSearch,
)
from sandbox.insi.identities import load_identities
from sandbox.insi.pki import SandboxPki
from sandbox.insi.server import InsiSandbox, start_insi_sandbox

DOMINIQUE = SearchTraits("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26")
HOUILLES = SearchTraits("HOUILLES", ("PIERRE", "PAUL", "JACQUES"), "M", "1993-01-27")


@pytest.fixture
async def sandbox(pki: SandboxPki) -> AsyncIterator[InsiSandbox]:
    sb = await start_insi_sandbox(pki=pki)
    yield sb
    await sb.stop()


def settings(sb: InsiSandbox, **changes: Any) -> InsiSettings:
    pki = sb.pki
    base: dict[str, Any] = dict(
        url=sb.url, auth="mtls", ca_files=list(pki.ca_files), pkcs12_path=pki.client_p12,
        pkcs12_passphrase=pki.client_passphrase, idam=sb.idam, software_name="Vigie", software_version="0.1.0",
        instance_id="5f0c1d7e-0000-4000-8000-000000000002", connect_timeout=1.0, total_timeout=3.0, max_attempts=3,
        backoff_base=0.01, backoff_max=0.05)
    base.update(changes)
    return InsiSettings(**base)


def cps(sb: InsiSandbox, **changes: Any) -> InsiSettings:
    signer = SoftwareSigner.from_files(sb.pki.ps_key, sb.pki.ps_cert)
    values: dict[str, Any] = dict(auth="cps", pkcs12_path=None, pkcs12_passphrase=None, signer=signer,
                                  ps=PsAttributes(billing_id="991234567", specialty_code="SM54"))
    values.update(changes)
    return settings(sb, **values)


async def search(s: InsiSettings, traits: SearchTraits = DOMINIQUE) -> SearchOutcome:
    client = InsiClient(s)
    await client.start()
    try:
        return await client.search_by_traits(traits)
    finally:
        await client.close()


def outcomes(sb: InsiSandbox) -> list[str]:
    return [r.outcome for r in sb.stats.last_requests]


# -- both authentication modes -------------------------------------------------------------------------------
async def test_sandbox_mtls_cr00(sandbox: InsiSandbox) -> None:
    outcome = await search(settings(sandbox))
    assert outcome.error is None and outcome.response is not None and outcome.response.found
    assert outcome.response.active is not None
    assert (outcome.response.active.matricule, outcome.response.active.key) == ("297022A020778", "78")
    assert outcome.response.active.key_valid
    [record] = sandbox.stats.last_requests
    assert (record.mode, record.client_cn, record.outcome) == ("mtls", "INSI-AUTO", "CR 00")
    assert record.message_id == outcome.exchanges[0].message_id


async def test_sandbox_cps_cr00(sandbox: InsiSandbox) -> None:
    sandbox.configure(require_specialty_code=True)
    outcome = await search(cps(sandbox))
    assert outcome.error is None and outcome.response is not None and outcome.response.found
    [record] = sandbox.stats.last_requests
    assert (record.mode, record.client_cn, record.outcome) == ("cps", None, "CR 00")


class CountingSigner:
    """The sandbox PS key, counting its signatures (one object per card insertion)."""

    def __init__(self, sb: InsiSandbox) -> None:
        self.inner = SoftwareSigner.from_files(sb.pki.ps_key, sb.pki.ps_cert)
        self.signed = 0

    def certificate(self) -> bytes:
        return self.inner.certificate()

    def sign(self, data: bytes) -> bytes:
        self.signed += 1
        return self.inner.sign(data)


async def test_sandbox_cps_follows_the_card_in_the_reader(sandbox: InsiSandbox) -> None:
    first, second = CountingSigner(sandbox), CountingSigner(sandbox)
    card: list[CountingSigner | None] = [first]
    client = InsiClient(cps(sandbox, signer=first))
    client.follow_signer(lambda: card[0])
    await client.start()
    try:
        assert (await client.search_by_traits(DOMINIQUE)).error is None
        assert first.signed == 1  # at start; the call reused that assertion
        card[0] = None  # removed: its assertion is not reused, nothing is sent
        outcome = await client.search_by_traits(DOMINIQUE)
        assert isinstance(outcome.error, InsiConfigError) and "insérez" in outcome.error.message_fr
        assert len(sandbox.stats.last_requests) == 1
        card[0] = second  # another insertion: a new assertion, signed by it
        found = await client.search_by_traits(DOMINIQUE)
        assert found.error is None and found.response is not None and found.response.found
        assert (first.signed, second.signed) == (1, 1)
    finally:
        await client.close()


async def test_sandbox_cps_missing_specialty_is_refused(sandbox: InsiSandbox) -> None:
    sandbox.configure(require_specialty_code=True)
    outcome = await search(cps(sandbox, ps=PsAttributes(billing_id="991234567")))
    assert isinstance(outcome.error, InsiFault) and not outcome.error.retryable
    assert outcome.error.error_code == "desir_560"
    assert len(outcome.exchanges) == 1


# -- return codes and the first-name strategy ------------------------------------------------------------------
@pytest.mark.parametrize("identity", [i for i in load_identities() if i.expected_cr == "00"],
                         ids=lambda i: i.birth_name)
async def test_sandbox_every_test_identity_is_found(sandbox: InsiSandbox, identity: Any) -> None:
    traits = SearchTraits(identity.birth_name, identity.first_names, identity.sex, identity.birth_date,
                          identity.birth_place)
    outcome = await search(settings(sandbox), traits)
    assert outcome.response is not None and outcome.response.found, outcomes(sandbox)
    active = outcome.response.active
    assert active is not None and identity.ins is not None
    assert (active.matricule, active.key, active.oid) == (identity.ins.matricule, identity.ins.key, identity.ins.oid)
    # Every key checks, but HERMANN GATIEN's, which the CNDA test book gives failing mod-97 on purpose.
    assert active.key_valid is (identity.birth_name != "HERMANN")
    assert [(h.matricule, h.key, h.start_date, h.end_date) for h in outcome.response.history] == [
        (h.matricule, h.key, h.start_date, h.end_date) for h in identity.history]
    assert outcome.first_names_sent[0] == identity.first_names[0]  # the first call already finds them


async def test_sandbox_cr01_all_first_names_then_joined(sandbox: InsiSandbox) -> None:
    outcome = await search(settings(sandbox), HOUILLES)
    assert outcome.error is None and outcome.response is not None and outcome.response.cr_code == "01"
    assert outcome.first_names_sent == ("PIERRE", "PAUL", "JACQUES", "PIERRE PAUL JACQUES")
    assert sandbox.stats.total == 4 and outcomes(sandbox) == ["CR 01"] * 4


async def test_sandbox_first_name_strategy_finds_the_second(sandbox: InsiSandbox) -> None:
    outcome = await search(settings(sandbox), SearchTraits("TCHITCHI", ("OLA", "CATARINA"), "F", "1936-06-21"))
    assert outcome.response is not None and outcome.response.found
    assert outcome.first_names_sent == ("OLA", "CATARINA")
    assert outcomes(sandbox) == ["CR 01", "CR 00"]


async def test_sandbox_cr02(sandbox: InsiSandbox) -> None:
    outcome = await search(settings(sandbox), SearchTraits("DE VINCI", ("LEONARDO",), "M", "2014-02-01"))
    assert outcome.error is None and outcome.response is not None and outcome.response.cr_code == "02"
    assert outcome.response.cr_label == "Plusieurs identites trouvees"
    assert sandbox.stats.total == 1
    sandbox.reset_stats()
    outcome = await search(settings(sandbox), SearchTraits("DE VINCI", ("LEONARDO", "PIERO", "DA"), "M",
                                                           "2014-02-01"))
    assert outcome.first_names_sent == ("LEONARDO", "LEONARDO PIERO DA")  # CR 02 skips to all first names
    assert sandbox.stats.total == 2


async def test_sandbox_vitale_search(sandbox: InsiSandbox) -> None:
    client = InsiClient(settings(sandbox))
    await client.start()
    try:
        outcome = await client.search_by_vitale(VitaleSearch(beneficiary_nir="297022A020778", beneficiary_nir_key="78",
                                                             birth_date="1997-02-26"))
    finally:
        await client.close()
    assert outcome.response is not None and outcome.response.found
    assert sandbox.stats.per_operation["rechercherInsAvecCarteVitale"] == 1


@pytest.mark.parametrize("style", ["sample", "live", "cnda", "soap"])
async def test_sandbox_body_styles_parse(sandbox: InsiSandbox, style: str) -> None:
    sandbox.configure(body_style=style, addressing_headers=True)
    outcome = await search(settings(sandbox), SearchTraits("ECETINSI", ("PIERRE-ALAIN",), "M", "2009-07-14"))
    assert outcome.response is not None and outcome.response.found
    # Both INSHISTO of the CNDA test book, the first with its DateDeb after its DateFin.
    assert [(h.matricule, h.key, h.key_valid, h.matricule_type, h.start_date, h.end_date)
            for h in outcome.response.history] == [
        ("2090763220834", "39", True, "NIR", "2019-03-01", "2019-02-28"),
        ("2090663220123", "55", True, "NIR", None, None)]


# -- refusals ---------------------------------------------------------------------------------------------------
async def test_sandbox_unknown_idam_fault(sandbox: InsiSandbox) -> None:
    outcome = await search(settings(sandbox, idam="NOT-AN-IDAM"), HOUILLES)
    assert isinstance(outcome.error, InsiFault)
    assert (outcome.error.siram, outcome.error.desir, outcome.error.retryable) == ("siram_100", "desir_550", False)
    assert outcome.error.message_id == outcome.exchanges[0].message_id
    assert sandbox.stats.total == 1 and outcome.first_names_sent == ("PIERRE",)


async def test_sandbox_wrong_cn_refused_before_any_call(sandbox: InsiSandbox) -> None:
    client = InsiClient(settings(sandbox, pkcs12_path=sandbox.pki.wrong_client_p12,
                                 pkcs12_passphrase=sandbox.pki.wrong_client_passphrase))
    with pytest.raises(InsiConfigError) as info:
        await client.start()
    assert "INSI-AUTO" in info.value.message_fr
    assert sandbox.stats.total == 0


async def test_sandbox_access_level_fault_is_not_retried(sandbox: InsiSandbox) -> None:
    sandbox.configure(accepted_cns=["INSI-MANU"])
    outcome = await search(settings(sandbox))
    assert isinstance(outcome.error, InsiFault) and outcome.error.error_code == "desir_560"
    assert not outcome.error.retryable and sandbox.stats.total == 1
    assert "INSI-AUTO" in outcome.error.message_fr


# -- timeouts, retries ------------------------------------------------------------------------------------------
async def test_sandbox_latency_beyond_total_timeout(sandbox: InsiSandbox) -> None:
    sandbox.configure(latency=5.0)
    started = time.monotonic()
    outcome = await search(settings(sandbox, total_timeout=0.5, max_attempts=1))
    assert isinstance(outcome.error, InsiTimeout)
    assert time.monotonic() - started < 2.0  # includes start(): PKCS#12 and CA loading
    assert [e.error for e in outcome.exchanges] == ["timeout"]


async def test_sandbox_timeouts_retried_within_the_search_budget(sandbox: InsiSandbox) -> None:
    sandbox.configure(latency=5.0)
    started = time.monotonic()
    outcome = await search(settings(sandbox, total_timeout=0.3, max_attempts=5, search_timeout=1.0), HOUILLES)
    assert isinstance(outcome.error, InsiTimeout)
    assert time.monotonic() - started < 2.5
    assert 2 <= len(outcome.exchanges) <= 4 and outcome.first_names_sent == ("PIERRE",)


@pytest.mark.parametrize(("kind", "error", "tag"), [
    ("http_503", InsiUnavailable, "http_503"),
    ("http_502", InsiUnavailable, "http_502"),
    ("siram_40", InsiFault, "fault:siram_40:insi_102"),
    ("siram_40_desir_1020", InsiFault, "fault:siram_40:desir_1020"),
    ("reset", InsiUnavailable, "connection"),
])
async def test_sandbox_transient_errors_retried_then_given_up(sandbox: InsiSandbox, kind: str, error: type,
                                                              tag: str) -> None:
    sandbox.configure(faults=[kind])
    outcome = await search(settings(sandbox))
    assert isinstance(outcome.error, error)
    assert outcome.error is not None and outcome.error.retryable
    assert [e.error for e in outcome.exchanges] == [tag] * 3
    assert sandbox.stats.total == 3


@pytest.mark.parametrize("kind", ["http_503", "siram_40", "siram_40_desir_1020", "reset"])
async def test_sandbox_transient_errors_retried_then_succeed(sandbox: InsiSandbox, kind: str) -> None:
    sandbox.configure(faults=[{"fault": kind, "times": 2}])
    outcome = await search(settings(sandbox))
    assert outcome.error is None and outcome.response is not None and outcome.response.found
    assert len(outcome.exchanges) == 3 and outcome.exchanges[-1].error is None


@pytest.mark.parametrize("kind", ["malformed", "empty"])
async def test_sandbox_malformed_answer(sandbox: InsiSandbox, kind: str) -> None:
    sandbox.configure(faults=[kind])
    outcome = await search(settings(sandbox))
    assert isinstance(outcome.error, InsiMalformedResponse) and outcome.error.message_fr
    assert sandbox.stats.total == 1 and [e.error for e in outcome.exchanges] == ["malformed"]


async def test_sandbox_fault_on_a_later_first_name_keeps_the_earlier_exchanges(sandbox: InsiSandbox) -> None:
    sandbox.configure(faults=[{"match": {"first_name": "PAUL"}, "fault": "siram_100"}])
    outcome = await search(settings(sandbox), HOUILLES)
    assert isinstance(outcome.error, InsiFault) and outcome.error.siram == "siram_100"
    assert outcome.first_names_sent == ("PIERRE", "PAUL")
    assert outcome.response is not None and outcome.response.cr_code == "01"  # the answer to PIERRE
    assert [e.error for e in outcome.exchanges] == [None, "fault:siram_100:desir_550"]


async def test_sandbox_mtls_with_the_certificate_imported_into_the_keyring(sandbox: InsiSandbox) -> None:
    """As a practice's agent after `vigie setup`: the PKCS#12 itself is read from the keyring (chunked)."""
    from agent.secrets import SecretStore

    missing = InsiClient(settings(sandbox, pkcs12_path="keyring:ins.certificate"))
    with pytest.raises(InsiConfigError) as info:
        await missing.start()
    assert info.value.message_fr.startswith("Certificat INSi absent du trousseau (secret « ins.certificate »)")
    SecretStore().set_blob("ins.certificate", sandbox.pki.client_p12.read_bytes())
    outcome = await search(settings(sandbox, pkcs12_path="keyring:ins.certificate"))
    assert outcome.error is None and outcome.response is not None and outcome.response.found
    [record] = sandbox.stats.last_requests
    assert (record.mode, record.client_cn, record.outcome) == ("mtls", "INSI-AUTO", "CR 00")
