"""`[plugins.mss]` configuration, validated with French messages naming the key.

    mailbox = "logiciel@cabinet.mssante.fr"   # the practice's MSSanté address (the sender)
    auth = "certificate"                      # certificate: application mailbox, IGC-Santé client
                                              #   certificate (`pkcs12 = "keyring:mss.certificate"`, the
                                              #   PKCS#12 `vigie setup` imported into the keyring, or a
                                              #   file path for developers; passphrase in the keyring,
                                              #   secret `mss.pkcs12`);
                                              # token: personal mailbox, Pro Santé Connect bearer token
                                              #   (refresh token in the keyring, secret `mss.psc_refresh`)
    smtp_host, smtp_port = "…", 587           # submission, STARTTLS
    imap_host, imap_port = "…", 993           # IMAP; imap_tls = "implicit" (993) or "starttls" (143)
    ca_files = ["…pem"]                       # CAs trusted for the operator (IGC-Santé), never the system store
    psc_token_url = "https://…/token"         # Pro Santé Connect token endpoint (auth = token)
    psc_client_id = "vigie"
    nil = "…"                                 # X-MSS-NIL: the product's convergence.esante.gouv.fr reference
    directory_url = "https://…/fhir/v2"       # Annuaire Santé FHIR (API key in the keyring: `mss.directory_key`)
    timeout = 30.0                            # seconds per SMTP/IMAP exchange
    poll_interval = 60.0                      # inbox polling when the server has no IDLE (or IDLE broke)
    send_on_validate = true                   # mail each validated document on the same click (DMP too)
    to_patient = true                         # …to the patient (qualified INS only), by default
    to_treating = true                        # …to the médecin traitant, when the document names one
    block_patient_replies = false             # X-MSS-MES: FIN on patient mails
    structure_id, structure_name, facility_type, practice_setting, source_oid, specialty  # CDA/XDS header
    ipp_oid = "…"                             # the practice's OID for its local patient ids: with it, a patient
                                              #   whose INS is not qualified is identified in the CDA by that
                                              #   local id, and professionals still get the XDM (X-MSS-INS: N);
                                              #   without it they get the PDF alone
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from agent.errors import ConfigError
from plugins.common.clinical.derive import Practice

PKCS12_SECRET = "mss.pkcs12"  # the passphrase (the name predates the import of the file itself)
CERTIFICATE_SECRET = "mss.certificate"  # the PKCS#12 bytes, `pkcs12 = "keyring:mss.certificate"`
REFRESH_SECRET = "mss.psc_refresh"
DIRECTORY_SECRET = "mss.directory_key"
AUTH_MODES = ("certificate", "token")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class MssSettings:
    mailbox: str = ""
    auth: str = "certificate"
    smtp_host: str = ""
    smtp_port: int = 587
    imap_host: str = ""
    imap_port: int = 993
    imap_tls: str = "implicit"
    ca_files: list[str] = field(default_factory=list)
    pkcs12: str | None = None
    psc_token_url: str | None = None
    psc_client_id: str = "vigie"
    nil: str = "VIGIE-0.1"
    directory_url: str | None = None
    timeout: float = 30.0
    poll_interval: float = 60.0
    idle: bool = True
    send_on_validate: bool = True
    to_patient: bool = True
    to_treating: bool = True
    block_patient_replies: bool = False
    structure_id: str = "3" + "00000000000000"
    structure_name: str = "Cabinet médical"
    facility_type: str = "SA07"
    practice_setting: str = "AMBULATOIRE"
    specialty: str = "G15_10/SM54"
    source_oid: str = "1.2.250.1.999.1"
    ipp_oid: str | None = None
    software: str = "Vigie"
    concurrency: int = 2
    max_attempts: int = 12
    base_delay: float = 2.0
    max_delay: float = 600.0

    @property
    def missing(self) -> str | None:
        """Why the plugin cannot reach the operator (French), or None."""
        if not self.mailbox:
            return "Adresse MSSanté du cabinet non configurée ([plugins.mss] mailbox)"
        if not self.smtp_host or not self.imap_host:
            return "Serveurs de l'opérateur MSSanté non configurés ([plugins.mss] smtp_host / imap_host)"
        if not self.ca_files:
            return "Autorité de certification de l'opérateur non configurée ([plugins.mss] ca_files)"
        if self.auth == "certificate" and not self.pkcs12:
            return "Certificat de la boîte applicative non configuré ([plugins.mss] pkcs12)"
        if self.auth == "token" and not self.psc_token_url:
            return "Pro Santé Connect non configuré ([plugins.mss] psc_token_url)"
        return None

    def practice(self) -> Practice:
        """The structure for the shared metadata builder (plugins/common/clinical/derive.py)."""
        profession, _, specialty = self.specialty.removeprefix("G15_").partition("/")
        return Practice(structure_id=self.structure_id, structure_name=self.structure_name,
                        source_oid=self.source_oid, activity_sector=self.facility_type,
                        practice_setting=self.practice_setting, ipp_oid=self.ipp_oid, profession=profession,
                        specialty=specialty)

    @property
    def domain(self) -> str:
        return self.mailbox.rsplit("@", 1)[-1] if "@" in self.mailbox else "localhost"


def _err(key: str, fr: str, en: str) -> ConfigError:
    return ConfigError(f"plugins.mss.{key}", fr, en)


def parse_settings(raw: dict[str, Any]) -> MssSettings:
    s = MssSettings()
    types = {f.name: f.type for f in fields(MssSettings)}
    for key, value in raw.items():
        if key not in types:
            raise _err(key, "clé inconnue", "unknown key")
        kind = str(types[key])
        if kind == "bool":
            if not isinstance(value, bool):
                raise _err(key, "true ou false attendu", "true or false expected")
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
                raise _err(key, "un entier positif est attendu", "a positive integer is expected")
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
                raise _err(key, "un nombre de secondes entre 0 et 3600 est attendu",
                           "a number of seconds between 0 and 3600 is expected")
            value = float(value)
        elif kind == "list[str]":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _err(key, "une liste de chemins est attendue", "a list of paths is expected")
        elif not isinstance(value, str) or not value.strip():
            raise _err(key, "une chaîne non vide est attendue", "a non-empty string is expected")
        setattr(s, key, value)
    if s.auth not in AUTH_MODES:
        raise _err("auth", "« certificate » ou « token » attendu", "'certificate' or 'token' expected")
    if s.imap_tls not in ("implicit", "starttls"):
        raise _err("imap_tls", "« implicit » ou « starttls » attendu", "'implicit' or 'starttls' expected")
    if s.mailbox and not _ADDRESS.match(s.mailbox):
        raise _err("mailbox", "adresse de messagerie invalide", "invalid mail address")
    return s
