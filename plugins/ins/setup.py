"""The INS plugin's first-run set-up step: INSi mode and endpoint, organisation certificate, default practitioner.

The organisation certificate is checked as `InsiClient` would check it before its first call (subject CN
`INSI-AUTO`/`INSI-MANU`, validity dates, a key that the passphrase opens), then the endpoint is tried with a
real TLS handshake trusting only the configured CA files, within a short timeout. The PKCS#12 file given is
imported into the keyring (`ins.certificate`, the configuration then says `pkcs12_path =
"keyring:ins.certificate"`) and its passphrase too (`ins.pkcs12_passphrase`), never to the file: an empty
answer keeps what the keyring already has.
"""

from __future__ import annotations

import re
import socket
import ssl
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from agent.config import Config
from agent.errors import ConfigError
from agent.secrets import SecretStore
from agent.setup_steps import DELETE, SetupChanges, SetupField, SetupStep, existing_files, split_list
from plugins.common.setup_checks import certificate_bytes, certificate_changes
from plugins.common.tls import keyring_name
from plugins.ins.insi.tls import build_ssl_context, check_organisation_certificate, identity_from_bytes
from plugins.ins.insi.types import InsiConfigError
from plugins.ins.settings import CERTIFICATE_SECRET, PASSPHRASE_SECRET, PRESETS, parse_settings

HANDSHAKE_TIMEOUT = 3.0
NATIONAL_ID_PROBLEM = "L'identifiant national du praticien compte 9 à 12 chiffres ou lettres majuscules."
MODES = (("mtls", "certificat logiciel de l'organisation (mTLS)"), ("cps", "carte CPS du praticien"))


def _current(config: Config) -> dict[str, str]:
    try:
        s = parse_settings(config.plugin_settings("ins"))
    except ConfigError:
        return {}
    return {"auth": s.auth, "url": s.url or PRESETS["qualif_mtls"][0], "ca_files": ", ".join(map(str, s.ca_files)),
            "idam": s.idam,
            # A file path is offered for import; a certificate already in the keyring is kept by an empty answer.
            "pkcs12_path": "" if keyring_name(s.pkcs12_path) else str(s.pkcs12_path or ""), "user_name": s.user.name,
            "user_national_id": s.user.national_id or ""}


def _fields(config: Config) -> list[SetupField]:
    cur = _current(config)
    mtls = ("auth", "mtls")
    return [
        SetupField("auth", "Mode d'accès au téléservice INSi", "choice", MODES, cur.get("auth", "mtls")),
        SetupField("url", "Adresse du téléservice INSi", "url", default=cur.get("url", PRESETS["qualif_mtls"][0]),
                   help="Fournie par l'Assurance Maladie (qualification ou production)."),
        SetupField("ca_files", "Autorités de certification du téléservice (fichiers PEM ou .cer)", "file",
                   default=cur.get("ca_files", ""), help="Séparées par des virgules (ACR-EL, ACI-EL-ORG)."),
        SetupField("idam", "Numéro d'autorisation logiciel (IDAM)", "text", default=cur.get("idam", "")),
        SetupField("pkcs12_path", "Certificat de l'organisation (fichier PKCS#12 .p12 à importer)", "file",
                   default=cur.get("pkcs12_path", ""), required=False, when=mtls, imported=True,
                   help="Lu une fois et gardé dans le trousseau du système ; vide : celui déjà importé."),
        SetupField("pkcs12_passphrase", "Phrase de passe du certificat", "secret", required=False, when=mtls,
                   help="Gardée dans le trousseau du système, jamais dans un fichier ; vide : inchangée."),
        SetupField("user_name", "Praticien par défaut (nom affiché)", "text", default=cur.get("user_name", ""),
                   help="Utilisé tant qu'aucune carte CPS n'est insérée."),
        SetupField("user_national_id", "Identifiant national du praticien (tel que sur sa CPS)", "text",
                   default=cur.get("user_national_id", ""), required=False),
    ]


def _passphrase(values: Mapping[str, str]) -> str | None:
    given = values.get("pkcs12_passphrase", "")
    return given if given else SecretStore().get(PASSPHRASE_SECRET)


def _verify(values: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    mode = values.get("auth", "")
    if mode not in dict(MODES):
        return ["Mode d'accès inconnu : « mtls » (certificat) ou « cps » (carte)."]
    national_id = values.get("user_national_id", "").strip()
    if national_id and not re.fullmatch(r"[0-9A-Z]{9,12}", national_id):
        problems.append(NATIONAL_ID_PROBLEM)
    ca_text = values.get("ca_files", "")
    problems += existing_files(ca_text, "Autorité de certification")
    identity = None
    if mode == "mtls":
        label = "Certificat de l'organisation"
        data, read_problems = certificate_bytes(values.get("pkcs12_path", ""), CERTIFICATE_SECRET, label)
        passphrase = _passphrase(values)
        if read_problems or data is None:
            problems += read_problems or [f"{label} : indiquez le fichier PKCS#12 à importer (aucun dans le "
                                          "trousseau)."]
        elif passphrase is None:
            problems.append(f"{label} : phrase de passe absente (ni saisie, ni dans le trousseau).")
        else:
            try:
                identity = identity_from_bytes(data, passphrase)
                check_organisation_certificate(identity)
            except InsiConfigError as exc:
                problems.append(exc.message_fr)
                identity = None
    if not problems:
        problems += _handshake(values.get("url", ""), [Path(p).expanduser() for p in split_list(ca_text)], identity)
    return problems


def _handshake(url: str, ca_files: list[Path], identity: object) -> list[str]:
    """Connect and complete TLS with the téléservice, trusting only `ca_files` (a short timeout)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        return [f"Adresse du téléservice invalide « {url} » (attendu : https://hôte[:port]/chemin)."]
    try:
        context = build_ssl_context(ca_files, identity)  # type: ignore[arg-type]
    except InsiConfigError as exc:
        return [exc.message_fr]
    port = parts.port or 443
    try:
        with socket.create_connection((parts.hostname, port), timeout=HANDSHAKE_TIMEOUT) as sock, \
                context.wrap_socket(sock, server_hostname=parts.hostname):
            return []
    except ssl.SSLCertVerificationError:
        return [f"Le certificat présenté par {parts.hostname} n'est pas signé par les autorités configurées."]
    except (OSError, ssl.SSLError) as exc:
        return [f"Téléservice INSi injoignable ({parts.hostname}:{port} : {exc.strerror or type(exc).__name__}) ; "
                "vérifiez l'adresse et le réseau."]


def _apply(values: Mapping[str, str]) -> SetupChanges:
    mode = values["auth"]
    user = {"kind": "ps", "name": values.get("user_name", "").strip()}
    if values.get("user_national_id", "").strip():
        user["national_id"] = values["user_national_id"].strip()
    reference, blobs = certificate_changes(values.get("pkcs12_path", ""), CERTIFICATE_SECRET) if mode == "mtls" \
        else (None, {})
    ins = {"auth": mode, "url": values["url"].strip(), "ca_files": split_list(values.get("ca_files", "")),
           "idam": values["idam"].strip(), "user": user, "pkcs12_path": reference or DELETE}
    secrets = {PASSPHRASE_SECRET: values["pkcs12_passphrase"]} if mode == "mtls" and values.get(
        "pkcs12_passphrase") else {}
    return SetupChanges(config={"plugins": {"ins": ins}}, secrets=secrets, blobs=blobs)


INS_STEP = SetupStep(
    id="ins", title="Identité nationale de santé (téléservice INSi)", fields=_fields, verify=_verify, apply=_apply,
    intro="Vigie interroge le téléservice INSi avec le certificat de l'organisation ou la carte CPS.", order=20)
