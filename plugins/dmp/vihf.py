"""The VIHF: the SAML 2.0 assertion the DMP reads from `wsse:Security` (spec §1.3, DRIMbox vihf/*).

Every attribute of the spec table: Issuer (X509SubjectName of the signing certificate), enveloped
XML-DSig (RSA-SHA256, exc-c14n), Subject/NameID (PS national id "8"+RPPS), VIHF_Version,
Authentification_Mode (DIRECTE: signed by the CPS; INDIRECTE: by the structure certificate),
Identifiant_Structure, Secteur_Activite, resource-id (the patient's INS as CX), Ressource_URN,
subject-id ("Prénom Nom"), two subject:role (profession, savoir-faire, as HL7 `Role` elements),
purposeofuse, LPS_ID / LPS_Nom / LPS_Version / LPS_ID_HOMOLOGATION_DMP, AuthnStatement.

The assertion names the patient: it is built per patient, cached one hour at most by the client, and
never logged (it is a bearer credential).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from plugins.common import xmldsig
from plugins.common.clinical import valuesets as vs

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_HL7 = "urn:hl7-org:v3"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
ISSUER_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
VIHF_VERSION = "3.0"  # the ANS example and DRIMbox; the spec table says 4.0 [?] (DMPi guide)
SECTOR_SYSTEM = "1.2.250.1.71.4.2.4"
PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"
AUTHN_CONTEXT = {"DIRECTE": "urn:oasis:names:tc:SAML:2.0:ac:classes:X509",
                 "INDIRECTE": "urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient"}
ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
LIFETIME = dt.timedelta(hours=1)
_SAML = f"{{{NS_SAML}}}"


@dataclass(frozen=True)
class VihfContext:
    """Who acts, for which patient, from which software."""

    mode: str  # DIRECTE | INDIRECTE
    ps_national_id: str  # "8" + RPPS
    ps_name: str  # "Prénom Nom"
    profession: str  # TRE_G15 code, e.g. "10"
    specialty: str  # savoir-faire code, e.g. "SM54"
    structure_id: str
    activity_sector: str  # JDV_J61 code, e.g. "SA07"
    patient_ins: str
    patient_ins_oid: str
    lps_id: str
    lps_name: str
    lps_version: str
    homologation: str


def _sub(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, _SAML + name, attrs)
    if text is not None:
        el.text = text
    return el


def _attribute(statement: etree._Element, name: str, *values: str | etree._Element) -> None:
    attr = _sub(statement, "Attribute", Name=name)
    for value in values:
        holder = _sub(attr, "AttributeValue")
        if isinstance(value, str):
            holder.text = value
        else:
            holder.append(value)


def _role(tag: str, code: vs.Code) -> etree._Element:
    el = etree.Element(f"{{{NS_HL7}}}{tag}", nsmap={None: NS_HL7, "xsi": NS_XSI})
    el.set(f"{{{NS_XSI}}}type", "CE")
    el.set("code", code.code)
    el.set("codeSystem", code.system)
    el.set("displayName", code.display)
    return el


def _time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def unsigned_vihf(ctx: VihfContext, issuer: str, *, now: dt.datetime, assertion_id: str) -> etree._Element:
    if ctx.mode not in AUTHN_CONTEXT:
        raise ValueError(f"unknown VIHF authentication mode {ctx.mode!r}")
    root = etree.Element(_SAML + "Assertion", nsmap={"saml2": NS_SAML})
    root.set("ID", assertion_id)
    root.set("IssueInstant", _time(now))
    root.set("Version", "2.0")
    _sub(root, "Issuer", issuer, Format=ISSUER_FORMAT)
    subject = _sub(root, "Subject")
    _sub(subject, "NameID", ctx.ps_national_id, Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
    _sub(root, "Conditions", NotBefore=_time(now), NotOnOrAfter=_time(now + LIFETIME))
    authn = _sub(root, "AuthnStatement", AuthnInstant=_time(now))
    _sub(_sub(authn, "AuthnContext"), "AuthnContextClassRef", AUTHN_CONTEXT[ctx.mode])
    statement = _sub(root, "AttributeStatement")
    _attribute(statement, "VIHF_Version", VIHF_VERSION)
    _attribute(statement, "Authentification_Mode", ctx.mode)
    _attribute(statement, "Identifiant_Structure", ctx.structure_id)
    _attribute(statement, "Secteur_Activite", f"{ctx.activity_sector}^{SECTOR_SYSTEM}")
    _attribute(statement, RESOURCE_ID, f"{ctx.patient_ins}^^^&{ctx.patient_ins_oid}&ISO^NH")
    _attribute(statement, "Ressource_URN", "urn:dmp")
    _attribute(statement, SUBJECT_ID, ctx.ps_name)
    _attribute(statement, ROLE, _role("Role", vs.role("profession", ctx.profession)),
               _role("Role", vs.role("specialty", ctx.specialty)))
    purpose = etree.Element(f"{{{NS_HL7}}}PurposeOfUse", nsmap={None: NS_HL7, "xsi": NS_XSI})
    purpose.set(f"{{{NS_XSI}}}type", "CE")
    purpose.set("code", "normal")
    purpose.set("codeSystem", PURPOSE_SYSTEM)
    _attribute(statement, PURPOSE, purpose)
    _attribute(statement, "LPS_ID", ctx.lps_id)
    _attribute(statement, "LPS_Nom", ctx.lps_name)
    _attribute(statement, "LPS_Version", ctx.lps_version)
    _attribute(statement, "LPS_ID_HOMOLOGATION_DMP", ctx.homologation or "0")
    return root


def build_vihf(ctx: VihfContext, signer: xmldsig.Signer, *, now: dt.datetime | None = None) -> etree._Element:
    """A fresh signed VIHF (blocking: the signer may be a card; run it in a worker thread)."""
    cert = x509.load_der_x509_certificate(signer.certificate())
    issuer = cert.subject.rfc4514_string({x509.NameOID.SURNAME: "SN", x509.NameOID.TITLE: "T"})
    assertion = unsigned_vihf(ctx, issuer, now=now or dt.datetime.now(dt.UTC), assertion_id=f"_{uuid.uuid4()}")
    return xmldsig.sign_enveloped(assertion, signer, after=_SAML + "Issuer")
