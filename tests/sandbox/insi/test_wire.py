"""The sandbox speaks the wire format of the samples: CR 00/01/02, both operations, strict request checks."""

from __future__ import annotations

import pytest
from lxml import etree

from sandbox.insi.server import InsiSandbox
from tests.sandbox.insi.helpers import (
    NS,
    SAMPLE_MESSAGE_ID,
    Client,
    envelope,
    sample,
    structure,
    traits,
    vitale,
)

REQUEST = "REQ_RECSANSVITALE_ADRTROIS_DOMINIQUE_mTLS.xml"


def sample_request(sandbox: InsiSandbox) -> bytes:
    return sample(REQUEST).replace(b"IDAM_PLACEHOLDER", sandbox.idam.encode())


async def test_sample_request_over_mtls_gets_the_sample_cr00(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(sample_request(sandbox))
    assert reply.status == 200
    assert reply.content_type.startswith("application/soap+xml")
    expected = sample("REP_CR00_ADRTROIS_DOMINIQUE.xml")
    assert structure(reply.body) == structure(expected)
    assert reply.body == expected  # byte for byte, prefixes and namespace declarations included
    stats = sandbox.stats
    assert stats.total == 1 and stats.per_operation["rechercherInsAvecTraitsIdentite"] == 1
    assert stats.last_requests[-1].client_cn == "INSI-AUTO" and stats.last_requests[-1].mode == "mtls"
    assert "ADRTROIS" in stats.last_bodies[-1]


async def test_addressing_headers_echo_the_message_id(sandbox: InsiSandbox, client: Client) -> None:
    sandbox.configure(addressing_headers=True)
    reply = await client.post(sample_request(sandbox))
    root = reply.xml()
    assert root.findtext("soap:Header/wsa:RelatesTo", namespaces=NS) == SAMPLE_MESSAGE_ID
    assert root.findtext("soap:Header/wsa:Action", namespaces=NS) == (
        "urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentiteResponse")
    message_id = root.findtext("soap:Header/wsa:MessageID", namespaces=NS)
    assert message_id and message_id.startswith("uuid:") and message_id != SAMPLE_MESSAGE_ID
    # apart from the Header (MessageID/RelatesTo), the sample structure
    assert structure(reply.body) == structure(sample("REP_CR00_ADRTROIS_DOMINIQUE.xml"))


async def test_toussaint_matches_the_live_sample(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(traits("ADRTROIS", ["TOUSSAINT"], "M", "1960-01-01"), idam=sandbox.idam))
    assert reply.body == sample("REP_CR00_ADRTROIS_TOUSSAINT.xml")


@pytest.mark.parametrize("first_names", [["PIERRE"], ["PAUL"], ["JACQUES"], ["PIERRE PAUL JACQUES"]])
async def test_houilles_gives_cr01(sandbox: InsiSandbox, client: Client, first_names: list[str]) -> None:
    reply = await client.post(envelope(traits("HOUILLES", first_names, "M", "1993-01-27"), idam=sandbox.idam))
    assert reply.status == 200 and reply.cr == "01"
    assert structure(reply.body) == structure(sample("REP_CR01.xml"))


async def test_de_vinci_gives_cr02(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(traits("DE VINCI", ["LEONARDO"], "M", "2014-02-01"), idam=sandbox.idam))
    assert reply.cr == "02"
    assert reply.body == sample("REP_CR02_DE_VINCI_LEONARDO.xml")


async def test_first_name_semantics(sandbox: InsiSandbox, client: Client) -> None:
    async def cr(first_names: list[str], name: str = "TCHITCHI", sex: str = "F", date: str = "1936-06-21") -> str:
        reply = await client.post(envelope(traits(name, first_names, sex, date), idam=sandbox.idam))
        assert reply.cr is not None
        return reply.cr

    assert await cr(["OLA"]) == "01"
    assert await cr(["CATARINA"]) == "00"
    assert await cr(["CATARINA", "BELLA"]) == "00"
    assert await cr(["catarina bella"]) == "00"
    assert await cr(["PIERRE-ALAIN"], "ECETINSI", "M", "2009-07-14") == "00"
    assert await cr(["PIERRE ALAIN"], "ECETINSI", "M", "2009-07-14") == "00"
    assert await cr(["MURIEL"], "ECETINSI", "M", "2009-07-14") == "00"
    assert await cr(["CATARINA"], sex="M") == "01"


async def test_cr00_carries_history_and_list_of_first_names(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(traits("ECETINSI", ["PIERRE-ALAIN"], "M", "2009-07-14", "63220"),
                                       idam=sandbox.idam))
    root = reply.xml()
    assert root.findtext(".//r:INSACTIF/r:IdIndividu/r:NumIdentifiant", namespaces=NS) == "1090763220834"
    histo = root.findall(".//r:INSHISTO", NS)
    assert [h.findtext("r:IdIndividu/r:NumIdentifiant", namespaces=NS) for h in histo] == [
        "2090763220834", "2090663220123"]  # both INSHISTO of the CNDA test book (TEST_2.04 cas 2)
    assert histo[0].findtext("r:IdIndividu/r:TypeMatricule", namespaces=NS) == "NIR"
    # DateDeb/DateFin first, as the test book writes them (DateDeb after DateFin there).
    assert [etree.QName(c).localname for c in histo[0]][:2] == ["DateDeb", "DateFin"]
    assert (histo[0].findtext("r:DateDeb", namespaces=NS), histo[0].findtext("r:DateFin", namespaces=NS)) == (
        "2019-03-01", "2019-02-28")
    assert root.findtext(".//r:TIQ/r:ListePrenom", namespaces=NS) == "PIERRE-ALAIN MURIEL FLORIANT"
    # a wrong birth place excludes her
    reply = await client.post(envelope(traits("ECETINSI", ["PIERRE-ALAIN"], "M", "2009-07-14", "75056"),
                                       idam=sandbox.idam))
    assert reply.cr == "01"


async def test_nia_identity_has_its_oid(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(traits("PROVISOIRE", ["MATRICULE"], "M", "2009-07-01"), idam=sandbox.idam))
    assert reply.xml().findtext(".//r:INSACTIF/r:OID", namespaces=NS) == "1.2.250.1.213.1.4.9"


async def test_extra_identities_from_config(sandbox: InsiSandbox, client: Client) -> None:
    body = envelope(traits("SANSLIEU", ["JEAN"], "M", "1950-05-05"), idam=sandbox.idam)
    assert (await client.post(body)).cr == "01"
    sandbox.configure(extra_identities=[{"birth_name": "SANSLIEU", "first_names": ["JEAN", "MARC"], "sex": "M",
                                         "birth_date": "1950-05-05", "matricule": "150057511200123",
                                         "key": "45"}])
    reply = await client.post(body)
    assert reply.cr == "00"
    root = reply.xml()
    assert root.findtext(".//r:TIQ/r:ListePrenom", namespaces=NS) == "JEAN MARC"
    assert root.find(".//r:TIQ/r:LieuNaissance", NS) is None  # unknown birth place: no element
    sandbox.configure(extra_identities=[{"birth_name": "SANSLIEU", "first_names": "JEAN", "sex": "M",
                                         "birth_date": "1950-05-05", "expected_cr": "02"}])
    assert (await client.post(body)).cr == "02"


@pytest.mark.parametrize(("body", "cr", "matricule"), [
    (vitale(nir="2751263220749", key="74", name="ADRUN", date="1975-12-31"), "00", "2751263220749"),
    (vitale(nir="2751263220749", key="99"), "01", None),
    (vitale(nir="2090763220834", key="39"), "00", "1090763220834"),  # historical NIR → active INS
    (vitale(name="CORSE", date="1980-03-02"), "00", "180032B020401"),
    (vitale(name="CORSE", date="1980-03-02", rank=2), "01", None),
    (vitale(name="DE VINCI", date="2014-02-01"), "02", None),
    (vitale(nir="1999999999999", key="01"), "01", None),
])
async def test_carte_vitale_search(sandbox: InsiSandbox, client: Client, body: str, cr: str,
                                   matricule: str | None) -> None:
    reply = await client.post(envelope(body, idam=sandbox.idam, operation="rechercherInsAvecCarteVitale"))
    assert reply.status == 200 and reply.cr == cr
    assert reply.xml().findtext(".//r:INSACTIF/r:IdIndividu/r:NumIdentifiant", namespaces=NS) == matricule
    assert sandbox.stats.per_operation == {"rechercherInsAvecCarteVitale": 1}


@pytest.mark.parametrize(("style", "body_tag_prefix"), [("live", "env"), ("cnda", "S"), ("soap", "soap")])
async def test_body_styles(sandbox: InsiSandbox, client: Client, style: str, body_tag_prefix: str) -> None:
    sandbox.configure(body_style=style)
    reply = await client.post(sample_request(sandbox))
    body = reply.xml()[0]
    assert body.prefix == body_tag_prefix and body.tag == "{http://www.w3.org/2003/05/soap-envelope}Body"
    assert reply.cr == "00"


async def test_sample_style_gives_cr01_its_own_prefixes(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(traits("INCONNU", ["X"], "M", "2000-01-01"), idam=sandbox.idam))
    assert reply.body == sample("REP_CR01.xml")


# -- requests the service refuses ------------------------------------------------------------

async def test_action_must_match_the_body(sandbox: InsiSandbox, client: Client) -> None:
    body = envelope(traits("ADRUN", ["ZOE"], "F", "1975-12-31"), idam=sandbox.idam,
                    operation="rechercherInsAvecCarteVitale")
    reply = await client.post(body)
    assert reply.status == 500
    assert reply.xml().findtext(".//soap:Subcode/soap:Value", namespaces=NS) == "wsa:ActionNotSupported"
    assert reply.find(".//siram:Erreur") is None


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"message_id": None}, "MessageID"),
    ({"action": ""}, "Action"),
])
async def test_addressing_headers_are_required(sandbox: InsiSandbox, client: Client, kwargs: dict[str, str | None],
                                               reason: str) -> None:
    reply = await client.post(envelope(traits("ADRUN", ["ZOE"], "F", "1975-12-31"), idam=sandbox.idam,
                                       **kwargs))  # type: ignore[arg-type]
    assert reply.status == 500
    assert reason in (reply.xml().findtext(".//soap:Reason/soap:Text", namespaces=NS) or "")


async def test_unknown_body_element(sandbox: InsiSandbox, client: Client) -> None:
    body = envelope('<x:Autre xmlns:x="urn:x"/>', idam=sandbox.idam)
    reply = await client.post(body)
    assert reply.status == 500 and "dispatch" in reply.body.decode()


async def test_schema_checks_in_strict_mode(sandbox: InsiSandbox, client: Client) -> None:
    out_of_order = ('<s:RECSANSVITALE xmlns:s="http://www.cnamts.fr/INSiRecSans"><s:NomNaissance>ADRUN'
                    "</s:NomNaissance><s:Sexe>F</s:Sexe><s:Prenom>ZOE</s:Prenom>"
                    "<s:DateNaissance>1975-12-31</s:DateNaissance></s:RECSANSVITALE>")
    reply = await client.post(envelope(out_of_order, idam=sandbox.idam))
    assert reply.status == 500 and "ordre" in reply.body.decode()
    no_bam = await client.post(envelope(traits("ADRUN", ["ZOE"], "F", "1975-12-31"), idam=sandbox.idam, bam=False))
    assert no_bam.status == 500 and "ContexteBAM" in no_bam.body.decode()
    bad_date = await client.post(envelope(traits("ADRUN", ["ZOE"], "F", "31/12/1975"), idam=sandbox.idam))
    assert bad_date.status == 500 and "DateNaissance" in bad_date.body.decode()
    sandbox.configure(strict=False)
    assert (await client.post(envelope(out_of_order, idam=sandbox.idam))).cr == "00"


async def test_content_type_must_be_soap12(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(sample_request(sandbox), content_type="text/xml; charset=utf-8")
    assert reply.status == 415
    ok = await client.post(sample_request(sandbox), content_type='application/soap+xml; charset=utf-8; '
                           'action="urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite"')
    assert ok.status == 200


@pytest.mark.parametrize(("data", "code"), [
    (b"<not xml", "Sender"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', "Sender"),
    (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>', "VersionMismatch"),
    (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>', "Sender"),
])
async def test_unreadable_requests_get_a_plain_fault(client: Client, data: bytes, code: str) -> None:
    reply = await client.post(data)
    assert reply.status == 500
    assert reply.xml().findtext(".//soap:Code/soap:Value", namespaces=NS) == f"S:{code}"
    assert reply.find(".//soap:Detail") is None
