"""Parse INSi responses: RESULTAT → InsiResponse, SOAP 1.2 Fault → InsiFault, garbage → malformed.

Tolerant by design (insi.md §4, shared/data/insi/README.md): any namespace prefix (`S:`, `soap:`,
`env:`), children in any order, 0..n `INSHISTO`, `Prenom` beside `ListePrenom`, `DateDeb`/`DateFin`
anywhere, keys that fail mod-97 (flagged, never fatal). Elements are matched by namespace + local
name; result children in no namespace are accepted too. Nothing here depends on prefixes.
"""

from __future__ import annotations

from lxml import etree

from plugins.common.nir import key_is_valid
from plugins.ins.insi.envelope import NS_RESULTAT, NS_SIRAM, NS_SOAP
from plugins.ins.insi.types import InsId, InsiFault, InsiMalformedResponse, InsiResponse, ReturnedTraits

NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
_SOAP_NAMESPACES = (NS_SOAP, NS_SOAP11)
_RESULT_NAMESPACES = (NS_RESULTAT, None)
NS_XML = "http://www.w3.org/XML/1998/namespace"

# A hardened parser: no entity expansion, no DTD or network access, no huge documents.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True)

# Known fault codes (insi.md §5): French text for the practitioner, and whether a later retry can help.
RETRYABLE_SUBCODES = {"siram_40"}
KNOWN_CODES: dict[str, tuple[str, bool]] = {
    "desir_550": ("Ce logiciel n'est pas autorisé par le service INSi (numéro d'autorisation IDAM inconnu). "
                  "Contactez l'éditeur du logiciel ou votre responsable informatique.", False),
    "desir_560": ("Niveau d'accès insuffisant pour le service INSi : le certificat de l'organisation doit "
                  "s'appeler INSI-AUTO ou INSI-MANU. Contactez votre responsable informatique.", False),
    "desir_1020": ("Le service INSi est temporairement indisponible. Un nouvel essai sera fait plus tard.", True),
    "insi_102": ("Le service INSi a rencontré une erreur technique. Un nouvel essai sera fait plus tard.", True),
}
KNOWN_SUBCODES: dict[str, tuple[str, bool]] = {
    "siram_100": ("Accès au service INSi refusé pour ce logiciel. Contactez l'éditeur du logiciel ou votre "
                  "responsable informatique.", False),
    "siram_40": ("Le service INSi est temporairement inaccessible. Un nouvel essai sera fait plus tard.", True),
}


def _local(tag: object) -> str | None:
    if not isinstance(tag, str):  # comments, processing instructions
        return None
    return etree.QName(tag).localname


def _ns(tag: str) -> str | None:
    return etree.QName(tag).namespace


def _children(el: etree._Element, name: str, namespaces: tuple[str | None, ...]) -> list[etree._Element]:
    return [c for c in el if _local(c.tag) == name and _ns(c.tag) in namespaces]


def _child(el: etree._Element | None, name: str,
           namespaces: tuple[str | None, ...] = _RESULT_NAMESPACES) -> etree._Element | None:
    if el is None:
        return None
    found = _children(el, name, namespaces)
    return found[0] if found else None


def _text(el: etree._Element | None, name: str) -> str | None:
    child = _child(el, name)
    if child is None:
        return None
    value = "".join(child.itertext()).strip()
    return value or None


def _qname_local(value: str | None) -> str | None:
    """`soap:Sender` → `Sender` (the prefix of a QName value varies like any other)."""
    if not value:
        return None
    return value.strip().rsplit(":", 1)[-1] or None


def parse_document(data: bytes) -> etree._Element:
    """The root element, or InsiMalformedResponse for anything that is not well-formed XML."""
    if not data or not data.strip():
        raise InsiMalformedResponse(detail="empty response")
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise InsiMalformedResponse(detail=f"not XML: {exc}") from None
    if root is None:
        raise InsiMalformedResponse(detail="no root element")
    return root


def soap_body(root: etree._Element) -> etree._Element:
    if _local(root.tag) != "Envelope" or _ns(root.tag) not in _SOAP_NAMESPACES:
        raise InsiMalformedResponse(detail="not a SOAP envelope")
    body = _child(root, "Body", _SOAP_NAMESPACES)
    if body is None:
        raise InsiMalformedResponse(detail="SOAP envelope without Body")
    return body


def parse_response(data: bytes) -> InsiResponse:
    """Parse a response body. Raises InsiFault for a SOAP fault, InsiMalformedResponse otherwise."""
    body = soap_body(parse_document(data))
    fault = _child(body, "Fault", _SOAP_NAMESPACES)
    if fault is not None:
        raise parse_fault(fault)
    result = next((el for el in body.iter() if _local(el.tag) == "RESULTAT" and _ns(el.tag) in _RESULT_NAMESPACES),
                  None)
    if result is None:
        raise InsiMalformedResponse(detail="Body without RESULTAT nor Fault")
    return parse_result(result)


def parse_result(result: etree._Element) -> InsiResponse:
    cr = _child(result, "CR")
    code = _text(cr, "CodeCR")
    if code is None:
        raise InsiMalformedResponse(detail="RESULTAT without CR/CodeCR")
    label = _text(cr, "LibelleCR") or ""
    individu = _child(result, "INDIVIDU")
    if individu is None:
        return InsiResponse(cr_code=code, cr_label=label)
    active_el = _child(individu, "INSACTIF")
    active = _ins_id(active_el, "INSACTIF") if active_el is not None else None
    history = [_ins_id(el, "INSHISTO") for el in _children(individu, "INSHISTO", _RESULT_NAMESPACES)]
    tiq = _child(individu, "TIQ")
    traits = None
    if tiq is not None:
        traits = ReturnedTraits(
            birth_name=_text(tiq, "NomNaissance"),
            first_name=_text(tiq, "Prenom"),
            first_names_list=_text(tiq, "ListePrenom"),
            sex=_text(tiq, "Sexe"),
            birth_date=_text(tiq, "DateNaissance"),
            birth_place=_text(tiq, "LieuNaissance"),
        )
    return InsiResponse(cr_code=code, cr_label=label, active=active, history=history, traits=traits)


def _ins_id(el: etree._Element, what: str) -> InsId:
    ident = _child(el, "IdIndividu")
    matricule = _text(ident, "NumIdentifiant")
    oid = _text(el, "OID")
    if matricule is None or oid is None:
        raise InsiMalformedResponse(detail=f"{what} without NumIdentifiant or OID")
    matricule = "".join(matricule.split()).upper()
    key = _text(ident, "Cle")
    return InsId(
        matricule=matricule,
        key=key,
        oid=oid,
        key_valid=key is not None and key_is_valid(matricule, key),
        matricule_type=_text(ident, "TypeMatricule"),
        start_date=_text(el, "DateDeb"),
        end_date=_text(el, "DateFin"),
    )


def parse_fault(fault: etree._Element) -> InsiFault:
    code_el = _child(fault, "Code", _SOAP_NAMESPACES)
    soap_code = _qname_local(_text_any(_child(code_el, "Value", _SOAP_NAMESPACES)))
    subcode_el = _child(code_el, "Subcode", _SOAP_NAMESPACES)
    subcode = _qname_local(_text_any(_child(subcode_el, "Value", _SOAP_NAMESPACES)))
    reason = _reason(_child(fault, "Reason", _SOAP_NAMESPACES))
    detail = _child(fault, "Detail", _SOAP_NAMESPACES)
    erreur = None
    if detail is not None:
        erreur = next((el for el in detail.iter() if _local(el.tag) == "Erreur" and _ns(el.tag) in (NS_SIRAM, None)),
                      None)
    raw_code = (erreur.get("code") or "").strip().lower() if erreur is not None else ""
    siram = subcode.lower() if subcode and subcode.lower().startswith("siram_") else None
    desir = raw_code if raw_code.startswith("desir_") else None
    insi_code = raw_code if raw_code.startswith("insi_") else None
    error_code = raw_code or (subcode.lower() if subcode else None) or soap_code
    known = KNOWN_CODES.get(raw_code) or KNOWN_SUBCODES.get(siram or "")
    if known is not None:
        message_fr, retryable = known
    else:
        # Sender: our request is at fault, repeating it cannot help. Receiver: the service's side.
        retryable = soap_code == "Receiver"
        tail = f" : {reason}" if reason else "."
        message_fr = f"Le service INSi a refusé la demande ({error_code or 'erreur inconnue'}){tail}"
    if siram in RETRYABLE_SUBCODES:
        retryable = True
    return InsiFault(
        message_fr, retryable=retryable, soap_code=soap_code, subcode=subcode, siram=siram, desir=desir,
        insi_code=insi_code, error_code=error_code, reason=reason,
        error_text=("".join(erreur.itertext()).strip() or None) if erreur is not None else None,
        severity=erreur.get("severite") if erreur is not None else None,
        message_id=erreur.get("messageID") if erreur is not None else None,
    )


def _text_any(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    return "".join(el.itertext()).strip() or None


def _reason(reason: etree._Element | None) -> str | None:
    """The French `Reason/Text` when there is one, else the first (the service mislabels `fr` as `en`)."""
    if reason is None:
        return None
    texts = _children(reason, "Text", _SOAP_NAMESPACES)
    for text in texts:
        if (text.get(f"{{{NS_XML}}}lang") or "").lower().startswith("fr"):
            return _text_any(text)
    return _text_any(texts[0]) if texts else None
