"""Software (IDAM) and caller authentication: mTLS certificate CN, CPS assertion signature and attributes."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from lxml import etree

from sandbox.insi.pki import ORG_CA_CN, SandboxPki
from sandbox.insi.server import InsiSandbox
from tests.sandbox.insi.helpers import (
    NS,
    SAMPLE_MESSAGE_ID,
    Client,
    envelope,
    sample,
    security,
    signed_assertion,
    structure,
    traits,
)

ZOE = traits("ADRUN", ["ZOE"], "F", "1975-12-31")


def erreur(reply_xml: etree._Element) -> tuple[str | None, str | None, str | None]:
    e = reply_xml.find(".//siram:Erreur", NS)
    assert e is not None
    return e.get("code"), e.get("messageID"), e.text


async def test_unknown_idam_gives_the_sample_fault(client: Client) -> None:
    reply = await client.post(sample("REQ_RECSANSVITALE_ADRTROIS_DOMINIQUE_mTLS.xml"))  # IDAM_PLACEHOLDER
    assert reply.status == 500
    expected = sample("FAULT_siram_100_desir_550_unknown_IDAM.xml")
    assert structure(reply.body) == structure(expected)
    assert reply.body == expected


async def test_idams_are_configurable(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(idams=["AUTRE-IDAM"])
    assert (await client.post(envelope(ZOE, idam="VIGIE-SANDBOX-IDAM"))).error_code == "desir_550"
    assert (await client.post(envelope(ZOE, idam="AUTRE-IDAM"))).cr == "00"


async def test_wrong_certificate_cn_gives_desir_560(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(ZOE, idam=sandbox.idam), cert="wrong")
    assert reply.status == 500
    root = reply.xml()
    assert root.findtext(".//soap:Code/soap:Value", namespaces=NS) == "soap:Sender"
    assert root.findtext(".//soap:Subcode/soap:Value", namespaces=NS) == "soap:siram_100"
    assert erreur(root) == ("desir_560", SAMPLE_MESSAGE_ID, "Niveau d'accès insuffisant.")
    assert sandbox.stats.last_requests[-1].client_cn == "INSI-TEST-MAUVAIS"
    # same shape as the desir_550 sample apart from the texts and code
    sample_fault = sample("FAULT_siram_100_desir_550_unknown_IDAM.xml")
    assert [(el.prefix, el.tag) for el in root.iter()] == [(el.prefix, el.tag)
                                                           for el in etree.fromstring(sample_fault).iter()]
    sandbox.configure(accepted_cns=["INSI-TEST-MAUVAIS"])
    assert (await client.post(envelope(ZOE, idam=sandbox.idam), cert="wrong")).cr == "00"


async def test_server_certificate_and_client_pkcs12(pki: SandboxPki) -> None:
    key, cert, extra = pkcs12.load_key_and_certificates(pki.client_p12.read_bytes(), pki.client_passphrase.encode())
    assert cert is not None and key is not None
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "INSI-AUTO"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == pki.client_emitter
    assert cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ORG_CA_CN
    assert [c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in extra] == [ORG_CA_CN]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(pki.client_p12.read_bytes(), b"wrong")
    assert oct(pki.directory.stat().st_mode & 0o777) == "0o700"
    assert oct(pki.client_p12.stat().st_mode & 0o777) == "0o600"
    assert oct(pki.ps_key.stat().st_mode & 0o777) == "0o600"


async def test_no_certificate_and_no_assertion_is_refused(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(ZOE, idam=sandbox.idam), cert=None)
    assert reply.status == 500
    code, message_id, text = erreur(reply.xml())
    assert code == "desir_560" and message_id == SAMPLE_MESSAGE_ID
    assert text and "wsse:Security" in text
    assert sandbox.stats.last_requests[-1].mode == "cps"


async def test_cps_assertion_accepted(sandbox: InsiSandbox, client: Client, pki: SandboxPki) -> None:
    reply = await client.post(envelope(ZOE, idam=sandbox.idam, security=security(signed_assertion(pki))), cert=None)
    assert reply.status == 200 and reply.cr == "00"


async def test_cps_assertion_beside_a_vitale_assertion(sandbox: InsiSandbox, client: Client, pki: SandboxPki) -> None:
    card = ('<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="_cv" Version="2.0"><Subject>'
            '<NameID NameQualifier="CV">x</NameID></Subject></Assertion>')
    body = envelope(ZOE, idam=sandbox.idam, security=security(card, signed_assertion(pki)))
    assert (await client.post(body, cert=None)).cr == "00"


async def test_cps_assertion_with_a_bad_signature(sandbox: InsiSandbox, client: Client, pki: SandboxPki) -> None:
    assertion = signed_assertion(pki)
    tampered = assertion.replace("<AttributeValue>SA07</AttributeValue>", "<AttributeValue>SA05</AttributeValue>")
    assert tampered != assertion
    reply = await client.post(envelope(ZOE, idam=sandbox.idam, security=security(tampered)), cert=None)
    assert reply.status == 500
    code, _, text = erreur(reply.xml())
    assert code == "desir_560" and text and "Signature" in text


def _foreign_signer() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "00B6087510")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def _old() -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(("variant", "reason"), [
    ("foreign signer", "Signature"),
    ("expired", "expirée"),
    ("no billing id", "identifiantFacturation"),
    ("other national id", "NameID"),
    ("unsigned", "non signée"),
])
async def test_cps_assertion_refusals(sandbox: InsiSandbox, client: Client, pki: SandboxPki, variant: str,
                                      reason: str) -> None:
    if variant == "foreign signer":
        key, cert = _foreign_signer()
        assertion = signed_assertion(pki, key=key, cert=cert)
    elif variant == "expired":
        assertion = signed_assertion(pki, issue_instant=_old())
    elif variant == "no billing id":
        assertion = signed_assertion(pki, attributes={"secteurActivite": "SA07"})
    elif variant == "other national id":
        assertion = signed_assertion(pki, national_id="00B9999999")
    else:
        assertion = ('<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" Version="2.0" '
                     'IssueInstant="2030-01-01T00:00:00Z"><Issuer>x</Issuer><Subject><NameID NameQualifier="CPS">'
                     f"{pki.ps_national_id}</NameID></Subject></Assertion>")
    reply = await client.post(envelope(ZOE, idam=sandbox.idam, security=security(assertion)), cert=None)
    assert reply.status == 500
    code, _, text = erreur(reply.xml())
    assert code == "desir_560" and text and reason in text, text


async def test_specialty_code_can_be_required(sandbox: InsiSandbox, client: Client, pki: SandboxPki) -> None:
    sandbox.configure(require_specialty_code=True)
    reply = await client.post(envelope(ZOE, idam=sandbox.idam, security=security(signed_assertion(pki))), cert=None)
    assert reply.error_code == "desir_560"
    with_code = signed_assertion(pki, attributes={"identifiantFacturation": "991234567", "secteurActivite": "SA07",
                                                  "codeSpecialite": "SM54"})
    reply = await client.post(envelope(ZOE, idam=sandbox.idam, security=security(with_code)), cert=None)
    assert reply.cr == "00"


async def test_mtls_ignores_a_security_header(sandbox: InsiSandbox, client: Client) -> None:
    body = envelope(ZOE, idam=sandbox.idam, security=security("<junk/>"))
    assert (await client.post(body)).cr == "00"
