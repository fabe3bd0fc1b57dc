"""SOAP 1.2 for the DMP: envelope (WS-Addressing + WS-Security with the VIHF), MTOM/XOP, faults.

- `envelope(action, to, body, vihf)`: `soap:Header` with `wsa:Action` (mustUnderstand), `wsa:MessageID`
  (`urn:uuid:`), `wsa:To`, `wsa:ReplyTo` anonymous, `wsse:Security` holding the signed VIHF.
- `mtom(envelope_bytes, parts)`: the `multipart/related` body of ITI-41/ITI-43 (root part
  `application/xop+xml; type="application/soap+xml"`, one binary part per `xop:Include`), built as a
  list of byte chunks (no copy of a 5 MB document into an intermediate string).
- `parse_answer(xml)`: the Body's first element, or `SoapFault` (namespace-aware: prefixes vary).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSA = "http://www.w3.org/2005/08/addressing"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_XOP = "http://www.w3.org/2004/08/xop/include"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class SoapFault(Exception):
    def __init__(self, code: str, subcode: str | None, reason: str, detail: str | None = None) -> None:
        super().__init__(f"{code}/{subcode}: {reason}")
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.detail = detail

    @property
    def is_sender(self) -> bool:
        return self.code.endswith("Sender")


class MalformedAnswer(Exception):
    pass


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def envelope(action: str, to: str, body: etree._Element, vihf: etree._Element | None, *,
             message_id: str) -> etree._Element:
    env = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap={"soap": NS_SOAP, "wsa": NS_WSA})
    header = etree.SubElement(env, f"{{{NS_SOAP}}}Header")
    act = etree.SubElement(header, f"{{{NS_WSA}}}Action")
    act.set(f"{{{NS_SOAP}}}mustUnderstand", "true")
    act.text = action
    etree.SubElement(header, f"{{{NS_WSA}}}MessageID").text = message_id
    etree.SubElement(header, f"{{{NS_WSA}}}To").text = to
    etree.SubElement(etree.SubElement(header, f"{{{NS_WSA}}}ReplyTo"), f"{{{NS_WSA}}}Address").text = ANONYMOUS
    if vihf is not None:
        security = etree.SubElement(header, f"{{{NS_WSSE}}}Security", nsmap={"wsse": NS_WSSE})
        security.set(f"{{{NS_SOAP}}}mustUnderstand", "true")
        # A re-parse, not the element itself: the signed bytes must come out exactly as they were signed.
        security.append(etree.fromstring(etree.tostring(vihf)))
    etree.SubElement(env, f"{{{NS_SOAP}}}Body").append(body)
    return env


def serialize(env: etree._Element) -> bytes:
    return etree.tostring(env, encoding="UTF-8", xml_declaration=True)


@dataclass(frozen=True)
class Part:
    content_id: str  # without angle brackets
    data: bytes
    content_type: str = "application/octet-stream"


def xop_include(parent: etree._Element, content_id: str) -> None:
    etree.SubElement(parent, f"{{{NS_XOP}}}Include", nsmap={"xop": NS_XOP}, href=f"cid:{content_id}")


def mtom(root_xml: bytes, parts: Sequence[Part], *, action: str) -> tuple[str, list[bytes]]:
    """(Content-Type header, body chunks) of the multipart/related XOP package."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    start = f"root.message@{uuid.uuid4().hex[:12]}.vigie"
    chunks = [
        f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\n"
        f"Content-Transfer-Encoding: binary\r\nContent-ID: <{start}>\r\n\r\n".encode("ascii"),
        root_xml,
    ]
    for part in parts:
        chunks.append(f"\r\n--{boundary}\r\nContent-Type: {part.content_type}\r\nContent-Transfer-Encoding: binary\r\n"
                      f"Content-ID: <{part.content_id}>\r\n\r\n".encode("ascii"))
        chunks.append(part.data)
    chunks.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    content_type = (f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; start="<{start}>"; '
                    f'start-info="application/soap+xml"; action="{action}"')
    return content_type, chunks


def parse_answer(xml: bytes) -> etree._Element:
    """The first element of the SOAP Body; SoapFault for a fault; MalformedAnswer otherwise."""
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedAnswer(f"not XML: {exc}") from None
    if root.tag != f"{{{NS_SOAP}}}Envelope":
        raise MalformedAnswer(f"not a SOAP 1.2 envelope: {root.tag}")
    body = root.find(f"{{{NS_SOAP}}}Body")
    if body is None or len(body) == 0:
        raise MalformedAnswer("empty SOAP body")
    first = body[0]
    if first.tag == f"{{{NS_SOAP}}}Fault":
        raise _fault(first)
    return first


def _fault(el: etree._Element) -> SoapFault:
    s = {"s": NS_SOAP}
    code = el.findtext("s:Code/s:Value", "", s).strip()
    subcode = el.findtext("s:Code/s:Subcode/s:Value", None, s)
    reason = el.findtext("s:Reason/s:Text", "", s).strip()
    detail_el = el.find("s:Detail", s)
    detail = " ".join(t.strip() for t in detail_el.itertext() if t.strip()) if detail_el is not None else None
    # Prefixes of the QName values vary between servers: keep the local part.
    return SoapFault(code.split(":")[-1], subcode.strip().split(":")[-1] if subcode else None, reason, detail)
