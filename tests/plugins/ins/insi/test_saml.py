from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidSignature

from plugins.ins.insi.envelope import NS_SOAP, NS_WSSE, SoftwareContext, build_traits_request, serialize
from plugins.ins.insi.saml import (
    ISSUER_FORMAT,
    NS_DS,
    NS_SAML,
    PsAttributes,
    build_signed_assertion,
    issuer_dn,
    security_header,
)
from plugins.ins.insi.signer import Signer, SoftwareSigner
from plugins.ins.insi.types import InsiConfigError, SearchTraits
from sandbox.insi.pki import SandboxPki

STRICT = SignatureConfiguration(signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
                                digest_algorithms=frozenset({DigestAlgorithm.SHA256}))
PS = PsAttributes(billing_id="123456789", activity_sector="SA05")


class CardLikeSigner:
    """Not a SoftwareSigner: only the two calls of the port, as a PKCS#11 card would offer."""

    def __init__(self, key: rsa.RSAPrivateKey, cert_der: bytes) -> None:
        self.key, self.der, self.calls = key, cert_der, 0

    def certificate(self) -> bytes:
        return self.der

    def sign(self, data: bytes) -> bytes:
        self.calls += 1
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@pytest.fixture(scope="module")
def signer(pki: SandboxPki) -> SoftwareSigner:
    return SoftwareSigner.from_files(pki.ps_key, pki.ps_cert)


def _verify(data: bytes, pki: SandboxPki) -> etree._Element:
    """Independent check: signxml, pinned to the signer certificate."""
    result = XMLVerifier().verify(data, x509_cert=pki.ps_cert.read_text(), expect_config=STRICT)
    assert not isinstance(result, list)
    assert result.signed_xml is not None
    return result.signed_xml


def test_signed_assertion_verifies_and_has_the_fixture_layout(signer: SoftwareSigner, pki: SandboxPki) -> None:
    now = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
    assertion = build_signed_assertion(signer, PS, now=now, assertion_id="_abc")
    signed = _verify(etree.tostring(assertion), pki)
    assert signed.get("ID") == "_abc"
    assert signed.get("IssueInstant") == "2024-05-06T07:08:09.123Z"
    assert signed.get("Version") == "2.0"
    assert assertion.nsmap == {None: NS_SAML}
    assert [etree.QName(c).localname for c in assertion] == ["Issuer", "Signature", "Subject", "AttributeStatement"]
    assert assertion[1].nsmap[None] == NS_DS
    issuer = assertion[0]
    assert issuer.get("Format") == ISSUER_FORMAT
    assert issuer.text == issuer_dn(x509.load_der_x509_certificate(signer.certificate()))
    name_id = assertion.find(f"{{{NS_SAML}}}Subject/{{{NS_SAML}}}NameID")
    assert name_id is not None and name_id.get("NameQualifier") == "CPS" and name_id.text == pki.ps_national_id
    attributes = {a.get("Name"): a.findtext(f"{{{NS_SAML}}}AttributeValue")
                  for a in assertion.iter(f"{{{NS_SAML}}}Attribute")}
    assert attributes == {"identifiantFacturation": "123456789", "secteurActivite": "SA05"}
    info = assertion.find(f"{{{NS_DS}}}Signature/{{{NS_DS}}}SignedInfo")
    assert info is not None
    algorithms = [el.get("Algorithm") for el in info.iter() if el.get("Algorithm")]
    assert algorithms == ["http://www.w3.org/2001/10/xml-exc-c14n#",
                          "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                          "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
                          "http://www.w3.org/2001/10/xml-exc-c14n#",
                          "http://www.w3.org/2001/04/xmlenc#sha256"]
    ref = info.find(f"{{{NS_DS}}}Reference")
    assert ref is not None and ref.get("URI") == "#_abc"
    cert_b64 = assertion.findtext(f".//{{{NS_DS}}}X509Certificate") or ""
    assert base64.b64decode(cert_b64) == signer.certificate()


def test_issuer_dn_uses_the_fixture_short_names(pki: SandboxPki) -> None:
    cert = x509.load_pem_x509_certificate(pki.ps_cert.read_bytes())
    dn = issuer_dn(cert)
    assert dn.endswith(",T=Médecin,C=FR")
    assert set(dn.split(",")[0].split("+")) == {"2.5.4.42=OLIVIER", "CN=00B6087510", "SN=SANDBOX"}


def test_signature_verifies_inside_the_whole_envelope(signer: SoftwareSigner, pki: SandboxPki) -> None:
    ps = PsAttributes(billing_id="123456789", specialty_code="01")
    security = security_header([build_signed_assertion(signer, ps)])
    ctx = SoftwareContext("IDAM", "Vigie", "1", "inst", "00B6087510")
    data = serialize(build_traits_request(ctx, SearchTraits("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26"),
                                          ["DOMINIQUE"], message_id="uuid:m", security=security))
    signed = _verify(data, pki)
    assert etree.QName(signed).localname == "Assertion"
    root = etree.fromstring(data)
    sec = root.find(f"{{{NS_SOAP}}}Header/{{{NS_WSSE}}}Security")
    assert sec is not None and len(sec) == 1
    values = {a.get("Name"): a.findtext(f"{{{NS_SAML}}}AttributeValue") for a in signed.iter(f"{{{NS_SAML}}}Attribute")}
    assert values["codeSpecialite"] == "01"


def test_tampering_is_detected_by_the_verifier(signer: SoftwareSigner, pki: SandboxPki) -> None:
    data = etree.tostring(build_signed_assertion(signer, PS))
    with pytest.raises(InvalidSignature):
        _verify(data.replace(b"123456789", b"987654321"), pki)


def test_a_card_like_signer_plugs_into_the_port(pki: SandboxPki) -> None:
    key = serialization.load_pem_private_key(pki.ps_key.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    der = x509.load_pem_x509_certificate(pki.ps_cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    card = CardLikeSigner(key, der)
    assert isinstance(card, Signer)
    _verify(etree.tostring(build_signed_assertion(card, PS)), pki)
    assert card.calls == 1  # one RSA operation per assertion: the card signs SignedInfo only


def test_security_header_copies_are_independent(signer: SoftwareSigner, pki: SandboxPki) -> None:
    assertion = build_signed_assertion(signer, PS)
    first, second = security_header([assertion]), security_header([assertion])
    first[0].set("ID", "_changed")
    assert second[0].get("ID") == assertion.get("ID")
    _verify(etree.tostring(second), pki)


def test_missing_billing_id_is_a_config_error(signer: SoftwareSigner) -> None:
    with pytest.raises(InsiConfigError) as info:
        build_signed_assertion(signer, PsAttributes())
    assert "facturation" in info.value.message_fr


def test_software_signer_refuses_a_key_of_another_certificate(pki: SandboxPki, tmp_path: object) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    with pytest.raises(InsiConfigError):
        SoftwareSigner.from_pem(pem, pki.ps_cert.read_bytes())
    with pytest.raises(InsiConfigError):
        SoftwareSigner.from_pem(b"garbage", pki.ps_cert.read_bytes())
    with pytest.raises(InsiConfigError):
        SoftwareSigner.from_files(pki.directory / "absent.key", pki.ps_cert)
