"""INSi response envelopes, written byte for byte like the wire samples in `shared/data/insi/`.

The samples are built by hand (string templates with escaping) rather than serialised by lxml, because the
real service's byte-level conventions are what a client meets: an Envelope with prefix `soap`, a Body with a
*different* prefix bound to the same namespace (`env:` or `S:`), unused namespace declarations, no SOAP
Header, namespace declarations after the attributes on `siram:Erreur`. lxml would normalise all of this.

Body styles (`SandboxConfig.body_style`):

- `live`: `<env:Body xmlns:S=… xmlns:env=…><RESULTAT xmlns=… xmlns:ns0=… xmlns:ns1=…>` as the live qualif
  answers REP_CR00_ADRTROIS_* and REP_CR02_DE_VINCI_LEONARDO;
- `cnda`: `<S:Body xmlns:S=…><RESULTAT xmlns:ns3=… xmlns:ns2=… xmlns=…>` as REP_CR01 and the CNDA test book
  (with REP_CR01's CRLF after the XML declaration);
- `soap`: `<soap:Body><RESULTAT xmlns=…>`, a third prefix seen in the field (insi.md §4);
- `sample` (default): each answer like its own sample, i.e. `cnda` for CR 01 and `live` otherwise.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

from sandbox.insi.identities import CR_LABELS, InsNumber, SearchResult

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
NS_RESULTAT = "http://www.cnamts.fr/INSiResultat"
NS_RECSANS = "http://www.cnamts.fr/INSiRecSans"
NS_RECVIT = "http://www.cnamts.fr/INSiRecVit"

XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
ACTION_PREFIX = "urn:ServiceIdentiteCertifiee:1.0.0:"
FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"

BODY_STYLES = ("sample", "live", "cnda", "soap")
_BODY = {
    "live": (f'<env:Body xmlns:S="{SOAP_ENV}" xmlns:env="{SOAP_ENV}">', "</env:Body>"),
    "cnda": (f'<S:Body xmlns:S="{SOAP_ENV}">', "</S:Body>"),
    "soap": ("<soap:Body>", "</soap:Body>"),
}
_RESULTAT = {
    "live": f'<RESULTAT xmlns="{NS_RESULTAT}" xmlns:ns0="{NS_RECVIT}" xmlns:ns1="{NS_RECSANS}">',
    "cnda": f'<RESULTAT xmlns:ns3="{NS_RECVIT}" xmlns:ns2="{NS_RECSANS}" xmlns="{NS_RESULTAT}">',
    "soap": f'<RESULTAT xmlns="{NS_RESULTAT}">',
}
# OIDs of NIR-based matricules (insi.md §4); anything else (.4.9) is a NIA.
_NIR_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")


def text(value: str) -> str:
    """Escape element content."""
    return escape(value)


def attr(value: str) -> str:
    """Escape an attribute value written between double quotes."""
    return escape(value, {'"': "&quot;"})


@dataclass(frozen=True)
class Addressing:
    """WS-Addressing reply headers, written only when `SandboxConfig.addressing_headers` is on (the samples
    carry no SOAP Header at all)."""

    action: str
    relates_to: str | None

    def header(self) -> str:
        parts = [
            f'<wsa:Action xmlns:wsa="{WSA}">{text(self.action)}</wsa:Action>',
            f'<wsa:MessageID xmlns:wsa="{WSA}">uuid:{uuid.uuid4()}</wsa:MessageID>',
        ]
        if self.relates_to:
            parts.append(f'<wsa:RelatesTo xmlns:wsa="{WSA}">{text(self.relates_to)}</wsa:RelatesTo>')
        return "<soap:Header>" + "".join(parts) + "</soap:Header>"


def envelope(body_open: str, content: str, body_close: str, addressing: Addressing | None = None, *,
             declaration: str = XML_DECL) -> bytes:
    header = addressing.header() if addressing is not None else ""
    return (f'{declaration}<soap:Envelope xmlns:soap="{SOAP_ENV}">{header}{body_open}{content}{body_close}'
            "</soap:Envelope>").encode()


def resolve_style(style: str, cr: str) -> str:
    if style == "sample":
        return "cnda" if cr == "01" else "live"
    if style not in _BODY:
        raise ValueError(f"body_style {style!r}: one of {', '.join(BODY_STYLES)}")
    return style


def _number(tag: str, number: InsNumber, *, with_type: bool) -> str:
    kind = ""
    if with_type and number.type is not None:
        written = number.type or ("NIR" if number.oid in _NIR_OIDS else "NIA")
        kind = f"<TypeMatricule>{text(written)}</TypeMatricule>"
    # The CNDA test book puts DateDeb/DateFin first in INSHISTO (TEST_2.04 cas 2).
    dates = "".join(f"<{name}>{text(value)}</{name}>" for name, value in
                    (("DateDeb", number.start_date), ("DateFin", number.end_date)) if value)
    return (f"<{tag}>{dates}<IdIndividu><NumIdentifiant>{text(number.matricule)}</NumIdentifiant>"
            f"<Cle>{text(number.key)}</Cle>{kind}</IdIndividu><OID>{text(number.oid)}</OID></{tag}>")


def resultat(result: SearchResult) -> str:
    """`RESULTAT` content (without its opening tag): CR, then INDIVIDU for CR 00, in the samples' order."""
    out = [f"<CR><CodeCR>{result.cr}</CodeCR><LibelleCR>{text(CR_LABELS[result.cr])}</LibelleCR></CR>"]
    person = result.identity
    if result.cr == "00" and person is not None and person.ins is not None:
        out.append("<INDIVIDU>")
        out.append(_number("INSACTIF", person.ins, with_type=False))
        # INSHISTO entries carry TypeMatricule in the CNDA book (TEST_2.04_cas2); INSACTIF does not.
        out.extend(_number("INSHISTO", h, with_type=True) for h in person.history)
        out.append(f"<TIQ><NomNaissance>{text(person.birth_name)}</NomNaissance>"
                   f"<ListePrenom>{text(person.first_names_text)}</ListePrenom><Sexe>{person.sex}</Sexe>"
                   f"<DateNaissance>{text(person.birth_date)}</DateNaissance>")
        if person.birth_place:
            out.append(f"<LieuNaissance>{text(person.birth_place)}</LieuNaissance>")
        out.append("</TIQ></INDIVIDU>")
    out.append("</RESULTAT>")
    return "".join(out)


def resultat_envelope(result: SearchResult, *, style: str = "sample", addressing: Addressing | None = None) -> bytes:
    """The full HTTP 200 answer for a search result."""
    resolved = resolve_style(style, result.cr)
    body_open, body_close = _BODY[resolved]
    # REP_CR01 (cnda style) has a CRLF after the XML declaration where the live samples have LF.
    declaration = XML_DECL.replace("\n", "\r\n") if resolved == "cnda" else XML_DECL
    return envelope(body_open, _RESULTAT[resolved] + resultat(result), body_close, addressing,
                    declaration=declaration)
