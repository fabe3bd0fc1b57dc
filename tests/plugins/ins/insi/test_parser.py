from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.common.nir import nir_key
from plugins.ins.insi.parser import parse_response
from plugins.ins.insi.types import InsId, InsiFault, InsiMalformedResponse, InsiResponse, ReturnedTraits
from tests.plugins.ins.insi.conftest import SAMPLES, sample

NIR_OID = "1.2.250.1.213.1.4.8"
SOAP = "http://www.w3.org/2003/05/soap-envelope"
RES = "http://www.cnamts.fr/INSiResultat"


# -- every wire sample ---------------------------------------------------------------------------------
def test_every_sample_is_covered() -> None:
    names = {p.name for p in SAMPLES.glob("*.xml") if not p.name.startswith("REQ_")}
    assert names == {"REP_CR00_ADRTROIS_DOMINIQUE.xml", "REP_CR00_ADRTROIS_TOUSSAINT.xml", "REP_CR01.xml",
                     "REP_CR02_DE_VINCI_LEONARDO.xml", "FAULT_siram_100_desir_550_unknown_IDAM.xml",
                     "FAULT_siram_40_insi_102_technical.xml"}


@pytest.mark.parametrize(("name", "matricule", "key", "traits"), [
    ("REP_CR00_ADRTROIS_DOMINIQUE.xml", "297022A020778", "78",
     ReturnedTraits("ADRTROIS", None, "DOMINIQUE", "F", "1997-02-26", "2A020")),
    ("REP_CR00_ADRTROIS_TOUSSAINT.xml", "160012B020777", "13",
     ReturnedTraits("ADRTROIS", None, "TOUSSAINT", "M", "1960-01-01", "2B020")),
])
def test_parse_cr00_samples(name: str, matricule: str, key: str, traits: ReturnedTraits) -> None:
    response = parse_response(sample(name))
    assert response == InsiResponse("00", "OK", InsId(matricule, key, NIR_OID, True), [], traits)
    assert response.found
    assert response.active is not None and response.active.full == matricule + key


@pytest.mark.parametrize(("name", "code", "label"), [
    ("REP_CR01.xml", "01", "Aucune identite trouvee"),
    ("REP_CR02_DE_VINCI_LEONARDO.xml", "02", "Plusieurs identites trouvees"),
])
def test_parse_cr01_cr02_samples(name: str, code: str, label: str) -> None:
    response = parse_response(sample(name))
    assert response == InsiResponse(code, label)
    assert not response.found


def test_parse_fault_unknown_idam() -> None:
    with pytest.raises(InsiFault) as info:
        parse_response(sample("FAULT_siram_100_desir_550_unknown_IDAM.xml"))
    fault = info.value
    assert (fault.soap_code, fault.subcode, fault.siram, fault.desir, fault.insi_code, fault.error_code) == (
        "Sender", "siram_100", "siram_100", "desir_550", None, "desir_550")
    assert fault.retryable is False
    assert fault.severity == "erreur"
    assert fault.message_id == "uuid:b3549edd-4ae9-472a-b26f-fd2fb4ef397f"
    assert fault.error_text == "Numéro d'autorisation du logiciel inconnu."
    assert fault.reason is not None and fault.reason.startswith("L'accès par ce progiciel")
    assert "IDAM" in fault.message_fr and "autorisé" in fault.message_fr


def test_parse_fault_technical() -> None:
    with pytest.raises(InsiFault) as info:
        parse_response(sample("FAULT_siram_40_insi_102_technical.xml"))
    fault = info.value
    assert (fault.soap_code, fault.siram, fault.desir, fault.insi_code, fault.error_code) == (
        "Receiver", "siram_40", None, "insi_102", "insi_102")
    assert fault.retryable is True
    assert fault.severity == "fatal"  # outside the XSD enum: kept as sent
    assert fault.message_id is None
    assert "technique" in fault.message_fr


# -- mutated variants ----------------------------------------------------------------------------------
def _result(inner: str, *, body_prefix: str = "env", res_prefix: str | None = None, wrapper: bool = False) -> bytes:
    p = f"{res_prefix}:" if res_prefix else ""
    decl = f'xmlns:{res_prefix}="{RES}"' if res_prefix else f'xmlns="{RES}"'
    inner = inner.replace("<", f"<{p}").replace(f"<{p}/", f"</{p}")
    result = f"<{p}RESULTAT {decl}>{inner}</{p}RESULTAT>"
    if wrapper:
        result = f'<w:rechercherInsAvecTraitsIdentiteResponse xmlns:w="urn:x">{result}' \
                 "</w:rechercherInsAvecTraitsIdentiteResponse>"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{body_prefix}:Envelope xmlns:{body_prefix}="{SOAP}">'
            f"<{body_prefix}:Body>{result}</{body_prefix}:Body></{body_prefix}:Envelope>").encode()


CR = "<CR><CodeCR>00</CodeCR><LibelleCR>OK</LibelleCR></CR>"
ACTIF = ("<INSACTIF><IdIndividu><NumIdentifiant>1090763220834</NumIdentifiant><Cle>89</Cle></IdIndividu>"
         f"<OID>{NIR_OID}</OID></INSACTIF>")
TIQ = ("<TIQ><NomNaissance>ECETINSI</NomNaissance><Prenom>PIERRE-ALAIN</Prenom>"
       "<ListePrenom>PIERRE-ALAIN MURIEL FLORIANT</ListePrenom><Sexe>M</Sexe>"
       "<DateNaissance>2009-07-14</DateNaissance><LieuNaissance>63220</LieuNaissance></TIQ>")


def _histo(matricule: str, key: str, extra: str = "") -> str:
    return (f"<INSHISTO>{extra}<IdIndividu><NumIdentifiant>{matricule}</NumIdentifiant><Cle>{key}</Cle>"
            f"</IdIndividu><OID>{NIR_OID}</OID></INSHISTO>")


@pytest.mark.parametrize("body_prefix", ["S", "env", "soap", "SOAP-ENV", "x"])
@pytest.mark.parametrize("res_prefix", [None, "ns2", "insi_resultat_ins"])
def test_prefix_variants(body_prefix: str, res_prefix: str | None) -> None:
    response = parse_response(_result(CR + f"<INDIVIDU>{ACTIF}{TIQ}</INDIVIDU>", body_prefix=body_prefix,
                                      res_prefix=res_prefix))
    assert response.active == InsId("1090763220834", "89", NIR_OID, True)
    assert response.traits is not None and response.traits.first_name == "PIERRE-ALAIN"
    assert response.traits.first_names_list == "PIERRE-ALAIN MURIEL FLORIANT"


def test_reordered_elements_dates_first_and_several_histo() -> None:
    dates = "<DateDeb>2019-03-01</DateDeb><DateFin>2019-02-28</DateFin>"
    inner = (f"<INDIVIDU>{TIQ}{_histo('2090763220834', '39', dates)}{_histo('2090663220123', '56')}{ACTIF}"
             f"</INDIVIDU>{CR}")
    response = parse_response(_result(inner, wrapper=True))
    assert response.cr_code == "00"
    assert response.active is not None and response.active.matricule == "1090763220834"
    assert [(h.matricule, h.key, h.start_date, h.end_date) for h in response.history] == [
        ("2090763220834", "39", "2019-03-01", "2019-02-28"), ("2090663220123", "56", None, None)]
    assert response.history[0].key_valid
    assert not response.history[1].key_valid  # a test-book key that does not check


def test_histo_equal_to_actif_is_kept() -> None:
    response = parse_response(_result(CR + f"<INDIVIDU>{ACTIF}{_histo('1090763220834', '89')}{TIQ}</INDIVIDU>"))
    assert response.active is not None
    assert response.history == [response.active]


def test_bad_key_is_flagged_not_fatal() -> None:
    actif = ACTIF.replace("1090763220834", "1810363220456").replace("<Cle>89", "<Cle>60")
    response = parse_response(_result(CR + f"<INDIVIDU>{actif}{TIQ}</INDIVIDU>"))
    assert response.active == InsId("1810363220456", "60", NIR_OID, False)


@pytest.mark.parametrize(("id_individu", "expected"), [
    ("<NumIdentifiant>1090763220834</NumIdentifiant>", InsId("1090763220834", None, NIR_OID, False)),
    ("<NumIdentifiant> 1090763220834 </NumIdentifiant><Cle>89</Cle><TypeMatricule>NIR</TypeMatricule>",
     InsId("1090763220834", "89", NIR_OID, True, "NIR")),
    ("<NumIdentifiant>10907632208</NumIdentifiant><Cle>89</Cle>", InsId("10907632208", "89", NIR_OID, False)),
    ("<NumIdentifiant>297022a020778</NumIdentifiant><Cle>78</Cle>", InsId("297022A020778", "78", NIR_OID, True)),
])
def test_key_and_matricule_variants(id_individu: str, expected: InsId) -> None:
    actif = f"<INSACTIF><OID>{NIR_OID}</OID><IdIndividu>{id_individu}</IdIndividu></INSACTIF>"
    assert parse_response(_result(CR + f"<INDIVIDU>{actif}</INDIVIDU>")).active == expected


def test_pretty_printed_with_comments_and_unknown_elements() -> None:
    data = b"""<?xml version="1.0" encoding="UTF-8"?>
<!-- edited by hand -->
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">
  <soap:Header><x:Trace xmlns:x="urn:x">1</x:Trace></soap:Header>
  <S:Body xmlns:S="http://www.w3.org/2003/05/soap-envelope">
    <RESULTAT xmlns="http://www.cnamts.fr/INSiResultat">
      <CR>
        <CodeCR> 00 </CodeCR>
        <LibelleCR>OK</LibelleCR>
      </CR>
      <Extension>ignored</Extension>
      <INDIVIDU>
        <INSACTIF>
          <IdIndividu><NumIdentifiant>1090763220888</NumIdentifiant><Cle>35</Cle></IdIndividu>
          <OID>1.2.250.1.213.1.4.9</OID><!-- OID NIA -->
        </INSACTIF>
        <TIQ><NomNaissance>PROVISOIRE</NomNaissance><Prenom>MATRICULE</Prenom>
          <ListePrenom>MATRICULE</ListePrenom><Sexe>M</Sexe></TIQ>
      </INDIVIDU>
    </RESULTAT>
  </S:Body>
</soap:Envelope>"""
    response = parse_response(data)
    assert response.cr_code == "00"
    assert response.active == InsId("1090763220888", "35", "1.2.250.1.213.1.4.9", True)
    assert response.traits == ReturnedTraits("PROVISOIRE", "MATRICULE", "MATRICULE", "M", None, None)


def test_unqualified_result_children_are_accepted() -> None:
    data = (f'<s:Envelope xmlns:s="{SOAP}"><s:Body><r:RESULTAT xmlns:r="{RES}"><CR><CodeCR>01</CodeCR>'
            "<LibelleCR>Aucune identite trouvee</LibelleCR></CR></r:RESULTAT></s:Body></s:Envelope>").encode()
    assert parse_response(data).cr_code == "01"


def test_cr00_without_individu_is_returned_as_such() -> None:
    response = parse_response(_result(CR))
    assert response.cr_code == "00" and response.active is None and not response.found


@pytest.mark.parametrize("data", [
    b"",
    b"   ",
    b"<html><body>502 Bad Gateway</body></html>",
    b"not xml at all",
    b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"/>',
    b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body/></soap:Envelope>',
    _result("<CR><LibelleCR>OK</LibelleCR></CR>"),
    _result(CR + "<INDIVIDU><INSACTIF><IdIndividu><Cle>89</Cle></IdIndividu><OID>x</OID></INSACTIF></INDIVIDU>"),
    _result(CR + "<INDIVIDU><INSACTIF><IdIndividu><NumIdentifiant>1090763220834</NumIdentifiant></IdIndividu>"
                 "</INSACTIF></INDIVIDU>"),
    _result(CR).replace(RES.encode(), b"urn:other"),
    "<?xml version='1.0' encoding='utf-8'?><a>\udcff</a>".encode("utf-8", "surrogateescape"),
])
def test_garbage_is_malformed(data: bytes) -> None:
    with pytest.raises(InsiMalformedResponse) as info:
        parse_response(data)
    assert info.value.message_fr


def test_truncated_samples_are_malformed_at_every_cut() -> None:
    for name in ("REP_CR00_ADRTROIS_DOMINIQUE.xml", "FAULT_siram_100_desir_550_unknown_IDAM.xml"):
        data = sample(name).rstrip()
        for cut in range(len(data)):
            with pytest.raises(InsiMalformedResponse):
                parse_response(data[:cut])


def test_external_entities_are_not_resolved(tmp_path: pytest.TempPathFactory) -> None:
    secret = tmp_path / "secret.txt"  # type: ignore[operator]
    secret.write_text("TOP-SECRET")
    data = (f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file://{secret}">]>'
            f'<s:Envelope xmlns:s="{SOAP}"><s:Body><RESULTAT xmlns="{RES}"><CR><CodeCR>01&x;</CodeCR>'
            "<LibelleCR>x</LibelleCR></CR></RESULTAT></s:Body></s:Envelope>").encode()
    try:
        response = parse_response(data)
    except InsiMalformedResponse:
        return
    assert "TOP-SECRET" not in response.cr_code


# -- faults --------------------------------------------------------------------------------------------
def _fault(code: str, subcode: str | None, erreur_code: str | None, *, prefix: str = "soap",
           texts: str = '<soap:Text xml:lang="fr">Raison</soap:Text>') -> bytes:
    sub = f"<soap:Subcode><soap:Value>soap:{subcode}</soap:Value></soap:Subcode>" if subcode else ""
    detail = (f'<soap:Detail><siram:Erreur xmlns:siram="urn:siram" code="{erreur_code}" severite="erreur">'
              "Texte</siram:Erreur></soap:Detail>") if erreur_code else ""
    xml = (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><soap:Fault><soap:Code><soap:Value>soap:{code}'
           f"</soap:Value>{sub}</soap:Code><soap:Reason>{texts}</soap:Reason>{detail}</soap:Fault></soap:Body>"
           "</soap:Envelope>")
    return xml.replace("soap:", f"{prefix}:").replace("xmlns:soap", f"xmlns:{prefix}").encode()


@pytest.mark.parametrize(("data", "retryable", "error_code", "words"), [
    (_fault("Sender", "siram_40", "desir_1020"), True, "desir_1020", "temporairement"),
    (_fault("Sender", "siram_100", "DESIR_560", prefix="S"), False, "desir_560", "INSI-AUTO"),
    (_fault("Sender", "siram_12", "desir_999", prefix="env"), False, "desir_999", "Raison"),
    (_fault("Receiver", "siram_77", None), True, "siram_77", "Raison"),
    (_fault("Sender", None, None), False, "Sender", "Raison"),
    (_fault("Receiver", "siram_40", None), True, "siram_40", "temporairement"),
])
def test_fault_variants(data: bytes, retryable: bool, error_code: str, words: str) -> None:
    with pytest.raises(InsiFault) as info:
        parse_response(data)
    assert info.value.retryable is retryable
    assert info.value.error_code == error_code
    assert words in info.value.message_fr


def test_fault_reason_prefers_french() -> None:
    texts = '<soap:Text xml:lang="en">English</soap:Text><soap:Text xml:lang="fr">Français</soap:Text>'
    with pytest.raises(InsiFault) as info:
        parse_response(_fault("Sender", "siram_1", None, texts=texts))
    assert info.value.reason == "Français"


def test_soap11_fault_envelope_is_read() -> None:
    data = (b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault>'
            b"<faultcode>e:Server</faultcode><faultstring>boom</faultstring></e:Fault></e:Body></e:Envelope>")
    with pytest.raises(InsiFault) as info:
        parse_response(data)
    assert info.value.message_fr


# -- property-based ------------------------------------------------------------------------------------
PREFIXES = st.sampled_from(["S", "env", "soap", "SOAP-ENV", "s12", "a"])
MATRICULES = st.builds(
    lambda sex, yy, mm, dept, rest: f"{sex}{yy:02d}{mm:02d}{dept}{rest:06d}",
    st.sampled_from("12"), st.integers(0, 99), st.integers(1, 12),
    st.sampled_from(["63", "75", "2A", "2B", "99"]), st.integers(0, 999_999),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=PREFIXES, res_prefix=st.sampled_from([None, "r", "ns1"]), active=MATRICULES,
       history=st.lists(MATRICULES, max_size=4), corrupt=st.booleans(), seed=st.integers(0, 2**32),
       with_prenom=st.booleans())
def test_generated_results_parse_to_what_they_carry(prefix: str, res_prefix: str | None, active: str,
                                                    history: list[str], corrupt: bool, seed: int,
                                                    with_prenom: bool) -> None:
    rng = random.Random(seed)

    def ins(tag: str, matricule: str, key: str) -> str:
        parts = [f"<IdIndividu><NumIdentifiant>{matricule}</NumIdentifiant><Cle>{key}</Cle></IdIndividu>",
                 f"<OID>{NIR_OID}</OID>", "<DateDeb>2020-01-01</DateDeb>"]
        rng.shuffle(parts)
        return f"<{tag}>{''.join(parts)}</{tag}>"

    active_key = f"{(nir_key(active) + (1 if corrupt else 0)) % 100:02d}"
    tiq = ["<NomNaissance>NOM</NomNaissance>", "<ListePrenom>A B</ListePrenom>", "<Sexe>F</Sexe>"]
    if with_prenom:
        tiq.append("<Prenom>A</Prenom>")
    rng.shuffle(tiq)
    individu = [ins("INSACTIF", active, active_key), *(ins("INSHISTO", h, f"{nir_key(h):02d}") for h in history),
                f"<TIQ>{''.join(tiq)}</TIQ>"]
    rng.shuffle(individu)
    parts = [CR, f"<INDIVIDU>{''.join(individu)}</INDIVIDU>"]
    rng.shuffle(parts)
    response = parse_response(_result("".join(parts), body_prefix=prefix, res_prefix=res_prefix))
    assert response.active == InsId(active, active_key, NIR_OID, not corrupt or active_key == f"{nir_key(active):02d}",
                                    start_date="2020-01-01")
    assert sorted((h.matricule, h.key_valid) for h in response.history) == sorted((h, True) for h in history)
    assert response.traits == ReturnedTraits("NOM", "A" if with_prenom else None, "A B", "F", None, None)


@settings(max_examples=300)
@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda s: s.encode("utf-8")))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        parse_response(data)
    except (InsiMalformedResponse, InsiFault):
        pass


@settings(max_examples=200)
@given(name=st.sampled_from(["REP_CR00_ADRTROIS_DOMINIQUE.xml", "REP_CR01.xml",
                             "FAULT_siram_40_insi_102_technical.xml"]),
       position=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_single_byte_mutations_never_crash(name: str, position: int, byte: int) -> None:
    data = bytearray(sample(name))
    data[position % len(data)] = byte
    try:
        response = parse_response(bytes(data))
    except (InsiMalformedResponse, InsiFault):
        return
    assert isinstance(response, InsiResponse)
