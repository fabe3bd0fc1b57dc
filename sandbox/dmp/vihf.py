"""Checking the VIHF carried in `wsse:Security` (spec §1.3), as the DMP does.

The XML-DSig signature is verified with signxml (RSA-SHA256, SHA-256, one enveloped reference to the
assertion's ID, X.509 in KeyInfo chaining to the CA of the mode: the CPS CA for DIRECTE, the
organisation CA for INDIRECTE). Attributes are read from what was signed, never from the message
(signature wrapping), and every attribute of the table must be there with a well-formed value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_HL7 = "urn:hl7-org:v3"
_S = f"{{{NS_SAML}}}"
REQUIRED = ("VIHF_Version", "Authentification_Mode", "Identifiant_Structure", "Secteur_Activite",
            "urn:oasis:names:tc:xacml:2.0:resource:resource-id", "Ressource_URN",
            "urn:oasis:names:tc:xspa:1.0:subject:subject-id", "urn:oasis:names:tc:xacml:2.0:subject:role",
            "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse", "LPS_ID", "LPS_Nom", "LPS_Version",
            "LPS_ID_HOMOLOGATION_DMP")
_CONFIG = SignatureConfiguration(location="./", expect_references=1,
                                 signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
                                 digest_algorithms=frozenset({DigestAlgorithm.SHA256}))


class VihfRejected(Exception):
    """French reason, sent back in the SOAP fault."""


@dataclass(frozen=True)
class Vihf:
    mode: str
    ps_id: str
    structure_id: str
    patient_id: str  # INS^^^&OID&ISO^NH
    roles: tuple[str, ...]


def verify_vihf(header: etree._Element | None, *, cps_ca: Path, org_ca: Path, max_age: float = 3600.0) -> Vihf:
    security = header.find(f"{{{NS_WSSE}}}Security") if header is not None else None
    assertion = security.find(_S + "Assertion") if security is not None else None
    if assertion is None:
        raise VihfRejected("VIHF absent de l'en-tête WS-Security.")
    mode_el = assertion.find(f"{_S}AttributeStatement/{_S}Attribute[@Name='Authentification_Mode']/{_S}AttributeValue")
    mode = (mode_el.text or "") if mode_el is not None else ""
    if mode not in ("DIRECTE", "INDIRECTE"):
        raise VihfRejected("Authentification_Mode absent ou inconnu.")
    ca = cps_ca if mode == "DIRECTE" else org_ca
    try:
        verified = XMLVerifier().verify(etree.tostring(assertion), ca_pem_file=str(ca), expect_config=_CONFIG)
    except Exception as exc:  # signxml raises various errors on hostile input
        raise VihfRejected(f"Signature du VIHF invalide ({type(exc).__name__}).") from exc
    result = verified[0] if isinstance(verified, list) else verified
    signed = result.signed_xml
    if signed is None or signed.tag != _S + "Assertion" or signed.get("ID") != assertion.get("ID"):
        raise VihfRejected("La signature ne couvre pas le VIHF.")
    issuer = signed.find(_S + "Issuer")
    if issuer is None or not (issuer.text or "").strip():
        raise VihfRejected("Issuer du VIHF absent.")
    ps_id = signed.findtext(f"{_S}Subject/{_S}NameID", "").strip()
    if not ps_id:
        raise VihfRejected("Subject/NameID (identifiant national du professionnel) absent.")
    values: dict[str, list[etree._Element]] = {}
    for attr in signed.iterfind(f"{_S}AttributeStatement/{_S}Attribute"):
        values[attr.get("Name", "")] = list(attr.iterfind(_S + "AttributeValue"))
    missing = [name for name in REQUIRED if not values.get(name)]
    if missing:
        raise VihfRejected(f"Attribut(s) absent(s) du VIHF : {', '.join(missing)}.")

    def text(name: str) -> str:
        return (values[name][0].text or "").strip()

    if text("Ressource_URN") != "urn:dmp":
        raise VihfRejected("Ressource_URN doit valoir urn:dmp.")
    if not text("Secteur_Activite").endswith("^1.2.250.1.71.4.2.4"):
        raise VihfRejected("Secteur_Activite mal formé (code^1.2.250.1.71.4.2.4 attendu).")
    roles = tuple(r.get("code", "") for v in values["urn:oasis:names:tc:xacml:2.0:subject:role"]
                  for r in v.iter(f"{{{NS_HL7}}}Role"))
    if len(roles) < 2:
        raise VihfRejected("Deux rôles (profession et savoir-faire) attendus dans le VIHF.")
    instant = dt.datetime.fromisoformat((signed.get("IssueInstant") or "").replace("Z", "+00:00"))
    now = dt.datetime.now(dt.UTC)
    if instant > now + dt.timedelta(minutes=5) or now - instant > dt.timedelta(seconds=max_age):
        raise VihfRejected("VIHF expiré ou émis dans le futur.")
    return Vihf(mode=mode, ps_id=ps_id, structure_id=text("Identifiant_Structure"),
                patient_id=text("urn:oasis:names:tc:xacml:2.0:resource:resource-id"), roles=roles)
