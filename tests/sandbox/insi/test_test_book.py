"""The INSi sandbox plays the whole public test book of insi.md §7 (issue 18 item 12), on the wire and through
the real client and parser: HERMANN GATIEN (key failing mod-97), CORSE ANTHONY with its one INSHISTO,
ECETINSI with both INSHISTO and their dates, PROVISOIRE MATRICULE (NIA, OID .4.9)."""

from __future__ import annotations

import pytest
from lxml import etree

from plugins.common.nir import key_is_valid
from plugins.ins.insi.parser import parse_response
from sandbox.insi.identities import load_identities
from sandbox.insi.server import InsiSandbox
from tests.sandbox.insi.helpers import NS, Client, envelope, traits

NIR, NIA = "1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9"

# insi.md §7: (birth name, first name sent, sex, birth date) -> CR, matricule + key, OID
BOOK = [
    ("ADRTROIS", "DOMINIQUE", "F", "1997-02-26", "00", "297022A020778", "78", NIR),
    ("ADRTROIS", "TOUSSAINT", "M", "1960-01-01", "00", "160012B020777", "13", NIR),
    ("TCHITCHI", "CATARINA", "F", "1936-06-21", "00", "2360663220836", "56", NIR),
    ("ECETINSI", "PIERRE-ALAIN", "M", "2009-07-14", "00", "1090763220834", "89", NIR),
    ("DE VINCI", "LEONARDO", "M", "2014-02-01", "02", None, None, None),
    ("HOUILLES", "PIERRE", "M", "1993-01-27", "01", None, None, None),
    ("ADRUN", "ZOE", "F", "1975-12-31", "00", "2751263220749", "74", NIR),
    ("CORSE", "ANTHONY", "M", "1980-03-02", "00", "180032B020401", "23", NIR),
    ("HERMANN", "GATIEN", "M", "1981-03-24", "00", "1810363220456", "60", NIR),
    ("PROVISOIRE", "MATRICULE", "M", "2009-07-01", "00", "1090763220888", "35", NIA),
    ("NESSI", "MICHELANGELO", "M", "2010-08-07", "00", "1100863220830", "60", NIR),
]


@pytest.mark.parametrize(("name", "first", "sex", "born", "cr", "matricule", "key", "oid"), BOOK,
                         ids=[f"{r[0]} {r[1]}" for r in BOOK])
async def test_every_case_of_the_test_book(sandbox: InsiSandbox, client: Client, name: str, first: str, sex: str,
                                           born: str, cr: str, matricule: str | None, key: str | None,
                                           oid: str | None) -> None:
    reply = await client.post(envelope(traits(name, [first], sex, born), idam=sandbox.idam))
    assert reply.status == 200 and reply.cr == cr
    if cr != "00":
        return
    response = parse_response(reply.body)
    assert response.active is not None
    assert (response.active.matricule, response.active.key, response.active.oid) == (matricule, key, oid)


async def test_hermann_gatien_key_fails_mod97_and_is_flagged(sandbox: InsiSandbox, client: Client) -> None:
    assert not key_is_valid("1810363220456", "60")
    reply = await client.post(envelope(traits("HERMANN", ["GATIEN"], "M", "1981-03-24"), idam=sandbox.idam))
    response = parse_response(reply.body)
    assert response.found and response.active is not None and response.active.key_valid is False


async def test_corse_anthony_has_its_one_inshisto_equal_to_insactif(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(traits("CORSE", ["ANTHONY"], "M", "1980-03-02"), idam=sandbox.idam))
    histo = reply.xml().findall(".//r:INSHISTO", NS)
    assert len(histo) == 1
    assert histo[0].find("r:IdIndividu/r:TypeMatricule", NS) is None  # as TEST_2.08 cas 1: no TypeMatricule
    response = parse_response(reply.body)
    assert response.history == [response.active]


async def test_ecetinsi_has_both_inshisto_with_their_dates(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(traits("ECETINSI", ["PIERRE-ALAIN"], "M", "2009-07-14"), idam=sandbox.idam))
    response = parse_response(reply.body)
    assert [(h.matricule, h.key, h.matricule_type, h.start_date, h.end_date, h.key_valid)
            for h in response.history] == [
        ("2090763220834", "39", "NIR", "2019-03-01", "2019-02-28", True),
        ("2090663220123", "55", "NIR", None, None, True)]
    first = reply.xml().find(".//r:INSHISTO", NS)
    assert first is not None and [etree.QName(c).localname for c in first] == ["DateDeb", "DateFin", "IdIndividu",
                                                                                "OID"]


async def test_provisoire_matricule_is_a_nia(sandbox: InsiSandbox, client: Client) -> None:
    reply = await client.post(envelope(traits("PROVISOIRE", ["MATRICULE"], "M", "2009-07-01"), idam=sandbox.idam))
    actif = reply.xml().find(".//r:INSACTIF", NS)
    assert actif is not None and actif.findtext("r:OID", namespaces=NS) == NIA
    response = parse_response(reply.body)
    assert response.active is not None and response.active.oid == NIA and response.active.key_valid


def test_the_shipped_identities_cover_the_book() -> None:
    names = {(i.birth_name, i.birth_date) for i in load_identities()}
    assert {(r[0], r[3]) for r in BOOK} <= names
