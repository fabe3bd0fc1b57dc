"""JSON schemas of the INS plugin's local-API methods (validated by the host before a handler runs)."""

from __future__ import annotations

from typing import Any

_TRAITS = {
    "type": "object",
    "required": ["birth_name", "first_names", "birth_date", "sex"],
    "properties": {
        "birth_name": {"type": "string", "minLength": 1, "maxLength": 100},
        "first_names": {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 200},
                                  {"type": "array", "minItems": 1, "maxItems": 10,
                                   "items": {"type": "string", "minLength": 1, "maxLength": 100}}]},
        "birth_date": {"type": "string", "maxLength": 10},
        "sex": {"type": "string", "maxLength": 1},
        "birth_place": {"type": ["string", "null"], "maxLength": 5},
        "used_name": {"type": ["string", "null"], "maxLength": 100},
        "used_first_name": {"type": ["string", "null"], "maxLength": 100},
    },
    "additionalProperties": False,
}
_ID = {"type": "string", "minLength": 1, "maxLength": 64}
SCHEMAS: dict[str, dict[str, Any]] = {
    "identity.submit": {"type": "object", "required": ["traits"], "additionalProperties": False,
                        "properties": {"local_id": {"type": ["string", "null"], "maxLength": 128}, "traits": _TRAITS}},
    "identity.get": {"type": "object", "required": ["identity_id"], "additionalProperties": False,
                     "properties": {"identity_id": _ID}},
    "identity.view": {"type": "object", "required": ["identity_id"], "additionalProperties": False,
                      "properties": {"identity_id": _ID}},
    "identity.qualify": {
        "type": "object", "required": ["identity_id", "method"], "additionalProperties": False,
        "properties": {"identity_id": _ID, "method": {"enum": ["document", "attestation"]},
                       "document_type": {"type": ["string", "null"], "maxLength": 64}},
    },
    "identity.audit": {"type": "object", "required": ["identity_id"], "additionalProperties": False,
                       "properties": {"identity_id": _ID}},
    "identity.batch": {
        "type": "object", "required": ["patients"], "additionalProperties": False,
        "properties": {"patients": {"type": "array", "minItems": 1, "maxItems": 2000, "items": {
            "type": "object", "required": ["traits"], "additionalProperties": False,
            "properties": {"local_id": {"type": ["string", "null"], "maxLength": 128}, "traits": _TRAITS}}}},
    },
    "identity.batch_csv": {"type": "object", "required": ["csv"], "additionalProperties": False,
                           "properties": {"csv": {"type": "string", "minLength": 1, "maxLength": 900_000},
                                          "name": {"type": ["string", "null"], "maxLength": 200}}},
    "identity.batch_file": {"type": "object", "additionalProperties": False, "properties": {}},
    "identity.batch_status": {"type": "object", "additionalProperties": False,
                              "properties": {"batch_id": {"type": ["string", "null"], "maxLength": 64}}},
    "identity.journal": {"type": "object", "required": ["day"], "additionalProperties": False,
                         "properties": {"day": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                                        "only_qualifications": {"type": "boolean"}}},
}
