"""INS Datamatrix reader: the table of real-world damage (lost GS, `<GS>`, AZERTY wedges, truncation...)."""

from __future__ import annotations

import pytest

from plugins.scanner.datamatrix import HEADER, InsDatamatrix, parse
from plugins.scanner.payload import PayloadError, build_payload

G = "\x1d"
ADRTROIS = ("IS010000000000000000000000S1297022A02077878S21.2.250.1.213.1.4.8" + G + "S3DOMINIQUE" + G
            + "S4ADRTROIS" + G + "S5FS626-02-1997S72A020")
DOMINIQUE = InsDatamatrix(matricule="297022A02077878", oid="1.2.250.1.213.1.4.8", first_names=("DOMINIQUE",),
                          birth_name="ADRTROIS", sex="F", birth_date="1997-02-26", birth_place="2A020")
ECETINSI = InsDatamatrix(matricule="109076322083489", oid="1.2.250.1.213.1.4.8",
                         first_names=("PIERRE-ALAIN", "MURIEL", "FLORIANT"), birth_name="ECETINSI", sex="M",
                         birth_date="2009-07-14", birth_place="63220")
TOUSSAINT = InsDatamatrix(matricule="160012B02077713", oid="1.2.250.1.213.1.4.8", first_names=("TOUSSAINT",),
                          birth_name="ADRTROIS", sex="M", birth_date="1960-01-01", birth_place="2B020")
NIA = InsDatamatrix(matricule="109076322088835", oid="1.2.250.1.213.1.4.9", first_names=("MATRICULE",),
                    birth_name="PROVISOIRE", sex="M", birth_date="2009-07-01", birth_place="63220")

AZERTY_DIGITS = str.maketrans("1234567890", "&é\"'(-è_çà")
# A US-layout scanner on an AZERTY host: every key by position.
AZERTY_LAYOUT = str.maketrans({**dict(zip("1234567890", "&é\"'(-è_çà", strict=True)), "A": "Q", "Q": "A", "Z": "W",
                               "W": "Z", "M": "?", ".": ":", "-": ")", "'": "ù"})


def reorder(text: str, order: list[str]) -> str:
    body = text[len(HEADER):].replace(G, "")
    fields = {}
    for marker in ("S7", "S6", "S5", "S4", "S3", "S2", "S1"):
        cut = body.index(marker)
        fields[marker], body = body[cut:], body[:cut]
    return HEADER + G.join(fields[m] for m in order)


VALID = {
    "example": (ADRTROIS, DOMINIQUE),
    "bytes_from_hid_pos": (ADRTROIS.encode(), DOMINIQUE),
    "lost_gs": (ADRTROIS.replace(G, ""), DOMINIQUE),
    "literal_gs_token": (ADRTROIS.replace(G, "<GS>"), DOMINIQUE),
    "braced_gs_token": (ADRTROIS.replace(G, "{GS}"), DOMINIQUE),
    "aim_prefix_and_enter": ("]d1" + ADRTROIS + "\r\n", DOMINIQUE),
    "stx_etx_framing": ("\x02" + ADRTROIS + "\x03", DOMINIQUE),
    "azerty_digits": (ADRTROIS.translate(AZERTY_DIGITS), DOMINIQUE),
    "azerty_digits_gs_lost": (ADRTROIS.replace(G, "").translate(AZERTY_DIGITS), DOMINIQUE),
    "azerty_layout": (ADRTROIS.replace(G, "<GS>").translate(AZERTY_LAYOUT), DOMINIQUE),
    "reordered_s3_last": (reorder(ADRTROIS, ["S1", "S2", "S4", "S5", "S6", "S7", "S3"]), DOMINIQUE),
    "reordered_reversed_no_gs": (reorder(ADRTROIS, ["S7", "S6", "S5", "S4", "S3", "S2", "S1"]).replace(G, ""),
                                 DOMINIQUE),
    "several_first_names_hyphen": (build_payload(ECETINSI), ECETINSI),
    "several_first_names_azerty": (build_payload(ECETINSI).replace(G, "").translate(AZERTY_DIGITS), ECETINSI),
    "nia": (build_payload(NIA), NIA),
    "corsica_2b": (build_payload(TOUSSAINT), TOUSSAINT),
    "corsica_2b_azerty_layout": (build_payload(TOUSSAINT).translate(AZERTY_LAYOUT), TOUSSAINT),
    "missing_s7": (ADRTROIS.replace("S72A020", ""), InsDatamatrix(**{**DOMINIQUE.__dict__, "birth_place": None})),
    "partial_date": (ADRTROIS.replace("26-02-1997", "00-00-1997"),
                     InsDatamatrix(**{**DOMINIQUE.__dict__, "birth_date": "1997-00-00"})),
}


@pytest.mark.parametrize("case", list(VALID))
def test_parse_valid(case: str) -> None:
    data, expected = VALID[case]
    result = parse(data)
    assert result is not None and result.errors == ()
    assert result.value == expected


def test_parse_azerty_cases_report_their_keymap() -> None:
    assert parse(ADRTROIS.translate(AZERTY_DIGITS)).keymap == "azerty_digits"  # type: ignore[union-attr]
    assert parse(ADRTROIS.translate(AZERTY_LAYOUT)).keymap == "azerty_layout"  # type: ignore[union-attr]


INVALID = {
    "wrong_key": (ADRTROIS.replace("297022A02077878", "297022A02077879"), "matricule", "clé"),
    "digit_misread": (ADRTROIS.replace("297022A02077878", "297022A02071878"), "matricule", "clé"),
    "unknown_oid": (ADRTROIS.replace("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.7"), "oid", "inconnu"),
    "version_02": (ADRTROIS.replace("IS01", "IS02", 1), "header", "Version 02"),
    "reserved_not_zero": (ADRTROIS.replace("IS0100", "IS0109", 1), "header", "réservée"),
    "truncated_header": (ADRTROIS[:20], "header", "tronqué"),
    "truncated_in_s4": (ADRTROIS[:ADRTROIS.index("S4") + 5], "sex", "absent"),
    "truncated_in_date": (ADRTROIS[:ADRTROIS.index("S6") + 6], "birth_date", "tronqué"),
    "truncated_in_matricule": (ADRTROIS[:HEADER.__len__() + 10], "matricule", "tronqué"),
    "missing_s5": (ADRTROIS.replace("S5F", ""), "sex", "absent"),
    "bad_sex": (ADRTROIS.replace("S5F", "S5X"), "sex", "illisible"),
    "bad_sex_before_gs": (ADRTROIS.replace("S5F", "S5" + G), "sex", "illisible"),
    "impossible_date": (ADRTROIS.replace("26-02-1997", "30-02-1997"), "birth_date", "n'existe pas"),
    "future_date": (ADRTROIS.replace("26-02-1997", "26-02-2997"), "birth_date", "n'existe pas"),
    "lowercase_name": (ADRTROIS.replace("ADRTROIS" + G, "AdrTROIS" + G), "birth_name", "non autorisés"),
    "accented_name": (ADRTROIS.replace("DOMINIQUE", "DOMINIQUÉ"), "first_names", "non autorisés"),
    "duplicate_field": (ADRTROIS + "S5M", "sex", "deux fois"),
    "bad_cog": (ADRTROIS.replace("S72A020", "S72C020"), "birth_place", "illisible"),
    "garbage_after": (ADRTROIS + "XYZ", "structure", "inattendues"),
    "azerty_wrong_key": (ADRTROIS.replace("7878", "7879").translate(AZERTY_DIGITS), "matricule", "clé"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_parse_refused(case: str) -> None:
    data, field, words = INVALID[case]
    result = parse(data)
    assert result is not None and result.value is None
    assert field in {e.field for e in result.errors}, result.errors
    assert any(words in e.message for e in result.errors if e.field == field), result.errors


@pytest.mark.parametrize("data", [b"", b"hello", "https://example.org/e-ordonnance", "ISBN 978-2", "DC04FR0000011E58"])
def test_parse_not_an_ins_code(data: bytes | str) -> None:
    assert parse(data) is None


def test_parse_lost_gs_ambiguity_never_builds_another_identity() -> None:
    # "LOUIS-PIERRE" typed through an AZERTY wedge contains "S-", the typed form of marker S6: the lookahead
    # (a date must follow) keeps it a name.
    louis = InsDatamatrix(**{**DOMINIQUE.__dict__, "first_names": ("LOUIS-PIERRE",)})
    typed = build_payload(louis).replace(G, "").translate(AZERTY_DIGITS)
    assert parse(typed).value == louis  # type: ignore[union-attr]


def test_parse_french_messages_name_the_field() -> None:
    result = parse(INVALID["wrong_key"][0])
    assert result is not None
    assert result.errors[0].message.startswith("Matricule INS : la clé ne correspond pas")


def test_build_payload_example_matches_the_spec() -> None:
    assert build_payload(DOMINIQUE) == ADRTROIS


def test_build_payload_gs_rules_for_full_length_fields() -> None:
    test_oid = InsDatamatrix(**{**DOMINIQUE.__dict__, "oid": "1.2.250.1.213.1.4.10"})
    text = build_payload(test_oid)
    assert "S21.2.250.1.213.1.4.10S3" in text  # a 20-character OID takes no GS
    no_place = build_payload(InsDatamatrix(**{**DOMINIQUE.__dict__, "birth_place": None}))
    assert no_place.endswith("S626-02-1997") and G not in no_place[-12:]


def test_build_payload_refuses_a_wrong_key() -> None:
    with pytest.raises(PayloadError, match="clé"):
        build_payload(InsDatamatrix(**{**DOMINIQUE.__dict__, "matricule": "297022A02077879"}))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ALPHABET = st.sampled_from(list("IS0123456789ABMF-.' <>GS\x1d&é\"'(-è_çàQWZ:?)ù") + ["S1", "S2", "S6", "<GS>"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.lists(_ALPHABET, max_size=120).map("".join),
                 st.lists(_ALPHABET, max_size=80).map(lambda parts: HEADER + "".join(parts))))
def test_parse_never_raises_and_never_accepts_without_a_valid_key(data: bytes | str) -> None:
    result = parse(data)
    if result is not None and result.value is not None:
        from plugins.common.nir import key_is_valid

        assert key_is_valid(result.value.matricule[:13], result.value.matricule[13:])
    elif result is not None:
        assert result.errors and all(e.message for e in result.errors)


_S1 = ADRTROIS.index("S1") + 2


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=_S1, max_value=_S1 + 14), st.characters(codec="latin-1"))
def test_parse_a_single_altered_matricule_character_is_refused(position: int, char: str) -> None:
    # The mod-97 key catches every single-character error in the matricule (names have no checksum: INSi's
    # comparison of the traits catches those).
    altered = ADRTROIS[:position] + char + ADRTROIS[position + 1:]
    result = parse(altered)
    assert result is not None
    assert result.value is None or altered == ADRTROIS, (position, char)
