"""The DMP stand-in refuses what the DMP would: no client certificate, no WS-Addressing, inconsistent codes,
a CDA header that disagrees with the metadata, a body that is not a PDF; and it answers ITI-43 as MTOM."""

from __future__ import annotations

import dataclasses
import ssl

import aiohttp
import pytest

from plugins.common.clinical import valuesets as vs
from plugins.dmp import operations as ops
from plugins.dmp import soap
from plugins.dmp.client import DmpClient
from plugins.dmp.errors import DmpError
from plugins.dmp.metadata import metadata_for
from sandbox.dmp.server import DmpSandbox
from tests.plugins.dmp.conftest import dmp_client, dmp_sandbox, document, vihf_context  # noqa: F401 (fixtures)


async def test_dmp_sandbox_requires_a_client_certificate(dmp_sandbox: DmpSandbox) -> None:  # noqa: F811
    context = ssl.create_default_context(cafile=str(dmp_sandbox.pki.root_ca))
    context.load_verify_locations(cafile=str(dmp_sandbox.pki.org_ca))
    async with aiohttp.ClientSession() as session:
        with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionResetError)):
            async with session.post(f"{dmp_sandbox.url}/registry", data=b"<x/>", ssl=context) as resp:
                await resp.read()
    assert not dmp_sandbox.exchanges


async def test_dmp_sandbox_refuses_a_message_without_addressing(dmp_client: DmpClient,  # noqa: F811
                                                                dmp_sandbox: DmpSandbox,  # noqa: F811
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real = soap.envelope

    def no_to(*args, **kwargs):  # type: ignore[no-untyped-def]
        env = real(*args, **kwargs)
        header = env.find(f"{{{soap.NS_SOAP}}}Header")
        header.remove(header.find(f"{{{soap.NS_WSA}}}To"))
        return env

    monkeypatch.setattr(soap, "envelope", no_to)
    with pytest.raises(DmpError) as refused:
        await ops.status(dmp_client, vihf_context())
    assert refused.value.kind == "rejected" and "WS-Addressing" in refused.value.message


@pytest.mark.parametrize(("change", "code", "words"), [
    ({"class_code": vs.lookup(vs.CLASS_CODES, "10")}, "XDSRegistryMetadataError", "ASS_X04"),
    ({"format_code": vs.Code("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3", "x")},
     "XDSRegistryMetadataError", "hors du jeu de valeurs"),
    ({"facility_type": vs.Code("SA07", "1.2.3.4", "mauvais système")}, "XDSRegistryMetadataError", "facility_type"),
])
async def test_dmp_sandbox_checks_codes_against_the_value_sets(dmp_client: DmpClient,  # noqa: F811
                                                               dmp_sandbox: DmpSandbox,  # noqa: F811
                                                               change: dict, code: str, words: str) -> None:
    doc = document()
    meta = dataclasses.replace(metadata_for(doc, dmp_client.settings, "57833-6"), **change)
    with pytest.raises(DmpError) as rejected:
        await ops.send(dmp_client, vihf_context(), meta, doc.pdf)
    assert code in rejected.value.codes and not dmp_sandbox.documents
    assert words in rejected.value.message  # the DMP's codeContext, in French, reaches the reason


async def test_dmp_sandbox_cda_header_must_match_the_metadata(dmp_client: DmpClient,  # noqa: F811
                                                             dmp_sandbox: DmpSandbox,  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from plugins.common.clinical import cda

    real = cda.build_cda

    def other_patient(meta, pdf):  # type: ignore[no-untyped-def]
        return real(dataclasses.replace(meta, patient=dataclasses.replace(meta.patient, ins="180012B01234563")), pdf)

    monkeypatch.setattr(cda, "build_cda", other_patient)
    doc = document()
    with pytest.raises(DmpError) as rejected:
        await ops.send(dmp_client, vihf_context(), metadata_for(doc, dmp_client.settings, "57833-6"), doc.pdf)
    assert rejected.value.codes == ("DMPInvalidDocument",)
    assert not dmp_sandbox.documents


async def test_dmp_sandbox_cda_body_must_be_a_pdf(dmp_client: DmpClient, dmp_sandbox: DmpSandbox) -> None:  # noqa: F811
    doc = document(pdf=b"GIF89a not a pdf")
    with pytest.raises(DmpError) as rejected:
        await ops.send(dmp_client, vihf_context(), metadata_for(doc, dmp_client.settings, "57833-6"), doc.pdf)
    assert rejected.value.codes == ("DMPInvalidDocument",) and "PDF" in rejected.value.message
