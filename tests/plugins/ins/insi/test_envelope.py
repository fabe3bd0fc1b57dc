from __future__ import annotations

import datetime as dt
import re

import pytest
from lxml import etree

from plugins.ins.insi.envelope import (
    NS_CTXBAM,
    NS_RECSANS,
    NS_RECVIT,
    NS_SOAP,
    NS_WSA,
    NS_WSSE,
    SoftwareContext,
    build_traits_request,
    build_vitale_request,
    new_message_id,
    serialize,
    timestamp,
)
from plugins.ins.insi.types import SearchTraits, VitaleSearch
from tests.plugins.ins.insi.conftest import sample

CTX = SoftwareContext(idam="IDAM_PLACEHOLDER", software_name="Vigie", software_version="0.1.0",
                      instance_id="ff67308e-039f-4158-9dcc-0a08a20ba35c", emitter="medecin@yopmail.com")
DOMINIQUE = SearchTraits("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26")
# Values that differ from one request to the next, or from one installation to another.
VARIABLE = {f"{{{NS_CTXBAM}}}Id", f"{{{NS_CTXBAM}}}Temps", "{urn:siram:lps:ctxlps}Id",
            "{urn:siram:lps:ctxlps}Temps", "{urn:siram:lps:ctxlps}IDAM", "{urn:siram:lps:ctxlps}Version",
            "{urn:siram:lps:ctxlps}Instance", "{urn:siram:lps:ctxlps}Nom", f"{{{NS_WSA}}}MessageID"}


def _shape(el: etree._Element) -> list[tuple[object, ...]]:
    """Element names, prefixes, in-scope namespaces, attributes and fixed texts, in document order."""
    out: list[tuple[object, ...]] = []
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        text = (node.text or "").strip()
        out.append((node.tag, node.prefix, tuple(sorted((k or "", v) for k, v in node.nsmap.items())),
                    tuple(sorted(node.attrib.items())), None if node.tag in VARIABLE else text))
    return out


def _build(security: etree._Element | None = None) -> bytes:
    return serialize(build_traits_request(CTX, DOMINIQUE, ["DOMINIQUE"], message_id=new_message_id(),
                                          security=security))


def test_traits_envelope_matches_reference_request_structurally() -> None:
    reference = etree.fromstring(sample("REQ_RECSANSVITALE_ADRTROIS_DOMINIQUE_mTLS.xml"))
    ours = etree.fromstring(_build())
    assert _shape(ours) == _shape(reference)


def test_traits_envelope_variable_values() -> None:
    data = _build()
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope ')
    root = etree.fromstring(data)
    ns = {"soap": NS_SOAP, "wsa": NS_WSA, "bam": NS_CTXBAM, "lps": "urn:siram:lps:ctxlps"}
    header = root.find("soap:Header", ns)
    assert header is not None
    assert [etree.QName(c).localname for c in header] == ["ContexteBAM", "ContexteLPS", "Action", "MessageID"]
    assert re.fullmatch(r"uuid:[0-9a-f-]{36}", header.findtext("wsa:MessageID", namespaces=ns) or "")
    bam_id, lps_id = header.findtext("bam:ContexteBAM/bam:Id", namespaces=ns), header.findtext(
        "lps:ContexteLPS/lps:Id", namespaces=ns)
    assert bam_id and lps_id and bam_id != lps_id
    temps = header.findtext("bam:ContexteBAM/bam:Temps", namespaces=ns) or ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", temps)
    assert header.findtext("lps:ContexteLPS/lps:LPS/lps:Nom", namespaces=ns) == "urn:lps:Vigie:0.1.0"
    assert header.findtext("lps:ContexteLPS/lps:LPS/lps:Instance", namespaces=ns) == CTX.instance_id
    assert b"<ctxbam:COUVERTURE></ctxbam:COUVERTURE>" in data


def test_timestamp_is_utc_with_milliseconds() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert timestamp(dt.datetime(2022, 3, 1, 11, 29, 58, 604999, tzinfo=paris)) == "2022-03-01T10:29:58.604Z"


def test_traits_envelope_first_names_place_and_escaping() -> None:
    traits = SearchTraits("O'NEIL & <FILS>", ("JEAN", "PIERRE"), "M", "1980-00-00", "2A020")
    root = etree.fromstring(serialize(build_traits_request(CTX, traits, ["JEAN", "PIERRE PAUL"],
                                                           message_id="uuid:x")))
    body = root.find(f"{{{NS_SOAP}}}Body/{{{NS_RECSANS}}}RECSANSVITALE")
    assert body is not None
    assert [(etree.QName(c).localname, c.text) for c in body] == [
        ("NomNaissance", "O'NEIL & <FILS>"), ("Prenom", "JEAN"), ("Prenom", "PIERRE PAUL"), ("Sexe", "M"),
        ("DateNaissance", "1980-00-00"), ("LieuNaissance", "2A020")]
    assert all(c.prefix == "insi_recsans_ins" for c in body)


def test_traits_envelope_without_first_name_nor_emitter() -> None:
    ctx = SoftwareContext("I", "Vigie", "1", "inst")
    root = etree.fromstring(serialize(build_traits_request(ctx, DOMINIQUE, [], message_id="uuid:x")))
    assert root.find(f".//{{{NS_RECSANS}}}Prenom") is None
    assert root.find(f".//{{{NS_CTXBAM}}}Emetteur") is None


@pytest.mark.parametrize("traits", [
    SearchTraits("A", ("B",), "X", "1997-02-26"),
    SearchTraits("A", ("B",), "F", "26/02/1997"),
    SearchTraits("A", ("B",), "F", "1997-02-26", "2A0"),
    SearchTraits(" ", ("B",), "F", "1997-02-26"),
])
def test_traits_envelope_rejects_invalid_inputs(traits: SearchTraits) -> None:
    with pytest.raises(ValueError):
        build_traits_request(CTX, traits, ["B"], message_id="uuid:x")


def test_security_header_goes_last_with_its_own_declaration() -> None:
    security = etree.Element(f"{{{NS_WSSE}}}Security")
    saml = "urn:oasis:names:tc:SAML:2.0:assertion"
    etree.SubElement(security, f"{{{saml}}}Assertion", ID="_a", nsmap={None: saml})
    data = _build(security)
    assert b'<wsse:Security xmlns:wsse="' + NS_WSSE.encode() + b'"><Assertion' in data
    header = etree.fromstring(data).find(f"{{{NS_SOAP}}}Header")
    assert header is not None
    assert etree.QName(header[-1]).localname == "Security"


def test_vitale_envelope_full() -> None:
    search = VitaleSearch(insured_nir="1600199123456", insured_nir_key="12", beneficiary_nir="2090763220834",
                          beneficiary_nir_key="39", beneficiary_nir_certified_on="2020-01-01",
                          birth_name="ECETINSI", birth_date="2009-07-14", birth_rank=1, grand_regime="01",
                          organisme="631", code_centre="0001", holder="0")
    data = serialize(build_vitale_request(CTX, search, message_id="uuid:m"))
    root = etree.fromstring(data)
    action = root.findtext(f"{{{NS_SOAP}}}Header/{{{NS_WSA}}}Action")
    assert action == "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale"
    couverture = root.find(f".//{{{NS_CTXBAM}}}COUVERTURE")
    assert couverture is not None
    assert [etree.QName(c).localname for c in couverture.iter() if isinstance(c.tag, str)] == [
        "COUVERTURE", "GrandRegime", "Organisme", "CodeCentre", "ASSURE", "Id", "Num", "Cle", "BENEFICIAIRE",
        "Nir", "Num", "Cle", "DateCertification", "DateNai", "Rang", "Porteur"]
    body = root.find(f"{{{NS_SOAP}}}Body/{{{NS_RECVIT}}}RECVITALE")
    assert body is not None
    assert [(etree.QName(c).localname, c.prefix) for c in body] == [
        ("MatriculeIndividu", "insi_recvit_ins"), ("MatriculeOD", "insi_recvit_ins"),
        ("NomNaissance", "insi_recvit_ins"), ("DateNaissance", "insi_recvit_ins"),
        ("RangNaissance", "insi_recvit_ins")]
    assert body.findtext(f"{{{NS_RECVIT}}}MatriculeIndividu/{{{NS_RECVIT}}}NumIdentifiant") == "2090763220834"
    assert body.findtext(f"{{{NS_RECVIT}}}MatriculeOD/{{{NS_RECVIT}}}Cle") == "12"


def test_vitale_envelope_minimal_prunes_empty_blocks() -> None:
    data = serialize(build_vitale_request(CTX, VitaleSearch(insured_nir="1600199123456"), message_id="uuid:m"))
    assert b"<ctxbam:COUVERTURE><ctxbam:ASSURE><ctxbam:Id><ctxbam:Num>1600199123456</ctxbam:Num></ctxbam:Id>" \
           b"</ctxbam:ASSURE></ctxbam:COUVERTURE>" in data
    body = etree.fromstring(data).find(f"{{{NS_SOAP}}}Body/{{{NS_RECVIT}}}RECVITALE")
    assert body is not None
    assert [etree.QName(c).localname for c in body] == ["MatriculeOD"]


@pytest.mark.parametrize("search", [
    VitaleSearch(),
    VitaleSearch(insured_nir="160019912345"),
    VitaleSearch(insured_nir="1600199123456", insured_nir_key="1"),
    VitaleSearch(beneficiary_nir="1600199123456", birth_date="2009/07/14"),
    VitaleSearch(beneficiary_nir="1600199123456", holder="10"),
])
def test_vitale_envelope_rejects_invalid_inputs(search: VitaleSearch) -> None:
    with pytest.raises(ValueError):
        build_vitale_request(CTX, search, message_id="uuid:x")
