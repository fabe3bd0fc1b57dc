"""The DMP stand-in's answers: SOAP 1.2 envelopes with WS-Addressing, registry responses, faults."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from lxml import etree

from plugins.common.clinical import xds

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_HL7 = "urn:hl7-org:v3"
NS_XDSB = "urn:ihe:iti:xds-b:2007"
NS_HAB = "urn:si-dmp-habilitations"
NS_XOP = "http://www.w3.org/2004/08/xop/include"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"


def envelope(action: str, relates_to: str | None, body: etree._Element) -> bytes:
    # Prefixes differ from the client's on purpose (env/a/ns2): a client must parse by namespace.
    env = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap={"env": NS_SOAP, "a": NS_WSA})
    header = etree.SubElement(env, f"{{{NS_SOAP}}}Header")
    etree.SubElement(header, f"{{{NS_WSA}}}Action").text = action + "Response"
    etree.SubElement(header, f"{{{NS_WSA}}}MessageID").text = f"urn:uuid:{uuid.uuid4()}"
    if relates_to:
        etree.SubElement(header, f"{{{NS_WSA}}}RelatesTo").text = relates_to
    etree.SubElement(env, f"{{{NS_SOAP}}}Body").append(body)
    return etree.tostring(env, encoding="UTF-8", xml_declaration=True)


def fault(code: str, subcode: str | None, reason: str) -> bytes:
    env = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap={"S": NS_SOAP, "wsse": _WSSE})
    body = etree.SubElement(env, f"{{{NS_SOAP}}}Body")
    f = etree.SubElement(body, f"{{{NS_SOAP}}}Fault")
    c = etree.SubElement(f, f"{{{NS_SOAP}}}Code")
    etree.SubElement(c, f"{{{NS_SOAP}}}Value").text = f"S:{code}"
    if subcode:
        etree.SubElement(etree.SubElement(c, f"{{{NS_SOAP}}}Subcode"), f"{{{NS_SOAP}}}Value").text = subcode
    reason_el = etree.SubElement(etree.SubElement(f, f"{{{NS_SOAP}}}Reason"), f"{{{NS_SOAP}}}Text")
    reason_el.text = reason
    reason_el.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    return etree.tostring(env, encoding="UTF-8", xml_declaration=True)


_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"


def registry_response(errors: Iterable[tuple[str, str]] = (), *, tag: str | None = None) -> etree._Element:
    errors = list(errors)
    root = etree.Element(tag or f"{{{xds.NS_RS}}}RegistryResponse", nsmap={"ns3": xds.NS_RS})
    root.set("status", FAILURE if errors else SUCCESS)
    if errors:
        holder = etree.SubElement(root, f"{{{xds.NS_RS}}}RegistryErrorList")
        for code, context in errors:
            etree.SubElement(holder, f"{{{xds.NS_RS}}}RegistryError", errorCode=code, codeContext=context,
                             severity=ERROR)
    return root


def query_response(objects: Iterable[etree._Element], errors: Iterable[tuple[str, str]] = ()) -> etree._Element:
    root = registry_response(errors, tag=f"{{{xds.NS_QUERY}}}AdhocQueryResponse")
    holder = etree.SubElement(root, f"{{{xds.NS_RIM}}}RegistryObjectList", nsmap={"ns4": xds.NS_RIM})
    for obj in objects:
        holder.append(etree.fromstring(etree.tostring(obj)))
    return root


def retrieve_response(repository_id: str, documents: list[tuple[str, str]],
                      errors: Iterable[tuple[str, str]] = ()) -> etree._Element:
    """`documents`: (uniqueId, content-id of its MTOM part)."""
    root = etree.Element(f"{{{NS_XDSB}}}RetrieveDocumentSetResponse", nsmap={"xdsb": NS_XDSB})
    root.append(registry_response(errors))
    for unique_id, content_id in documents:
        resp = etree.SubElement(root, f"{{{NS_XDSB}}}DocumentResponse")
        etree.SubElement(resp, f"{{{NS_XDSB}}}RepositoryUniqueId").text = repository_id
        etree.SubElement(resp, f"{{{NS_XDSB}}}DocumentUniqueId").text = unique_id
        etree.SubElement(resp, f"{{{NS_XDSB}}}mimeType").text = "text/xml"
        doc = etree.SubElement(resp, f"{{{NS_XDSB}}}Document")
        etree.SubElement(doc, f"{{{NS_XOP}}}Include", nsmap={"xop": NS_XOP}, href=f"cid:{content_id}")
    return root


def td02_response(*, exists: bool, closed: bool = False, authorization: str = "NON_AUTORISE",
                  treating: bool = False, opposition: bool = False, ins: str = "", oid: str = "") -> etree._Element:
    h = f"{{{NS_HL7}}}"
    root = etree.Element(h + "PRPA_IN201306UV02", nsmap={None: NS_HL7}, ITSVersion="XML_1.0")
    etree.SubElement(root, h + "id", root=str(uuid.uuid4()))
    etree.SubElement(root, h + "interactionId", root="2.16.840.1.113883.1.6", extension="PRPA_IN201306UV02")
    etree.SubElement(etree.SubElement(root, h + "acknowledgement"), h + "typeCode", code="AA")
    act = etree.SubElement(root, h + "controlActProcess", classCode="CACT", moodCode="EVN")
    if exists:
        event = etree.SubElement(etree.SubElement(act, h + "subject", typeCode="SUBJ"), h + "registrationEvent")
        etree.SubElement(event, h + "statusCode", code="nullified" if closed else "active")
        patient = etree.SubElement(etree.SubElement(event, h + "subject1"), h + "patient")
        etree.SubElement(patient, h + "id", root=oid, extension=ins)
        for name, value in (("AUTORISATION", authorization), ("MEDECIN_TRAITANT", str(treating).lower()),
                            ("OPPOSITION_ALIMENTATION", str(opposition).lower())):
            obs = etree.SubElement(etree.SubElement(patient, h + "subjectOf"), h + "observation")
            etree.SubElement(obs, h + "code", code=name)
            etree.SubElement(obs, h + "value", code=value)
    ack = etree.SubElement(act, h + "queryAck")
    etree.SubElement(ack, h + "queryResponseCode", code="OK" if exists else "NF")
    return root


def td03_response(ok: bool) -> etree._Element:
    root = etree.Element(f"{{{NS_HAB}}}setAuthorizationResponse", nsmap={"hab": NS_HAB})
    etree.SubElement(root, f"{{{NS_HAB}}}status").text = "OK" if ok else "KO"
    return root
