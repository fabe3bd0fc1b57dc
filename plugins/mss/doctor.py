"""The MSSanté plugin's `vigie doctor` rows: configured or not, the application mailbox's certificate (from the
keyring) or the Pro Santé Connect refresh token, and the operator's SMTP (STARTTLS) and IMAP servers reached
with TLS trusting only the configured CAs."""

from __future__ import annotations

from agent.doctor import FAIL, OK, Check, DoctorCheck, DoctorContext
from agent.errors import ConfigError
from plugins.common.doctor_checks import as_running_agent_says, certificate_row, not_configured, tls_row
from plugins.mss.settings import PKCS12_SECRET, parse_settings

NAME = "MSSanté"
PSC_SECRET = "mss.psc_refresh"


def run(context: DoctorContext) -> list[Check]:
    try:
        s = parse_settings(context.config.plugin_settings("mss"))
    except ConfigError as exc:
        return [Check(NAME, FAIL, f"{exc.key} : {exc.message_fr}")]
    if not s.mailbox:
        return [not_configured(NAME, "adresse de la boîte du cabinet")]
    if s.missing:
        return [Check(NAME, FAIL, s.missing)]
    identity = None
    if s.auth == "certificate":
        row, identity = certificate_row(f"{NAME} : certificat de la boîte", s.pkcs12, PKCS12_SECRET, context,
                                        service=NAME, plugin="mss")
    elif context.secrets is None:
        row = as_running_agent_says(f"{NAME} : Pro Santé Connect", context, "mss")
    elif context.secrets.get(PSC_SECRET):
        row = Check(f"{NAME} : Pro Santé Connect", OK, f"jeton de renouvellement dans le trousseau ({s.mailbox})")
    else:
        row = Check(f"{NAME} : Pro Santé Connect", FAIL, "aucune connexion Pro Santé Connect enregistrée : "
                    "reconnectez la boîte personnelle")
    imap = "tls" if s.imap_tls == "implicit" else "imap"
    return [row,
            tls_row(f"{NAME} : serveur SMTP", s.smtp_host, s.smtp_port, s.ca_files, identity, service=NAME,
                    protocol="smtp"),
            tls_row(f"{NAME} : serveur IMAP", s.imap_host, s.imap_port, s.ca_files, identity, service=NAME,
                    protocol=imap)]


MSS_DOCTOR = DoctorCheck(NAME, run, order=50)
