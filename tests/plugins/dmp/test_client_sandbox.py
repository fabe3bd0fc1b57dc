"""The DMP transactions over real HTTPS against the sandbox (INDIRECTE VIHF signed by the structure key)."""

from __future__ import annotations

import hashlib

import pytest

from plugins.common.clinical import cda, xds
from plugins.dmp import operations as ops
from plugins.dmp.client import DmpClient
from plugins.dmp.errors import DmpError
from plugins.dmp.metadata import metadata_for
from sandbox.dmp.server import REPOSITORY_ID, DmpSandbox
from tests.plugins.dmp.conftest import INS, INS_OID, PDF, document, settings_for, vihf_context


async def test_iti41_accepted_then_found_retrieved_masked_deleted(dmp_client: DmpClient,
                                                                  dmp_sandbox: DmpSandbox) -> None:
    doc = document()
    meta = metadata_for(doc, dmp_client.settings, "57833-6")
    ctx = vihf_context()
    assert await ops.send(dmp_client, ctx, meta, doc.pdf) == "sent"
    exchange = dmp_sandbox.exchanges[-1]
    assert exchange.outcome == "ok" and exchange.validated and exchange.vihf is not None
    assert exchange.vihf.mode == "INDIRECTE" and exchange.vihf.patient_id == f"{INS}^^^&{INS_OID}&ISO^NH"
    stored = dmp_sandbox.entry(meta.unique_id)
    assert stored is not None and stored.view.hash == hashlib.sha1(stored.content).hexdigest()
    assert cda.read_header(stored.content).pdf == PDF

    # a second ITI-41 of the same document is refused as a duplicate, and said so
    assert await ops.send(dmp_client, ctx, meta, doc.pdf) == "duplicate"
    assert dmp_sandbox.copies(meta.unique_id) == 1

    found = await ops.find_by_unique_id(dmp_client, ctx, meta.unique_id)
    assert found is not None and found.status == xds.APPROVED

    # reading needs the access authorisation (TD0.3), whose state TD0.2 reports
    with pytest.raises(DmpError) as refused:
        await ops.find_documents(dmp_client, ctx, meta.patient.xds_patient_id)
    assert refused.value.kind == "rejected" and "autoris" in refused.value.message
    status = await ops.status(dmp_client, ctx)
    assert status.exists and status.authorization == "NON_AUTORISE"
    assert await ops.authorize(dmp_client, ctx)
    assert (await ops.status(dmp_client, ctx)).authorization == "VALIDE"
    listed = await ops.find_documents(dmp_client, ctx, meta.patient.xds_patient_id)
    assert [e.unique_id for e in listed] == [meta.unique_id]
    content = await ops.retrieve(dmp_client, ctx, REPOSITORY_ID, meta.unique_id)
    assert content == stored.content

    masked = metadata_for(doc, dmp_client.settings, "57833-6", masking=["invisible_to_patient"])
    await ops.update_metadata(dmp_client, ctx, masked, found, seed="mask-1")
    now = dmp_sandbox.entry(meta.unique_id)
    assert now is not None and [c for c, _ in now.view.confidentiality] == ["N", "INVISIBLE_PATIENT"]
    assert dmp_sandbox.exchanges[-1].validated

    await ops.update_status(dmp_client, ctx, masked, now.view.entry_uuid, new=xds.DELETED, seed="delete-1")
    assert dmp_sandbox.entry(meta.unique_id) is None


@pytest.mark.parametrize(("state", "code"), [({"dmp": "none"}, "XDSUnknownPatientId"),
                                             ({"dmp": "closed"}, "DMPClosed"),
                                             ({"opposition": True}, "DMPPatientOpposition")])
async def test_iti41_functional_rejections(dmp_client: DmpClient, dmp_sandbox: DmpSandbox, state: dict,
                                           code: str) -> None:
    dmp_sandbox.configure(patients={INS: state})
    doc = document()
    with pytest.raises(DmpError) as rejected:
        await ops.send(dmp_client, vihf_context(), metadata_for(doc, dmp_client.settings, "57833-6"), doc.pdf)
    assert rejected.value.kind == "rejected" and rejected.value.codes == (code,)
    assert not rejected.value.retryable


async def test_vihf_for_another_patient_is_refused(dmp_client: DmpClient, dmp_sandbox: DmpSandbox) -> None:
    doc = document()
    with pytest.raises(DmpError) as rejected:
        await ops.send(dmp_client, vihf_context(ins="180012B01234563"),
                       metadata_for(doc, dmp_client.settings, "57833-6"), doc.pdf)
    assert rejected.value.codes == ("DMPNotAuthorized",)


async def test_vihf_signed_by_an_untrusted_key_is_a_security_fault(dmp_sandbox: DmpSandbox) -> None:
    settings, passphrase = settings_for(dmp_sandbox, auth_mode="DIRECTE")
    # a self-made certificate that does not chain to the CPS CA
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

    from plugins.ins.insi.signer import SoftwareSigner
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "FAUX")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    signer = SoftwareSigner(key, cert)
    client = DmpClient(settings, passphrase=passphrase, current_signer=lambda: signer)
    await client.start()
    try:
        doc = document()
        with pytest.raises(DmpError) as rejected:
            await ops.send(client, vihf_context("DIRECTE"), metadata_for(doc, settings, "57833-6"), doc.pdf)
        assert rejected.value.kind == "rejected" and "VIHF refusé" in rejected.value.message
    finally:
        await client.close()
    assert dmp_sandbox.exchanges[-1].outcome == "fault:InvalidSecurity" and not dmp_sandbox.documents


@pytest.mark.parametrize("kind", ["http_500", "fault_receiver"])
async def test_transport_faults_are_retryable(dmp_client: DmpClient, dmp_sandbox: DmpSandbox, kind: str) -> None:
    dmp_sandbox.configure(faults=[{"kind": kind, "times": 1}])
    doc = document()
    meta = metadata_for(doc, dmp_client.settings, "57833-6")
    with pytest.raises(DmpError) as failed:
        await ops.send(dmp_client, vihf_context(), meta, doc.pdf)
    assert failed.value.retryable
    assert await ops.send(dmp_client, vihf_context(), meta, doc.pdf) == "sent"


async def test_tampered_hash_is_rejected_by_the_sandbox(dmp_client: DmpClient, dmp_sandbox: DmpSandbox,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real = xds.document_entry

    def wrong(meta, content, **kw):  # type: ignore[no-untyped-def]
        return real(meta, content + b" ", **kw)

    monkeypatch.setattr(xds, "document_entry", wrong)
    doc = document()
    with pytest.raises(DmpError) as rejected:
        await ops.send(dmp_client, vihf_context(), metadata_for(doc, dmp_client.settings, "57833-6"), doc.pdf)
    assert set(rejected.value.codes) == {"XDSNonIdenticalHash", "XDSNonIdenticalSize"}
    assert "SHA-1" in rejected.value.message


async def test_structure_certificate_from_the_keyring_authenticates_and_signs(dmp_sandbox: DmpSandbox) -> None:
    """`pkcs12 = "keyring:dmp.certificate"`: TLS client authentication and the INDIRECTE VIHF signature both use
    the PKCS#12 `vigie setup` imported into the keyring (chunked), no file involved."""
    from agent.secrets import SecretStore

    settings, passphrase = settings_for(dmp_sandbox, pkcs12="keyring:dmp.certificate")
    absent = DmpClient(settings, passphrase=passphrase, current_signer=lambda: None)
    with pytest.raises(DmpError) as info:
        await absent.start()
    assert "absent du trousseau (secret « dmp.certificate »)" in info.value.message
    SecretStore().set_blob("dmp.certificate", dmp_sandbox.pki.client_p12.read_bytes())
    client = DmpClient(settings, passphrase=passphrase, current_signer=lambda: None)
    await client.start()
    try:
        doc = document()
        meta = metadata_for(doc, client.settings, "57833-6")
        assert await ops.send(client, vihf_context(), meta, doc.pdf) == "sent"
    finally:
        await client.close()
    exchange = dmp_sandbox.exchanges[-1]
    assert exchange.outcome == "ok" and exchange.validated and exchange.vihf is not None
    assert exchange.vihf.mode == "INDIRECTE"
