"""A complete `DocumentMetadata` for docs, tests and benchmarks (fictitious practitioner and patient)."""

from __future__ import annotations

import datetime as dt

from plugins.common.clinical import valuesets as vs
from plugins.common.clinical.model import Author, DocumentMetadata, Organisation, Patient, derived_uuid, oid_from_uuid


def example_metadata(document_id: str = "example", *, masking: tuple[str, ...] = (),
                     now: dt.datetime | None = None) -> DocumentMetadata:
    now = now or dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)
    unique = oid_from_uuid(derived_uuid(document_id, "document"))
    return DocumentMetadata(
        unique_id=unique, entry_uuid=f"urn:uuid:{derived_uuid(document_id, 'entry')}",
        set_id=oid_from_uuid(derived_uuid(document_id, "set")), version=1, title="Ordonnance du 05/01/2026",
        type_code=vs.lookup(vs.TYPE_CODES, "57833-6"), class_code=vs.class_for_type("57833-6"),
        format_code=vs.lookup(vs.FORMAT_CODES, vs.FORMAT_PDF), confidentiality=vs.confidentiality_codes(masking),
        facility_type=vs.lookup(vs.FACILITY_TYPES, "SA07"),
        practice_setting=vs.lookup(vs.PRACTICE_SETTINGS, "AMBULATOIRE"),
        content_type=vs.lookup(vs.CONTENT_TYPES, "07"), creation_time=now, service_start=now, service_stop=now,
        patient=Patient(ins="297029912345697", ins_oid="1.2.250.1.213.1.4.10", birth_name="ADRTROIS",
                        given="DOMINIQUE", sex="F", birth_date="19970226"),
        author=Author(rpps="10001234567", family="SANDBOX", given="OLIVIER",
                      specialty=vs.lookup(vs.AUTHOR_SPECIALTIES, "G15_10/SM54")),
        organisation=Organisation(id_nat="312345678900019", name="Cabinet du Dr Sandbox"), source_oid="1.2.250.1.999.1")
