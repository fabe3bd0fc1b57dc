"""The CPS-mode PS assertion (insi.md §3.4): SAML 2.0, enveloped XML-DSig, exc-c14n, RSA-SHA256.

Layout of the CNDA-approved fixture: `Assertion` in the SAML default namespace with `ID`,
`IssueInstant`, `Version`; `Issuer` (X509SubjectName of the signing certificate); `Signature` in
the xmldsig default namespace right after `Issuer` (where the SAML schema puts it); `Subject/NameID
NameQualifier="CPS"`; `AttributeStatement` (identifiantFacturation, secteurActivite and, when
configured, the specialty code).

The signature is built here rather than by a library so that the private key never has to be in
this process: the `Signer` port only signs the canonical SignedInfo bytes (PKCS#11 card later).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

from plugins.common import xmldsig
from plugins.common.xmldsig import c14n as c14n
from plugins.ins.insi.envelope import NS_WSSE, timestamp
from plugins.ins.insi.signer import Signer
from plugins.ins.insi.types import InsiConfigError

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
ALG_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ALG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ALG_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ALG_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ISSUER_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"

# The fixture's issuer reads `2.5.4.42=OLIVIER+CN=00B6087510+SN=…,T=Infirmier,C=FR`: RFC 4514 with
# SN and T short names, the given name left as an OID.
_DN_NAMES = {NameOID.SURNAME: "SN", NameOID.TITLE: "T"}


@dataclass(frozen=True)
class PsAttributes:
    """What the assertion says about the practitioner (insi.md §3.4)."""

    national_id: str = ""  # NameID; empty: the CN of the signing certificate (the card's national id)
    billing_id: str = ""  # identifiantFacturation (AM number; FINESS/SIRET in establishments)
    activity_sector: str = "SA07"  # secteurActivite
    specialty_code: str | None = None  # mandatory for médecins according to a secondary source
    specialty_attribute: str = "codeSpecialite"  # name unverified (padoa once used codeSpecialiteAMO)
    name_qualifier: str = "CPS"


def issuer_dn(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string(_DN_NAMES)


def certificate_cn(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def _sub(parent: etree._Element, ns: str, name: str, text: str | None = None,
         **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        el.text = text
    return el


def unsigned_assertion(cert: x509.Certificate, ps: PsAttributes, *, assertion_id: str,
                       now: dt.datetime | None = None) -> etree._Element:
    national_id = ps.national_id or certificate_cn(cert) or ""
    if not national_id:
        raise InsiConfigError("Identifiant national du professionnel absent (carte CPS ou configuration).")
    if not ps.billing_id:
        raise InsiConfigError("Identifiant de facturation du professionnel absent de la configuration INSi.")
    assertion = etree.Element(f"{{{NS_SAML}}}Assertion", nsmap={None: NS_SAML})
    assertion.set("ID", assertion_id)
    assertion.set("IssueInstant", timestamp(now))
    assertion.set("Version", "2.0")
    _sub(assertion, NS_SAML, "Issuer", issuer_dn(cert), Format=ISSUER_FORMAT)
    subject = _sub(assertion, NS_SAML, "Subject")
    _sub(subject, NS_SAML, "NameID", national_id, NameQualifier=ps.name_qualifier)
    statement = _sub(assertion, NS_SAML, "AttributeStatement")
    attributes = [("identifiantFacturation", ps.billing_id), ("secteurActivite", ps.activity_sector)]
    if ps.specialty_code:
        attributes.append((ps.specialty_attribute, ps.specialty_code))
    for name, value in attributes:
        _sub(_sub(statement, NS_SAML, "Attribute", Name=name), NS_SAML, "AttributeValue", value)
    return assertion


def sign_enveloped(assertion: etree._Element, signer: Signer) -> etree._Element:
    """Insert an enveloped signature after `Issuer` (blocking: calls the signer)."""
    return xmldsig.sign_enveloped(assertion, signer, after=f"{{{NS_SAML}}}Issuer")


def build_signed_assertion(signer: Signer, ps: PsAttributes, *, now: dt.datetime | None = None,
                           assertion_id: str | None = None) -> etree._Element:
    """A fresh signed PS assertion (blocking: run it in a worker thread)."""
    try:
        cert = x509.load_der_x509_certificate(signer.certificate())
    except ValueError as exc:
        raise InsiConfigError("Certificat de la carte CPS illisible.", detail=str(exc)) from None
    assertion = unsigned_assertion(cert, ps, assertion_id=assertion_id or f"_{uuid.uuid4()}", now=now)
    return sign_enveloped(assertion, signer)


def security_header(assertions: Sequence[etree._Element]) -> etree._Element:
    """`wsse:Security` holding copies of the given assertions (the originals stay reusable)."""
    security = etree.Element(f"{{{NS_WSSE}}}Security", nsmap={"wsse": NS_WSSE})
    for assertion in assertions:
        security.append(_copy(assertion))
    return security


def _copy(el: etree._Element) -> etree._Element:
    # A re-parse, not deepcopy: the signed bytes must come out exactly as they were signed.
    return etree.fromstring(etree.tostring(el))
