"""The shared CDA R2 N1 and XDS metadata builders, and the value sets they take their codes from."""

from __future__ import annotations

import hashlib

import pytest
from lxml import etree

from plugins.common.clinical import cda, typecode, xds
from plugins.common.clinical import valuesets as vs
from plugins.common.clinical.example import example_metadata


def test_valuesets_class_code_derived_through_ass_x04() -> None:
    assert vs.class_for_type("57833-6").code == "42"
    assert vs.class_for_type("11488-4").code == "10"
    assert vs.class_for_type("89601-9").code == "52"
    assert vs.class_for_type("PRESC-BIO").system == "1.2.250.1.213.1.1.4.1"
    with pytest.raises(vs.UnknownCode):
        vs.class_for_type("34133-9")  # a LOINC code outside JDV_J66


def test_valuesets_masking_codes_next_to_normal() -> None:
    codes = vs.confidentiality_codes(["hidden_from_professionals", "invisible_to_legal_representatives"])
    assert [c.code for c in codes] == ["N", "MASQUE_PS", "INVISIBLE_REPRESENTANTS_LEGAUX"]
    assert {c.system for c in codes[1:]} == {"1.2.250.1.213.1.1.4.13"}
    assert vs.masking_options(c.code for c in codes) == ("hidden_from_professionals",
                                                        "invisible_to_legal_representatives")
    with pytest.raises(ValueError):
        vs.confidentiality_codes(["secret"])


def test_typecode_eprescription_is_a_prescription() -> None:
    assert typecode.auto_type_code("eprescription") == "57833-6"
    assert typecode.auto_type_code(None, "biology") == "PRESC-BIO"
    assert typecode.auto_type_code("letters") is None
    assert typecode.checked_type_code("PRESC-KINE").system == "1.2.250.1.213.1.1.4.12"


def test_cda_header_round_trip() -> None:
    meta = example_metadata("doc-1")
    document = cda.build_cda(meta, b"%PDF-1.4\n%%EOF\n")
    header = cda.read_header(document)
    assert header.unique_id == meta.unique_id and header.type_code == "57833-6"
    assert header.ins == meta.patient.ins and header.ins_oid == "1.2.250.1.213.1.4.10"
    assert header.author_id == "810001234567"
    assert header.template_ids == cda.TEMPLATE_IDS
    assert (header.facility_type, header.practice_setting) == ("SA07", "AMBULATOIRE")
    assert header.pdf == b"%PDF-1.4\n%%EOF\n"
    root = etree.fromstring(document)
    assert root.find("{urn:hl7-org:v3}recordTarget/{urn:hl7-org:v3}patientRole/{urn:hl7-org:v3}patient/"
                     "{urn:hl7-org:v3}name/{urn:hl7-org:v3}family").get("qualifier") == "BR"


def test_cda_read_header_rejects_non_cda() -> None:
    with pytest.raises(cda.CdaError):
        cda.read_header(b"<html/>")
    with pytest.raises(cda.CdaError):
        cda.read_header(b"not xml")


def test_xds_submit_objects_request_structure() -> None:
    meta = example_metadata("doc-2", masking=("invisible_to_patient",))
    content = cda.build_cda(meta, b"%PDF-1.4 body")
    entry = xds.document_entry(meta, content)
    assert entry.hash == hashlib.sha1(content).hexdigest() and entry.size == len(content)
    root = xds.submit_objects_request(xds.submission_set(meta), [entry], replaces={meta.entry_uuid: "urn:uuid:old"})
    rim = {"rim": xds.NS_RIM}
    package = root.find("rim:RegistryObjectList/rim:RegistryPackage", rim)
    assert package is not None
    node = root.find(f"rim:RegistryObjectList/rim:Classification[@classificationNode='{xds.SUBMISSION_SET}']", rim)
    assert node is not None and node.get("classifiedObject") == package.get("id")
    kinds = [a.get("associationType") for a in root.iterfind("rim:RegistryObjectList/rim:Association", rim)]
    assert kinds == [xds.HAS_MEMBER, xds.RPLC]
    (view,) = xds.read_registry_objects(root)
    assert view.unique_id == meta.unique_id and view.patient_id == meta.patient.xds_patient_id
    assert view.codes["class_code"] == ("42", "1.2.250.1.213.1.1.4.1")
    assert view.codes["format_code"][0] == "urn:ihe:iti:xds-sd:pdf:2008"
    assert [c for c, _ in view.confidentiality] == ["N", "INVISIBLE_PATIENT"]
    assert view.hash == entry.hash and view.size == entry.size and view.has_author
    assert all(view.slots.get(name) for name in xds.REQUIRED_ENTRY_SLOTS)


def test_xds_uri_slot_for_xdm() -> None:
    meta = example_metadata("doc-3")
    root = xds.submit_objects_request(xds.submission_set(meta), [xds.document_entry(meta, b"x", uri="DOC0001.XML")])
    (view,) = xds.read_registry_objects(root)
    assert view.slots["URI"] == ["DOC0001.XML"]


def test_derive_metadata_from_a_validated_document() -> None:
    from agent.documents import DocumentAuthor, PatientIns, ValidatedDocument
    from plugins.common.clinical.derive import Practice, metadata_for, split_name, unique_id

    document = ValidatedDocument(
        id="doc-9", pdf=b"%PDF-1.4", type_code="57833-6", type_label="x", title="Ordonnance",
        author=DocumentAuthor(name="Dr Marie Durand", rpps="10000123454"), created_at=1_767_600_000.0,
        source_plugin="eprescription", patient_ins=PatientIns("297029912345697", "1.2.250.1.213.1.4.8"),
        metadata={"patient": {"birth_name": "MARTIN", "first_names": "Claire Anne", "sex": "F",
                              "birth_date": "1984-06-15"}})
    practice = Practice(structure_id="312345678900019", structure_name="Cabinet", source_oid="1.2.3")
    meta = metadata_for(document, practice, "57833-6", masking=["hidden_from_professionals"])
    assert meta.unique_id == unique_id("doc-9") == metadata_for(document, practice, "57833-6").unique_id
    assert (meta.author.family, meta.author.given, meta.author.national_id) == ("DURAND", "Marie", "810000123454")
    assert (meta.patient.given, meta.patient.birth_date) == ("Claire", "19840615")
    assert meta.patient.xds_patient_id == "297029912345697^^^&1.2.250.1.213.1.4.8&ISO^NH"
    assert meta.class_code.code == "42" and meta.confidentiality_codes == ("N", "MASQUE_PS")
    assert split_name("Pr Jean-Paul de La Tour") == ("TOUR", "Jean-Paul de La")
    with pytest.raises(ValueError):
        metadata_for(ValidatedDocument(**{**document.__dict__, "patient_ins": None}), practice, "57833-6")


def test_derive_unqualified_patient_is_named_by_the_local_id_never_by_an_ins() -> None:
    """MSSanté to professionals: no qualified INS -> the CDA and the XDS patientId carry the practice's
    local id (PI, under its OID) alone; the DMP's default (`require_ins`) still refuses."""
    from agent.documents import DocumentAuthor, ValidatedDocument
    from plugins.common.clinical.derive import Practice, metadata_for

    document = ValidatedDocument(
        id="doc-10", pdf=b"%PDF-1.4", type_code="57833-6", type_label="x", title="Ordonnance",
        author=DocumentAuthor(name="Dr Marie Durand", rpps="10000123454"), created_at=1_767_600_000.0,
        source_plugin="eprescription", patient_ins=None,
        metadata={"patient": {"birth_name": "MARTIN", "first_names": "Claire", "sex": "F",
                              "birth_date": "1984-06-15", "identity_id": "ident-42"}})
    practice = Practice(structure_id="312345678900019", structure_name="Cabinet", source_oid="1.2.3",
                        ipp_oid="1.2.250.1.999.7.1")
    with pytest.raises(ValueError):
        metadata_for(document, practice, "57833-6")  # the DMP: a qualified INS or nothing
    with pytest.raises(ValueError):  # no OID for the practice's local ids: the patient cannot be named
        metadata_for(document, Practice(structure_id="3", structure_name="C", source_oid="1.2.3"), "57833-6",
                     require_ins=False)
    meta = metadata_for(document, practice, "57833-6", require_ins=False)
    assert not meta.patient.qualified and meta.patient.ins is None
    assert meta.patient.xds_patient_id == meta.patient.source_patient_id == "ident-42^^^&1.2.250.1.999.7.1&ISO^PI"
    header = cda.read_header(cda.build_cda(meta, b"%PDF-1.4"))
    assert header.patient_ids == (("1.2.250.1.999.7.1", "ident-42"),)
    assert not any(root.startswith("1.2.250.1.213.1.4.") for root, _ in header.patient_ids)  # no INS OID
    (view,) = xds.read_registry_objects(xds.submit_objects_request(xds.submission_set(meta),
                                                                   [xds.document_entry(meta, b"x")]))
    assert view.patient_id == "ident-42^^^&1.2.250.1.999.7.1&ISO^PI"
    # A producer's own IPP wins over Vigie's identity id.
    with_ipp = ValidatedDocument(**{**document.__dict__, "metadata": {
        "patient": {**document.metadata["patient"], "ipp": "P-77"}}})
    assert metadata_for(with_ipp, practice, "57833-6", require_ins=False).patient.ipp == "P-77"
