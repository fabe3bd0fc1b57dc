"""Who holds a CPS/CPE, from its authentication certificate (pure; hardware.md B5, insi.md §3.4).

IGC-Santé certificates name the holder in the subject: CN is the national identifier (`8` + RPPS,
`0` + ADELI, `3` + FINESS/structure id for establishment staff...), SN/GN the name, `title` the
profession. The card kind comes from the certificate policies when a configured OID is found, else
from the identifier: establishment cards (CPE) carry a structure-based identifier, and an anonymous
CPE carries no person name. Rules not verified on a real card are configurable (`kind_policies`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

PROFESSIONAL_PREFIXES = ("0", "8", "1", "2")  # ADELI, RPPS, and historical PS numbering
ESTABLISHMENT_PREFIXES = ("3", "4", "5")  # FINESS, SIREN, SIRET based (staff of a structure)


@dataclass(frozen=True)
class CardHolder:
    kind: str  # cps | cpe_nominative | cpe_anonymous
    name: str | None
    national_id: str | None
    profession: str | None
    subject: str  # RFC 4514 subject, for the INSi assertion issuer


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value).strip() if values else None


def _policies(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.CertificatePolicies)
    except x509.ExtensionNotFound:
        return []
    return [p.policy_identifier.dotted_string for p in ext.value]


def holder_from_certificate(der: bytes, kind_policies: Mapping[str, str] | None = None) -> CardHolder:
    cert = x509.load_der_x509_certificate(der)
    subject = cert.subject
    cn = _attr(subject, NameOID.COMMON_NAME)
    national_id = cn.split("/")[0].strip() if cn else None
    surname, given = _attr(subject, NameOID.SURNAME), _attr(subject, NameOID.GIVEN_NAME)
    name = " ".join(p for p in (given, surname) if p) or None
    profession = _attr(subject, NameOID.TITLE)
    kind = next((k for oid, k in (kind_policies or {}).items() if oid in _policies(cert)), None)
    if kind is None:
        if name is None:
            kind = "cpe_anonymous"
        elif national_id and national_id.startswith(ESTABLISHMENT_PREFIXES):
            kind = "cpe_nominative"
        else:
            kind = "cps"
    if kind == "cpe_anonymous":
        name = None
    return CardHolder(kind=kind, name=name, national_id=national_id, profession=profession,
                      subject=subject.rfc4514_string())
