"""SOAP 1.2 request envelopes for the two INSi operations, built with lxml (no WSDL).

The layout follows the request of a CNDA-approved client (shared/data/insi/REQ_*.xml, insi.md §3):
the same namespace declarations on `soap:Envelope` (including the unused `jaxb`/`xjc` ones, kept so
that what we send stays as close as possible to a message the service is known to accept), headers
in the order ContexteBAM, ContexteLPS, wsa:Action, wsa:MessageID, then wsse:Security (CPS mode),
`wsa:*` elements carrying their own `xmlns:wsa` + default namespace, `soap:Body Id="_0"`.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from plugins.ins.insi.types import OPERATION_TRAITS, OPERATION_VITALE, SearchTraits, VitaleSearch

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_CTXBAM = "urn:siram:bam:ctxbam"
NS_CTXLPS = "urn:siram:lps:ctxlps"
NS_SIRAM = "urn:siram"
NS_RECSANS = "http://www.cnamts.fr/INSiRecSans"
NS_RECVIT = "http://www.cnamts.fr/INSiRecVit"
NS_RESULTAT = "http://www.cnamts.fr/INSiResultat"

ENVELOPE_NSMAP: dict[str | None, str] = {
    "soap": NS_SOAP,
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "tns": "http://www.cnamts.fr/webservice",
    "insi": "http://www.cnamts.fr/ServiceIdentiteCertifiee/v1",
    "insi_recsans_ins": NS_RECSANS,
    "insi_recvit_ins": NS_RECVIT,
    "insi_resultat_ins": NS_RESULTAT,
    "wsse": NS_WSSE,
    "ctxbam": NS_CTXBAM,
    "ctxlps": NS_CTXLPS,
    "siram": NS_SIRAM,
    "jaxb": "http://java.sun.com/xml/ns/jaxb",
    "xjc": "http://java.sun.com/xml/ns/jaxb/xjc",
}

ACTION_PREFIX = "urn:ServiceIdentiteCertifiee:1.0.0:"
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COG = re.compile(r"^[0-9A-Za-z]{5}$")
_NIR = re.compile(r"^\d{6}[AB0-9]\d{6}$")
_KEY = re.compile(r"^\d{2}$")


@dataclass(frozen=True)
class SoftwareContext:
    """What ContexteLPS / ContexteBAM say about us (insi.md §3.2)."""

    idam: str
    software_name: str
    software_version: str
    instance_id: str  # one UUID per installation
    emitter: str | None = None

    @property
    def lps_name(self) -> str:
        return f"urn:lps:{self.software_name}:{self.software_version}"


def action(operation: str) -> str:
    return ACTION_PREFIX + operation


def new_message_id() -> str:
    return f"uuid:{uuid.uuid4()}"


def timestamp(now: dt.datetime | None = None) -> str:
    """xsd:dateTime in UTC with milliseconds, as `2022-03-01T10:29:58.604Z`."""
    now = now or dt.datetime.now(dt.UTC)
    now = now.astimezone(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


# Skeleton templates: every element the request may carry, in order, with the prefixes and
# namespace declarations of the reference request. Builders fill the values (lxml escapes them),
# clone repeated elements and remove absent optional ones. Parsing keeps each declaration and
# prefix as written, which building element by element does not (lxml would pick the default
# namespace inside RECSANSVITALE and drop redundant declarations).
_DECLS = " ".join(f'xmlns:{p}="{uri}"' for p, uri in ENVELOPE_NSMAP.items())
_WSA = f'xmlns:wsa="{NS_WSA}" xmlns="{NS_WSA}"'
_COUVERTURE_VITALE = (
    "<ctxbam:GrandRegime/><ctxbam:Organisme/><ctxbam:CodeCentre/>"
    "<ctxbam:ASSURE><ctxbam:Id><ctxbam:Num/><ctxbam:Cle/></ctxbam:Id></ctxbam:ASSURE>"
    "<ctxbam:BENEFICIAIRE><ctxbam:Nir><ctxbam:Num/><ctxbam:Cle/><ctxbam:DateCertification/></ctxbam:Nir>"
    "<ctxbam:DateNai/><ctxbam:Rang/><ctxbam:Porteur/></ctxbam:BENEFICIAIRE>"
)
_ENVELOPE = (
    f"<soap:Envelope {_DECLS}><soap:Header>"
    '<ctxbam:ContexteBAM Version="01_02"><ctxbam:Id/><ctxbam:Temps/><ctxbam:Emetteur/>'
    "<ctxbam:COUVERTURE>{couverture}</ctxbam:COUVERTURE></ctxbam:ContexteBAM>"
    '<ctxlps:ContexteLPS Nature="CTXLPS" Version="01_00"><ctxlps:Id/><ctxlps:Temps/><ctxlps:Emetteur/>'
    '<ctxlps:LPS><ctxlps:IDAM R="4"/><ctxlps:Version/><ctxlps:Instance/><ctxlps:Nom/></ctxlps:LPS>'
    "</ctxlps:ContexteLPS>"
    f"<wsa:Action {_WSA}/><wsa:MessageID {_WSA}/>"
    f'<wsse:Security xmlns:wsse="{NS_WSSE}"/>'
    '</soap:Header><soap:Body Id="_0">{body}</soap:Body></soap:Envelope>'
)
_TRAITS_BODY = (
    f'<insi_recsans_ins:RECSANSVITALE xmlns:insi_recsans_ins="{NS_RECSANS}" xmlns="{NS_RECSANS}">'
    "<insi_recsans_ins:NomNaissance/><insi_recsans_ins:Prenom/><insi_recsans_ins:Sexe/>"
    "<insi_recsans_ins:DateNaissance/><insi_recsans_ins:LieuNaissance/></insi_recsans_ins:RECSANSVITALE>"
)
_MATRICULE = ("<insi_recvit_ins:NumIdentifiant/><insi_recvit_ins:Cle/><insi_recvit_ins:TypeMatricule/>")
_VITALE_BODY = (
    f'<insi_recvit_ins:RECVITALE xmlns:insi_recvit_ins="{NS_RECVIT}" xmlns="{NS_RECVIT}">'
    f"<insi_recvit_ins:MatriculeIndividu>{_MATRICULE}</insi_recvit_ins:MatriculeIndividu>"
    f"<insi_recvit_ins:MatriculeOD>{_MATRICULE}</insi_recvit_ins:MatriculeOD>"
    "<insi_recvit_ins:NomNaissance/><insi_recvit_ins:DateNaissance/><insi_recvit_ins:RangNaissance/>"
    "</insi_recvit_ins:RECVITALE>"
)
_TEMPLATES = {
    OPERATION_TRAITS: etree.fromstring(_ENVELOPE.format(couverture="", body=_TRAITS_BODY)),
    OPERATION_VITALE: etree.fromstring(_ENVELOPE.format(couverture=_COUVERTURE_VITALE, body=_VITALE_BODY)),
}
_PATHS = {"soap": NS_SOAP, "wsa": NS_WSA, "wsse": NS_WSSE, "ctxbam": NS_CTXBAM, "ctxlps": NS_CTXLPS,
          "rs": NS_RECSANS, "rv": NS_RECVIT}


def _find(root: etree._Element, path: str) -> etree._Element:
    el = root.find(path, _PATHS)
    if el is None:  # pragma: no cover - the templates are static
        raise LookupError(path)
    return el


def _fill(root: etree._Element, path: str, value: str | None) -> None:
    """Set the text of the element at `path`, or remove it when there is no value."""
    el = _find(root, path)
    if value is None or value == "":
        parent = el.getparent()
        assert parent is not None
        parent.remove(el)
    else:
        el.text = value


def _prune(el: etree._Element) -> None:
    """Remove descendants left without text nor children (optional blocks with nothing to say)."""
    for child in list(el):
        _prune(child)
        if len(child) == 0 and not (child.text or "").strip():
            el.remove(child)


def _envelope(ctx: SoftwareContext, operation: str, message_id: str, security: etree._Element | None,
              now: dt.datetime | None) -> etree._Element:
    root = copy.deepcopy(_TEMPLATES[operation])
    temps = timestamp(now)
    for ctx_name in ("ctxbam:ContexteBAM", "ctxlps:ContexteLPS"):
        base = f"soap:Header/{ctx_name}/{ctx_name.split(':')[0]}:"
        _fill(root, base + "Id", str(uuid.uuid4()))
        _fill(root, base + "Temps", temps)
        _fill(root, base + "Emetteur", ctx.emitter)
    lps = "soap:Header/ctxlps:ContexteLPS/ctxlps:LPS/ctxlps:"
    _fill(root, lps + "IDAM", ctx.idam)
    _fill(root, lps + "Version", ctx.software_version)
    _fill(root, lps + "Instance", ctx.instance_id)
    _fill(root, lps + "Nom", ctx.lps_name)
    _fill(root, "soap:Header/wsa:Action", action(operation))
    _fill(root, "soap:Header/wsa:MessageID", message_id)
    # COUVERTURE is required; empty for a traits search, written `<x></x>` like the reference.
    _find(root, "soap:Header/ctxbam:ContexteBAM/ctxbam:COUVERTURE").text = ""
    holder = _find(root, "soap:Header/wsse:Security")
    if security is None:
        _find(root, "soap:Header").remove(holder)
    else:
        holder.extend(list(security))  # keep the template's element and its declarations
    return root


def _check(value: str | None, pattern: re.Pattern[str], what: str) -> None:
    if value is not None and not pattern.match(value):
        raise ValueError(f"{what}: unexpected format")


def build_traits_request(ctx: SoftwareContext, traits: SearchTraits, first_names: Sequence[str], *,
                         message_id: str, security: etree._Element | None = None,
                         now: dt.datetime | None = None) -> etree._Element:
    """`rechercherInsAvecTraitsIdentite`; one `Prenom` element per item of `first_names`.

    `security` is a `wsse:Security` element whose children (assertions) are copied into the header.
    ValueError on inputs the service would reject anyway (the caller validates traits first).
    """
    _check(traits.birth_date, _DATE, "birth_date")
    _check(traits.birth_place, _COG, "birth_place")
    if traits.sex not in ("M", "F"):
        raise ValueError("sex: M or F expected")
    if not traits.birth_name.strip():
        raise ValueError("birth_name: empty")
    root = _envelope(ctx, OPERATION_TRAITS, message_id, security, now)
    body = "soap:Body/rs:RECSANSVITALE/rs:"
    _fill(root, body + "NomNaissance", traits.birth_name)
    prenom = _find(root, body + "Prenom")
    for name in first_names:
        clone = copy.deepcopy(prenom)
        clone.text = name
        prenom.addprevious(clone)
    _find(root, "soap:Body/rs:RECSANSVITALE").remove(prenom)
    _fill(root, body + "Sexe", traits.sex)
    _fill(root, body + "DateNaissance", traits.birth_date)
    _fill(root, body + "LieuNaissance", traits.birth_place)
    return root


def build_vitale_request(ctx: SoftwareContext, search: VitaleSearch, *, message_id: str,
                         security: etree._Element | None = None,
                         now: dt.datetime | None = None) -> etree._Element:
    """`rechercherInsAvecCarteVitale`: `RECVITALE` body and a filled `COUVERTURE` (insi.md §3.6)."""
    for nir, key, what in ((search.beneficiary_nir, search.beneficiary_nir_key, "beneficiary_nir"),
                           (search.insured_nir, search.insured_nir_key, "insured_nir")):
        _check(nir, _NIR, what)
        _check(key, _KEY, what + "_key")
    _check(search.birth_date, _DATE, "birth_date")
    _check(search.beneficiary_nir_certified_on, _DATE, "beneficiary_nir_certified_on")
    if search.holder is not None and not re.fullmatch(r"\d", search.holder):
        raise ValueError("holder: one digit expected")
    if not (search.beneficiary_nir or search.insured_nir):
        raise ValueError("a Vitale search needs the beneficiary's or the insured person's NIR")
    root = _envelope(ctx, OPERATION_VITALE, message_id, security, now)
    rank = str(search.birth_rank) if search.birth_rank is not None else None
    cov = "soap:Header/ctxbam:ContexteBAM/ctxbam:COUVERTURE/ctxbam:"
    _fill(root, cov + "GrandRegime", search.grand_regime)
    _fill(root, cov + "Organisme", search.organisme)
    _fill(root, cov + "CodeCentre", search.code_centre)
    _fill(root, cov + "ASSURE/ctxbam:Id/ctxbam:Num", search.insured_nir)
    _fill(root, cov + "ASSURE/ctxbam:Id/ctxbam:Cle", search.insured_nir_key)
    ben = cov + "BENEFICIAIRE/ctxbam:"
    _fill(root, ben + "Nir/ctxbam:Num", search.beneficiary_nir)
    _fill(root, ben + "Nir/ctxbam:Cle", search.beneficiary_nir_key)
    _fill(root, ben + "Nir/ctxbam:DateCertification", search.beneficiary_nir_certified_on)
    _fill(root, ben + "DateNai", search.birth_date)
    _fill(root, ben + "Rang", rank)
    _fill(root, ben + "Porteur", search.holder)
    _prune(_find(root, cov.removesuffix("/ctxbam:")))
    body = "soap:Body/rv:RECVITALE/rv:"
    for element, nir, key in (("MatriculeIndividu", search.beneficiary_nir, search.beneficiary_nir_key),
                              ("MatriculeOD", search.insured_nir, search.insured_nir_key)):
        _fill(root, f"{body}{element}/rv:NumIdentifiant", nir)
        _fill(root, f"{body}{element}/rv:Cle", key)
        _fill(root, f"{body}{element}/rv:TypeMatricule", search.matricule_type if nir else None)
    _fill(root, body + "NomNaissance", search.birth_name)
    _fill(root, body + "DateNaissance", search.birth_date)
    _fill(root, body + "RangNaissance", rank)
    _prune(_find(root, "soap:Body/rv:RECVITALE"))
    return root


def serialize(envelope: etree._Element) -> bytes:
    """UTF-8 bytes with the XML declaration of the reference request."""
    return XML_DECLARATION + etree.tostring(envelope, encoding="utf-8", xml_declaration=False)
