"""Kept so existing imports work: the NIR/NIA rules moved to `plugins.common.nir` (the scanner plugin uses them
too and must not depend on the INS plugin)."""

from plugins.common.nir import (
    KEY,
    KNOWN_OIDS,
    MATRICULE,
    OID_NIA,
    OID_NIR,
    OID_NIR_DEMO,
    OID_NIR_TEST,
    OID_ROOT,
    is_matricule,
    key_is_valid,
    nir_key,
    oid_label,
)

__all__ = ["KEY", "KNOWN_OIDS", "MATRICULE", "OID_NIA", "OID_NIR", "OID_NIR_DEMO", "OID_NIR_TEST", "OID_ROOT",
           "is_matricule", "key_is_valid", "nir_key", "oid_label"]
