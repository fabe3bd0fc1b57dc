"""`[plugins.dmp]` configuration, validated with French messages naming the key.

    url = "https://…/si-dmp-server/v2/services"  # base URL; the service name is appended
    ca_files = ["…pem"]            # CAs trusted for the DMP's TLS certificate (never the system store)
    pkcs12 = "keyring:dmp.certificate"  # structure certificate: TLS client auth, and the VIHF in INDIRECTE
                                   # mode. "keyring:<name>": the PKCS#12 `vigie setup` imported into the
                                   # keyring; a file path still works (developers). Its passphrase is in
                                   # the keyring (secret `dmp.pkcs12`)
    auth_mode = "DIRECTE"          # DIRECTE: VIHF signed by the CPS in the reader; INDIRECTE: by the
                                   # structure certificate
    structure_id = "3…"            # Identifiant_Structure (prefixed: 3 + SIRET, 1 + FINESS, ...)
    structure_name = "Cabinet …"
    activity_sector = "SA07"       # Secteur_Activite and healthcareFacilityTypeCode (JDV_J61)
    practice_setting = "AMBULATOIRE"  # JDV_J62
    practitioner = {rpps, family, given, profession = "10", specialty = "SM54"}  # INDIRECTE / no card
    lps_id, lps_name, lps_version, homologation = "…"   # software identification (VIHF LPS_*)
    source_oid = "…"               # the software's OID (XDS sourceId)
    ipp_oid = "…"                  # the practice's IPP assigning authority (optional)
    timeout = 30.0                 # seconds per exchange (connect: 5 s)
    concurrency = 4                # documents in flight at once
    max_document_bytes = 10485760  # refuse bigger PDFs (the DMP limit is [?] per the DMPi guide)
    max_attempts = 12              # transport failures before a document is marked failed
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agent.errors import ConfigError
from plugins.common.clinical.derive import Practice

PKCS12_SECRET = "dmp.pkcs12"  # the passphrase (the name predates the import of the file itself)
CERTIFICATE_SECRET = "dmp.certificate"  # the PKCS#12 bytes, `pkcs12 = "keyring:dmp.certificate"`
AUTH_MODES = ("DIRECTE", "INDIRECTE")


@dataclass(frozen=True)
class Practitioner:
    rpps: str = ""
    family: str = ""
    given: str = ""
    profession: str = "10"  # TRE_G15 médecin
    specialty: str = "SM54"  # médecine générale


@dataclass
class DmpSettings:
    url: str | None = None
    ca_files: list[str] = field(default_factory=list)
    pkcs12: str | None = None
    auth_mode: str = "DIRECTE"
    structure_id: str = ""
    structure_name: str = ""
    activity_sector: str = "SA07"
    practice_setting: str = "AMBULATOIRE"
    practitioner: Practitioner = field(default_factory=Practitioner)
    lps_id: str = "vigie"
    lps_name: str = "Vigie"
    lps_version: str = "0.1"
    homologation: str = ""
    source_oid: str = "1.2.250.1.999.1"  # placeholder until the software has its own registered OID
    ipp_oid: str | None = None
    timeout: float = 30.0
    connect_timeout: float = 5.0
    concurrency: int = 4
    max_document_bytes: int = 10 * 1024 * 1024
    max_attempts: int = 12
    base_delay: float = 2.0
    max_delay: float = 600.0

    def practice(self) -> Practice:
        p = self.practitioner
        return Practice(structure_id=self.structure_id, structure_name=self.structure_name,
                        source_oid=self.source_oid, activity_sector=self.activity_sector,
                        practice_setting=self.practice_setting, ipp_oid=self.ipp_oid, rpps=p.rpps,
                        family=p.family, given=p.given, profession=p.profession, specialty=p.specialty)

    @property
    def practitioner_name(self) -> str:
        return f"{self.practitioner.given} {self.practitioner.family}".strip() or self.structure_name

    @property
    def missing(self) -> str | None:
        """Why the plugin cannot talk to the DMP (French), or None."""
        if not self.url:
            return "Adresse du DMP non configurée ([plugins.dmp] url)"
        if not self.ca_files:
            return "Autorité de certification du DMP non configurée ([plugins.dmp] ca_files)"
        if not self.pkcs12:
            return "Certificat de la structure non configuré ([plugins.dmp] pkcs12)"
        if not self.structure_id:
            return "Identifiant de la structure non configuré ([plugins.dmp] structure_id)"
        return None


def _err(key: str, fr: str, en: str) -> ConfigError:
    return ConfigError(f"plugins.dmp.{key}", fr, en)


_STRINGS = ("url", "pkcs12", "structure_id", "structure_name", "activity_sector", "practice_setting", "lps_id",
            "lps_name", "lps_version", "homologation", "source_oid", "ipp_oid")
_NUMBERS = {"timeout": (0.5, 300.0), "connect_timeout": (0.1, 60.0), "base_delay": (0.01, 3600.0),
            "max_delay": (0.1, 86400.0)}
_INTEGERS = {"concurrency": (1, 32), "max_document_bytes": (1024, 100 * 1024 * 1024), "max_attempts": (1, 100)}


def parse_settings(raw: dict[str, Any]) -> DmpSettings:
    s = DmpSettings()
    for key, value in raw.items():
        if key in _STRINGS:
            if not isinstance(value, str) or not value.strip():
                raise _err(key, "une chaîne non vide est attendue", "a non-empty string is expected")
            if key == "url" and not value.startswith("https://"):
                raise _err(key, "une URL https:// est attendue", "an https:// URL is expected")
            setattr(s, key, value.rstrip("/") if key == "url" else value)
        elif key.startswith("pkcs12_passphrase"):
            raise _err(key, "les secrets vont dans le trousseau (secret « dmp.pkcs12 »), pas dans la configuration",
                       "secrets go to the keyring (secret 'dmp.pkcs12'), not into the configuration")
        elif key == "auth_mode":
            if value not in AUTH_MODES:
                raise _err(key, "« DIRECTE » ou « INDIRECTE » attendu", "DIRECTE or INDIRECTE expected")
            s.auth_mode = value
        elif key == "ca_files":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _err(key, "une liste de chemins est attendue", "a list of paths is expected")
            s.ca_files = list(value)
        elif key == "practitioner":
            if not isinstance(value, dict) or set(value) - {"rpps", "family", "given", "profession", "specialty"}:
                raise _err(key, "table {rpps, family, given, profession, specialty} attendue",
                           "table {rpps, family, given, profession, specialty} expected")
            if value.get("rpps") and not re.fullmatch(r"\d{11}", str(value["rpps"])):
                raise _err(key, "RPPS : 11 chiffres attendus", "RPPS: 11 digits expected")
            s.practitioner = Practitioner(**{k: str(v) for k, v in value.items()})
        elif key in _NUMBERS:
            low, high = _NUMBERS[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise _err(key, f"un nombre entre {low:g} et {high:g} est attendu",
                           f"a number between {low:g} and {high:g} is expected")
            setattr(s, key, float(value))
        elif key in _INTEGERS:
            low_i, high_i = _INTEGERS[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low_i <= value <= high_i:
                raise _err(key, f"un entier entre {low_i} et {high_i} est attendu",
                           f"an integer between {low_i} and {high_i} is expected")
            setattr(s, key, value)
        else:
            raise _err(key, "clé inconnue", "unknown key")
    return s
