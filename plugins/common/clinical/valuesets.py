"""The DMP / CI-SIS value sets used by Vigie, loaded from the JSON data files next to this module.

The codes live in `valuesets/*.json` (one file per NOS value set, the subset we use, with the code
system OID of each concept), never in code: extending a value set is editing its file. Files are
read once, lazily, and cached (pure after that: no I/O on later calls).

`class_for_type` applies ASS_X04 (typeCode -> classCode); `masking_codes` maps the masking options
the user sees to the TRE_A07 confidentiality codes that go next to `N`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

TYPE_CODES = "JDV_J66-TypeCode-DMP"
CLASS_CODES = "JDV_J57-ClassCode-DMP"
TYPE_TO_CLASS = "ASS_X04-CorrespondanceType-Classe-CISIS"
FORMAT_CODES = "JDV_J60-FormatCode-DMP"
FACILITY_TYPES = "JDV_J61-HealthcareFacilityTypeCode-DMP"
PRACTICE_SETTINGS = "JDV_J62-PracticeSettingCode-DMP"
CONTENT_TYPES = "JDV_J59-ContentTypeCode-DMP"
CONFIDENTIALITY = "ConfidentialityCode"
AUTHOR_SPECIALTIES = "AuthorSpecialty"
SUBJECT_ROLES = "SubjectRole"

FORMAT_PDF = "urn:ihe:iti:xds-sd:pdf:2008"  # CDA R2 level 1 wrapping a PDF (a key into JDV_J60, not a value)
NORMAL = "N"
MASKING_OPTIONS = ("hidden_from_professionals", "invisible_to_patient", "invisible_to_legal_representatives")


class UnknownCode(ValueError):
    """A code absent from the value set it must belong to (the DMP would reject the document)."""

    def __init__(self, value_set: str, code: str) -> None:
        super().__init__(f"{code!r} is not in {value_set}")
        self.value_set = value_set
        self.code = code


@dataclass(frozen=True)
class Code:
    """A coded value: code, code system OID, display name (XDS Classification / CDA CD)."""

    code: str
    system: str
    display: str


@functools.cache
def _file(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("valuesets", f"{name}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@functools.cache
def _concepts(name: str) -> dict[str, Code]:
    return {c["code"]: Code(c["code"], c["system"], c["display"]) for c in _file(name)["concepts"]}


def codes(value_set: str) -> tuple[Code, ...]:
    return tuple(_concepts(value_set).values())


def lookup(value_set: str, code: str) -> Code:
    """The concept `code` of `value_set`; UnknownCode when absent."""
    found = _concepts(value_set).get(code)
    if found is None:
        raise UnknownCode(value_set, code)
    return found


def contains(value_set: str, code: str, system: str | None = None) -> bool:
    found = _concepts(value_set).get(code)
    return found is not None and (system is None or found.system == system)


@functools.cache
def _type_to_class() -> dict[str, str]:
    return {p["type"]: p["class"] for p in _file(TYPE_TO_CLASS)["pairs"]}


def class_for_type(type_code: str) -> Code:
    """classCode derived from a JDV_J66 typeCode through ASS_X04 (UnknownCode when either is missing)."""
    lookup(TYPE_CODES, type_code)
    klass = _type_to_class().get(type_code)
    if klass is None:
        raise UnknownCode(TYPE_TO_CLASS, type_code)
    return lookup(CLASS_CODES, klass)


@functools.cache
def _masking() -> dict[str, Code]:
    return {c["option"]: _concepts(CONFIDENTIALITY)[c["code"]] for c in _file(CONFIDENTIALITY)["concepts"]
            if c.get("option")}


def confidentiality_codes(options: Iterable[str] = ()) -> tuple[Code, ...]:
    """`N` first, then one TRE_A07 code per masking option (ValueError on an unknown option)."""
    table = _masking()
    result = [lookup(CONFIDENTIALITY, NORMAL)]
    for option in options:
        if option not in table:
            raise ValueError(f"unknown masking option {option!r}")
        if table[option] not in result:
            result.append(table[option])
    return tuple(result)


def masking_options(codes_: Iterable[str]) -> tuple[str, ...]:
    """The masking options a set of confidentiality codes stands for (inverse of confidentiality_codes)."""
    present = set(codes_)
    return tuple(option for option, code in _masking().items() if code.code in present)


def role(kind: str, code: str) -> Code:
    """A VIHF subject:role concept: `kind` is "profession" or "specialty"."""
    for c in _file(SUBJECT_ROLES)["concepts"]:
        if c["code"] == code and c["kind"] == kind:
            return Code(c["code"], c["system"], c["display"])
    raise UnknownCode(SUBJECT_ROLES, code)
