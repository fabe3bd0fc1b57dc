"""Checking the CPS-mode PS assertion (insi.md §3.4) carried in `wsse:Security`.

The XML-DSig signature is verified with signxml (exc-c14n, RSA-SHA256, SHA-256, one enveloped reference to
the assertion's own ID, X.509 certificate in KeyInfo chaining to the configured CPS CA). The attributes are
then read from what was signed (not from the message, which defeats signature wrapping), and must match
§3.4: Issuer in X509SubjectName format, `Subject/NameID@NameQualifier="CPS"` equal to the certificate CN,
`identifiantFacturation` and `secteurActivite` (and `codeSpecialite` when required), an `IssueInstant`
younger than an hour (padoa: "the assertion expires after 1h").

When `wsse:Security` holds several assertions (a Vitale-card "AssertionCV" beside the PS one, §3.6), the
PS assertion is the one whose NameID qualifier is `CPS`; the others are not checked. Unsigned Pro Santé
Connect assertions (`NameQualifier="PSC"`) are refused: the sandbox does not play PSC.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier
from signxml.exceptions import InvalidInput, InvalidSignature

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ISSUER_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
FUTURE_SKEW = dt.timedelta(minutes=5)

_CONFIG = SignatureConfiguration(
    location="./",
    expect_references=1,
    signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
)


class AssertionRejected(Exception):
    """The message (French) goes into the DESIR_560 fault detail."""


@dataclass(frozen=True)
class PsAssertion:
    national_id: str
    issuer: str
    billing_id: str
    activity_sector: str
    specialty_code: str | None
    issue_instant: dt.datetime


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _value(statement: etree._Element | None, name: str) -> str | None:
    if statement is None:
        return None
    for attribute in statement.findall(_q(NS_SAML, "Attribute")):
        if attribute.get("Name") == name:
            value = attribute.findtext(_q(NS_SAML, "AttributeValue"))
            return value.strip() if value and value.strip() else None
    return None


def _pick(security: etree._Element) -> etree._Element:
    assertions = security.findall(_q(NS_SAML, "Assertion"))
    if not assertions:
        raise AssertionRejected("Assertion d'authentification du professionnel absente.")
    for assertion in assertions:
        name_id = assertion.find(f"{_q(NS_SAML, 'Subject')}/{_q(NS_SAML, 'NameID')}")
        if name_id is not None and name_id.get("NameQualifier") == "CPS":
            return assertion
    qualifier = assertions[0].find(f"{_q(NS_SAML, 'Subject')}/{_q(NS_SAML, 'NameID')}")
    if qualifier is not None and qualifier.get("NameQualifier") == "PSC":
        raise AssertionRejected("Assertion Pro Santé Connect non prise en charge par le bac à sable.")
    raise AssertionRejected("Assertion sans Subject/NameID qualifié « CPS ».")


def _parse_instant(value: str | None) -> dt.datetime:
    if not value:
        raise AssertionRejected("Assertion sans IssueInstant.")
    try:
        instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise AssertionRejected("IssueInstant de l'assertion illisible.") from exc
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant


def _structure(assertion: etree._Element) -> None:
    """Shape checks on the assertion as sent (SAML 2.0 schema order: Issuer, Signature, Subject, …)."""
    if assertion.get("Version") != "2.0":
        raise AssertionRejected("Assertion SAML de version autre que 2.0.")
    if not assertion.get("ID"):
        raise AssertionRejected("Assertion sans attribut ID.")
    children = [c for c in assertion if isinstance(c.tag, str)]
    tags = [c.tag for c in children]
    if len(tags) < 2 or tags[0] != _q(NS_SAML, "Issuer") or tags[1] != _q(NS_DS, "Signature"):
        raise AssertionRejected("Assertion non signée ou signature mal placée (attendue juste après Issuer).")
    signed_info = children[1].find(_q(NS_DS, "SignedInfo"))
    c14n = signed_info.find(_q(NS_DS, "CanonicalizationMethod")) if signed_info is not None else None
    if c14n is None or c14n.get("Algorithm") != EXC_C14N:
        raise AssertionRejected("Canonicalisation de la signature autre que exc-c14n.")
    references = signed_info.findall(_q(NS_DS, "Reference")) if signed_info is not None else []
    if len(references) != 1 or references[0].get("URI") != f"#{assertion.get('ID')}":
        raise AssertionRejected("La signature ne référence pas l'assertion elle-même.")


def _signing_cert(signature: etree._Element, public_key_pem: bytes) -> x509.Certificate:
    for element in signature.iter(_q(NS_DS, "X509Certificate")):
        cert = x509.load_der_x509_certificate(base64.b64decode("".join((element.text or "").split())))
        pem = cert.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        if pem.strip() == public_key_pem.strip():
            return cert
    raise AssertionRejected("Certificat signataire introuvable dans KeyInfo.")


def verify_ps_assertion(security: etree._Element | None, *, ca_file: Path, max_age: float = 3600.0,
                        require_specialty: bool = False, now: dt.datetime | None = None) -> PsAssertion:
    if security is None:
        raise AssertionRejected("En-tête wsse:Security absent : ni certificat client ni assertion CPS.")
    assertion = _pick(security)
    _structure(assertion)
    try:
        verified = XMLVerifier().verify(etree.tostring(assertion), ca_pem_file=str(ca_file), expect_config=_CONFIG)
    except (InvalidSignature, InvalidInput) as exc:
        raise AssertionRejected(f"Signature de l'assertion invalide ({exc}).") from exc
    except Exception as exc:  # signxml raises various errors on hostile input (cert parsing, c14n)
        raise AssertionRejected(f"Signature de l'assertion invalide ({type(exc).__name__}: {exc}).") from exc
    result = verified[0] if isinstance(verified, list) else verified  # expect_references=1: a single result
    signed = result.signed_xml
    if signed is None or signed.tag != _q(NS_SAML, "Assertion") or signed.get("ID") != assertion.get("ID"):
        raise AssertionRejected("La signature ne couvre pas l'assertion.")

    cert = _signing_cert(result.signature_xml, result.signature_key)
    issuer = signed.find(_q(NS_SAML, "Issuer"))
    if issuer is None or issuer.get("Format") != ISSUER_FORMAT or not (issuer.text or "").strip():
        raise AssertionRejected("Issuer de l'assertion absent ou pas au format X509SubjectName.")
    name_id = signed.find(f"{_q(NS_SAML, 'Subject')}/{_q(NS_SAML, 'NameID')}")
    national_id = (name_id.text or "").strip() if name_id is not None else ""
    if name_id is None or name_id.get("NameQualifier") != "CPS" or not national_id:
        raise AssertionRejected("Subject/NameID qualifié « CPS » absent de l'assertion signée.")
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if national_id not in cns:
        raise AssertionRejected("Le NameID ne correspond pas au CN du certificat signataire.")

    statement = signed.find(_q(NS_SAML, "AttributeStatement"))
    billing = _value(statement, "identifiantFacturation")
    sector = _value(statement, "secteurActivite")
    specialty = _value(statement, "codeSpecialite")
    missing = [name for name, value in (("identifiantFacturation", billing), ("secteurActivite", sector))
               if value is None]
    if require_specialty and specialty is None:
        missing.append("codeSpecialite")
    if missing:
        raise AssertionRejected(f"Attribut(s) absent(s) de l'assertion : {', '.join(missing)}.")

    instant = _parse_instant(signed.get("IssueInstant"))
    current = now or dt.datetime.now(dt.UTC)
    if instant > current + FUTURE_SKEW:
        raise AssertionRejected("Assertion émise dans le futur.")
    if current - instant > dt.timedelta(seconds=max_age):
        raise AssertionRejected("Assertion expirée.")
    assert billing is not None and sector is not None
    return PsAssertion(national_id=national_id, issuer=(issuer.text or "").strip(), billing_id=billing,
                       activity_sector=sector, specialty_code=specialty, issue_instant=instant)
