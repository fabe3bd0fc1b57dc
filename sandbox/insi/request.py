"""Reading an INSi request: namespace-aware (lxml), prefix- and whitespace-agnostic, like the real stack.

`parse_request` raises `RequestRejected` (carrying the SOAP fault to send) when the message cannot be
processed at all: not XML, a DTD, not a SOAP 1.2 envelope, no or several Body children. Everything else
is read leniently into `InsiRequest`; `schema_problems` lists what a schema-validating service would refuse
(insi.md §3), which the server enforces in strict mode.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from lxml import etree

from sandbox.insi.faults import SoapFault, plain_fault
from sandbox.insi.responses import ACTION_PREFIX, NS_RECSANS, NS_RECVIT, SOAP11_ENV, SOAP_ENV, WSA

NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_CTXBAM = "urn:siram:bam:ctxbam"
NS_CTXLPS = "urn:siram:lps:ctxlps"

OP_TRAITS = "rechercherInsAvecTraitsIdentite"
OP_VITALE = "rechercherInsAvecCarteVitale"
OPERATIONS: dict[str, str] = {
    OP_TRAITS: f"{{{NS_RECSANS}}}RECSANSVITALE",
    OP_VITALE: f"{{{NS_RECVIT}}}RECVITALE",
}
_BY_ELEMENT = {element: op for op, element in OPERATIONS.items()}
_TRAITS_ORDER = ("NomNaissance", "Prenom", "Sexe", "DateNaissance", "LieuNaissance")
_VITALE_ORDER = ("MatriculeIndividu", "MatriculeOD", "NomNaissance", "DateNaissance", "RangNaissance")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class RequestRejected(Exception):
    def __init__(self, fault: SoapFault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


@dataclass
class InsiRequest:
    operation: str | None  # from the Body element (None: unknown element)
    body_element: str  # Clark notation
    action: str | None
    message_id: str | None
    idam: str | None
    emitter: str | None
    security: etree._Element | None
    # traits search
    birth_name: str | None = None
    first_names: list[str] = field(default_factory=list)
    sex: str | None = None
    birth_date: str | None = None
    birth_place: str | None = None
    # Carte Vitale search
    nir: str | None = None
    nir_key: str | None = None
    rank: int | None = None
    schema_problems: list[str] = field(default_factory=list)

    @property
    def action_operation(self) -> str | None:
        if self.action and self.action.startswith(ACTION_PREFIX):
            return self.action[len(ACTION_PREFIX):]
        return None


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _child(parent: etree._Element | None, ns: str, name: str) -> etree._Element | None:
    if parent is None:
        return None
    return parent.find(f"{{{ns}}}{name}")


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [c for c in parent if isinstance(c.tag, str)]


def _check_order(body: etree._Element, ns: str, order: tuple[str, ...], problems: list[str]) -> None:
    last = -1
    for child in _elements(body):
        qname = etree.QName(child)
        if qname.namespace != ns or qname.localname not in order:
            problems.append(f"élément inattendu {qname.localname} dans {_local(body)}")
            continue
        index = order.index(qname.localname)
        if index < last:
            problems.append(f"{qname.localname} hors de l'ordre du schéma dans {_local(body)}")
        if index == last and qname.localname != "Prenom":
            problems.append(f"{qname.localname} répété dans {_local(body)}")
        last = index


def _is_datetime(value: str | None) -> bool:
    if not value:
        return False
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_contexts(bam: etree._Element | None, lps: etree._Element | None, problems: list[str]) -> None:
    if bam is None:
        problems.append("en-tête ctxbam:ContexteBAM absent")
    else:
        if bam.get("Version") != "01_02":
            problems.append("ContexteBAM@Version doit valoir 01_02")
        if bam.get("Nature") not in (None, "CTXBAM"):
            problems.append("ContexteBAM@Nature doit valoir CTXBAM")
        for name in ("Id", "Temps", "COUVERTURE"):
            if _child(bam, NS_CTXBAM, name) is None:
                problems.append(f"ContexteBAM/{name} absent")
        if _child(bam, NS_CTXBAM, "Temps") is not None and not _is_datetime(_text(_child(bam, NS_CTXBAM, "Temps"))):
            problems.append("ContexteBAM/Temps n'est pas un xsd:dateTime")
    if lps is None:
        problems.append("en-tête ctxlps:ContexteLPS absent")
        return
    if lps.get("Nature") != "CTXLPS":
        problems.append("ContexteLPS@Nature doit valoir CTXLPS")
    if lps.get("Version") != "01_00":
        problems.append("ContexteLPS@Version doit valoir 01_00")
    for name in ("Id", "Temps", "LPS"):
        if _child(lps, NS_CTXLPS, name) is None:
            problems.append(f"ContexteLPS/{name} absent")
    if _child(lps, NS_CTXLPS, "Temps") is not None and not _is_datetime(_text(_child(lps, NS_CTXLPS, "Temps"))):
        problems.append("ContexteLPS/Temps n'est pas un xsd:dateTime")
    software = _child(lps, NS_CTXLPS, "LPS")
    if software is not None:
        for name in ("IDAM", "Version", "Instance", "Nom"):
            if _child(software, NS_CTXLPS, name) is None:
                problems.append(f"ContexteLPS/LPS/{name} absent")


def _read_traits(req: InsiRequest, body: etree._Element) -> None:
    req.birth_name = _text(_child(body, NS_RECSANS, "NomNaissance"))
    req.first_names = [t for t in (_text(p) for p in body.findall(f"{{{NS_RECSANS}}}Prenom")) if t]
    req.sex = _text(_child(body, NS_RECSANS, "Sexe"))
    req.birth_date = _text(_child(body, NS_RECSANS, "DateNaissance"))
    req.birth_place = _text(_child(body, NS_RECSANS, "LieuNaissance"))
    problems = req.schema_problems
    _check_order(body, NS_RECSANS, _TRAITS_ORDER, problems)
    if req.sex is not None and req.sex not in ("M", "F"):
        problems.append("Sexe doit valoir M ou F")
    if req.birth_date is not None and not _DATE.fullmatch(req.birth_date):
        problems.append("DateNaissance doit être au format AAAA-MM-JJ")
    if req.birth_place is not None and len(req.birth_place) != 5:
        problems.append("LieuNaissance doit être un code COG de 5 caractères")


def _read_vitale(req: InsiRequest, body: etree._Element) -> None:
    own = _child(body, NS_RECVIT, "MatriculeIndividu")
    req.nir = _text(_child(own, NS_RECVIT, "NumIdentifiant"))
    req.nir_key = _text(_child(own, NS_RECVIT, "Cle"))
    req.birth_name = _text(_child(body, NS_RECVIT, "NomNaissance"))
    req.birth_date = _text(_child(body, NS_RECVIT, "DateNaissance"))
    rank = _text(_child(body, NS_RECVIT, "RangNaissance"))
    problems = req.schema_problems
    _check_order(body, NS_RECVIT, _VITALE_ORDER, problems)
    if rank is not None:
        if rank.isdigit():
            req.rank = int(rank)
        else:
            problems.append("RangNaissance doit être un entier")
    if req.nir is not None and not re.fullmatch(r"\d{6}[AB0-9]\d{6}", req.nir):
        problems.append("MatriculeIndividu/NumIdentifiant n'est pas un matricule de 13 caractères")
    if req.birth_date is not None and not _DATE.fullmatch(req.birth_date):
        problems.append("DateNaissance doit être au format AAAA-MM-JJ")


def parse_request(data: bytes) -> InsiRequest:
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise RequestRejected(plain_fault(f"Couldn't create SOAP message due to exception: XML reader error: "
                                          f"{exc}")) from exc
    doc = root.getroottree()
    if doc.docinfo.doctype or doc.docinfo.internalDTD is not None:
        raise RequestRejected(plain_fault("DTD is not allowed in a SOAP message"))
    if root.tag == f"{{{SOAP11_ENV}}}Envelope":
        raise RequestRejected(plain_fault("Invalid SOAP envelope version: this service speaks SOAP 1.2 only",
                                          code="VersionMismatch"))
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise RequestRejected(plain_fault(f"Invalid SOAP envelope: root element {_local(root)}"))
    header = root.find(f"{{{SOAP_ENV}}}Header")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    payload = _elements(body) if body is not None else []
    if len(payload) != 1:
        raise RequestRejected(plain_fault("The SOAP Body must contain exactly one element"))
    element = payload[0]

    bam = _child(header, NS_CTXBAM, "ContexteBAM")
    lps = _child(header, NS_CTXLPS, "ContexteLPS")
    software = _child(lps, NS_CTXLPS, "LPS")
    req = InsiRequest(
        operation=_BY_ELEMENT.get(str(element.tag)),
        body_element=str(element.tag),
        action=_text(_child(header, WSA, "Action")),
        message_id=_text(_child(header, WSA, "MessageID")),
        idam=_text(_child(software, NS_CTXLPS, "IDAM")),
        emitter=_text(_child(lps, NS_CTXLPS, "Emetteur")) or _text(_child(bam, NS_CTXBAM, "Emetteur")),
        security=_child(header, NS_WSSE, "Security"),
    )
    _check_contexts(bam, lps, req.schema_problems)
    if req.operation == OP_TRAITS:
        _read_traits(req, element)
    elif req.operation == OP_VITALE:
        _read_vitale(req, element)
    return req
