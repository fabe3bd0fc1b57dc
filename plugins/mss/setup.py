"""The MSSanté plugin's first-run set-up step: the practice's mailbox, its operator's servers and CAs, the
authentication (certificate: the PKCS#12 imported into the keyring, secret `mss.certificate`, with its
passphrase, secret `mss.pkcs12`; or Pro Santé Connect). Checked with the plugin's own `parse_settings`, the
certificate opened and dated, and the SMTP and IMAP servers reachable within a short timeout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.config import Config
from agent.secrets import SecretStore
from agent.setup_steps import DELETE, SetupChanges, SetupField, SetupStep, existing_files, split_list
from plugins.common import setup_form
from plugins.common.setup_checks import certificate_bytes, certificate_changes, check_pkcs12, check_tcp
from plugins.common.tls import KEYRING_PREFIX, keyring_name
from plugins.mss.settings import CERTIFICATE_SECRET, PKCS12_SECRET, MssSettings, parse_settings

MODES = (("certificate", "certificat de la boîte applicative"), ("token", "Pro Santé Connect (boîte personnelle)"))


def _fields(config: Config) -> list[SetupField]:
    s = setup_form.current(config, "mss", parse_settings, MssSettings)
    cert = ("auth", "certificate")
    return [
        SetupField("mailbox", "Adresse MSSanté du cabinet", "text", default=s.mailbox),
        SetupField("auth", "Authentification", "choice", MODES, s.auth),
        SetupField("smtp_host", "Serveur d'envoi (SMTP)", "text", default=s.smtp_host),
        SetupField("smtp_port", "Port SMTP", "text", default=str(s.smtp_port)),
        SetupField("imap_host", "Serveur de réception (IMAP)", "text", default=s.imap_host),
        SetupField("imap_port", "Port IMAP", "text", default=str(s.imap_port)),
        SetupField("ca_files", "Autorités de certification de l'opérateur (fichiers PEM)", "file",
                   default=", ".join(s.ca_files), help="Séparées par des virgules."),
        SetupField("pkcs12", "Certificat de la boîte (fichier PKCS#12 .p12 à importer)", "file",
                   default="" if keyring_name(s.pkcs12) else s.pkcs12 or "", required=False, when=cert, imported=True,
                   help="Lu une fois et gardé dans le trousseau du système ; vide : celui déjà importé."),
        SetupField("pkcs12_passphrase", "Phrase de passe du certificat de la boîte", "secret", required=False,
                   when=cert, help="Gardée dans le trousseau du système ; vide : inchangée."),
        setup_form.ipp_oid_field(s.ipp_oid),
    ]


def _raw(values: Mapping[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {k: values.get(k, "").strip() for k in ("mailbox", "auth", "smtp_host", "imap_host")}
    raw["ca_files"] = split_list(values.get("ca_files", ""))
    for key in ("smtp_port", "imap_port"):
        text = values.get(key, "").strip()
        raw[key] = int(text) if text.isdigit() else text
    if raw["auth"] == "certificate":  # parse_settings wants one; `_verify` checks the one that will be used
        raw["pkcs12"] = KEYRING_PREFIX + CERTIFICATE_SECRET
    if setup_form.ipp_oid_value(values):
        raw["ipp_oid"] = setup_form.ipp_oid_value(values)
    return raw


def _verify(values: Mapping[str, str]) -> list[str]:
    if oid_problems := setup_form.ipp_oid_problems(values):
        return oid_problems
    settings, problems = setup_form.parsed(parse_settings, _raw(values))
    if settings is None:
        return problems
    problems = existing_files(values.get("ca_files", ""), "Autorité de certification de l'opérateur")
    if settings.auth == "certificate":
        label = "Certificat de la boîte"
        data, read_problems = certificate_bytes(values.get("pkcs12", ""), CERTIFICATE_SECRET, label)
        passphrase = values.get("pkcs12_passphrase") or SecretStore().get(PKCS12_SECRET)
        problems += read_problems or (check_pkcs12(data, passphrase, label) if data is not None else
                                      [f"{label} : indiquez le fichier PKCS#12 à importer (aucun dans le trousseau)."])
    if not problems:
        problems += check_tcp(settings.smtp_host, settings.smtp_port, "Serveur SMTP")
        problems += check_tcp(settings.imap_host, settings.imap_port, "Serveur IMAP")
    return problems


def _apply(values: Mapping[str, str]) -> SetupChanges:
    raw: dict[str, Any] = _raw(values)
    reference, blobs = certificate_changes(values.get("pkcs12", ""), CERTIFICATE_SECRET) \
        if raw["auth"] == "certificate" else (None, {})
    raw["pkcs12"] = reference or DELETE
    raw["ipp_oid"] = setup_form.ipp_oid_config(values)
    secret = values.get("pkcs12_passphrase", "")
    return SetupChanges(config={"plugins": {"mss": raw}}, blobs=blobs,
                        secrets={PKCS12_SECRET: secret} if secret and reference else {})


MSS_STEP = SetupStep(id="mss", title="Messagerie sécurisée de santé (MSSanté)", fields=_fields, verify=_verify,
                     apply=_apply, intro="Vigie envoie les documents validés par la messagerie MSSanté du cabinet.",
                     order=50)
