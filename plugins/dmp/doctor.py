"""The DMP plugin's `vigie doctor` rows: configured or not, the structure certificate (from the keyring: TLS
client authentication, and the VIHF signature in INDIRECTE mode) and the service reached with mTLS."""

from __future__ import annotations

from agent.doctor import FAIL, Check, DoctorCheck, DoctorContext
from agent.errors import ConfigError
from plugins.common.doctor_checks import certificate_row, not_configured, tls_row, url_endpoint
from plugins.dmp.settings import PKCS12_SECRET, parse_settings

NAME = "DMP"


def run(context: DoctorContext) -> list[Check]:
    try:
        s = parse_settings(context.config.plugin_settings("dmp"))
    except ConfigError as exc:
        return [Check(NAME, FAIL, f"{exc.key} : {exc.message_fr}")]
    if not s.url:
        return [not_configured(NAME, "adresse du service")]
    if s.missing:
        return [Check(NAME, FAIL, s.missing)]
    row, identity = certificate_row(f"{NAME} : certificat de la structure", s.pkcs12, PKCS12_SECRET, context,
                                    service=NAME, plugin="dmp")
    endpoint = url_endpoint(s.url)
    if endpoint is None:
        return [row, Check(f"{NAME} : service", FAIL, f"adresse invalide « {s.url} »")]
    return [row, tls_row(f"{NAME} : service", *endpoint, s.ca_files, identity, service=NAME)]


DMP_DOCTOR = DoctorCheck(NAME, run, order=40)
