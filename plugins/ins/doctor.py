"""The INS plugin's `vigie doctor` rows: INSi configured or not, the organisation certificate (from the keyring,
CN `INSI-AUTO`/`INSI-MANU`, its dates) and the téléservice reached with mTLS (plugins/common/doctor_checks.py)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from agent.doctor import FAIL, OK, Check, DoctorCheck, DoctorContext
from agent.errors import ConfigError
from plugins.common.doctor_checks import certificate_row, not_configured, tls_row, url_endpoint
from plugins.ins.insi.tls import ALLOWED_CLIENT_CNS
from plugins.ins.settings import PASSPHRASE_SECRET, parse_settings

NAME = "INSi"


def _cn_problem(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names and names[0].value in ALLOWED_CLIENT_CNS:
        return None
    return "le service INSi n'accepte que « INSI-AUTO » ou « INSI-MANU » comme nom (CN) : demandez le bon " \
           "certificat logiciel à l'ANS"


def run(context: DoctorContext) -> list[Check]:
    try:
        s = parse_settings(context.config.plugin_settings("ins"))
    except ConfigError as exc:
        return [Check(NAME, FAIL, f"{exc.key} : {exc.message_fr}")]
    if not s.configured:
        return [not_configured(NAME, "adresse du téléservice, IDAM, autorités de certification")]
    rows: list[Check] = []
    identity = None
    if s.auth == "mtls":
        row, identity = certificate_row(f"{NAME} : certificat de l'organisation", s.pkcs12_path, PASSPHRASE_SECRET,
                                        context, service=NAME, plugin="ins", subject_problem=_cn_problem)
        rows.append(row)
    else:
        rows.append(Check(f"{NAME} : authentification", OK, "carte CPS du praticien (lue à chaque appel)"))
    endpoint = url_endpoint(s.url or "")
    if endpoint is None:
        return [*rows, Check(f"{NAME} : téléservice", FAIL, f"adresse invalide « {s.url} »")]
    rows.append(tls_row(f"{NAME} : téléservice", *endpoint, s.ca_files, identity, service=NAME))
    return rows


INS_DOCTOR = DoctorCheck(NAME, run, order=20)
