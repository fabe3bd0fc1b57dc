"""The DMP plugin's first-run set-up step: endpoint and its CAs, authentication mode, structure certificate
(the PKCS#12 imported into the keyring, secret `dmp.certificate`, its passphrase too, secret `dmp.pkcs12`),
structure identity. Checked with the plugin's own `parse_settings`, the certificate opened and dated, the
endpoint reachable within a short timeout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.config import Config
from agent.secrets import SecretStore
from agent.setup_steps import DELETE, SetupChanges, SetupField, SetupStep, existing_files, reachable, split_list
from plugins.common import setup_form
from plugins.common.setup_checks import certificate_bytes, certificate_changes, check_pkcs12
from plugins.common.tls import keyring_name
from plugins.dmp.settings import AUTH_MODES, CERTIFICATE_SECRET, PKCS12_SECRET, DmpSettings, parse_settings

MODES = (("DIRECTE", "DIRECTE : signé par la CPS du praticien"),
         ("INDIRECTE", "INDIRECTE : signé par le certificat de la structure"))


def _fields(config: Config) -> list[SetupField]:
    s = setup_form.current(config, "dmp", parse_settings, DmpSettings)
    return [
        SetupField("url", "Adresse du service DMP", "url", default=s.url or ""),
        SetupField("ca_files", "Autorités de certification du DMP (fichiers PEM)", "file",
                   default=", ".join(s.ca_files), help="Séparées par des virgules."),
        SetupField("auth_mode", "Mode d'authentification", "choice", MODES, s.auth_mode),
        SetupField("pkcs12", "Certificat de la structure (fichier PKCS#12 .p12 à importer)", "file",
                   default="" if keyring_name(s.pkcs12) else s.pkcs12 or "", required=False, imported=True,
                   help="Obligatoire en mode INDIRECTE. Lu une fois et gardé dans le trousseau du système ; "
                        "vide : celui déjà importé."),
        SetupField("pkcs12_passphrase", "Phrase de passe du certificat de la structure", "secret", required=False,
                   help="Gardée dans le trousseau du système ; vide : inchangée."),
        SetupField("structure_id", "Identifiant de la structure (3 + SIRET, 1 + FINESS...)", "text",
                   default=s.structure_id),
        SetupField("structure_name", "Nom de la structure", "text", default=s.structure_name),
        setup_form.ipp_oid_field(s.ipp_oid),
    ]


def _raw(values: Mapping[str, str]) -> dict[str, Any]:
    get = values.get
    raw: dict[str, Any] = {"url": get("url", "").strip(), "ca_files": split_list(get("ca_files", "")),
                           "auth_mode": get("auth_mode", ""), "structure_id": get("structure_id", "").strip(),
                           "structure_name": get("structure_name", "").strip()}
    if setup_form.ipp_oid_value(values):
        raw["ipp_oid"] = setup_form.ipp_oid_value(values)
    return raw


def _verify(values: Mapping[str, str]) -> list[str]:
    if values.get("auth_mode") not in AUTH_MODES:
        return ["Mode d'authentification : DIRECTE ou INDIRECTE."]
    if oid_problems := setup_form.ipp_oid_problems(values):
        return oid_problems
    settings, problems = setup_form.parsed(parse_settings, _raw(values))
    if settings is None:
        return problems
    problems = existing_files(values.get("ca_files", ""), "Autorité de certification du DMP")
    label = "Certificat de la structure"
    data, read_problems = certificate_bytes(values.get("pkcs12", ""), CERTIFICATE_SECRET, label)
    problems += read_problems
    if settings.auth_mode == "INDIRECTE" and data is None and not read_problems:
        problems.append("Le mode INDIRECTE demande le certificat de la structure.")
    if data is not None:
        passphrase = values.get("pkcs12_passphrase") or SecretStore().get(PKCS12_SECRET)
        problems += check_pkcs12(data, passphrase, label)
    if not problems and settings.url:
        problems += reachable(settings.url, label="Service DMP")
    return problems


def _apply(values: Mapping[str, str]) -> SetupChanges:
    raw: dict[str, Any] = _raw(values)
    reference, blobs = certificate_changes(values.get("pkcs12", ""), CERTIFICATE_SECRET)
    raw["pkcs12"] = reference or DELETE
    raw["ipp_oid"] = setup_form.ipp_oid_config(values)
    secret = values.get("pkcs12_passphrase", "")
    return SetupChanges(config={"plugins": {"dmp": raw}}, blobs=blobs,
                        secrets={PKCS12_SECRET: secret} if secret and reference else {})


DMP_STEP = SetupStep(id="dmp", title="Dossier médical partagé (DMP)", fields=_fields, verify=_verify, apply=_apply,
                     intro="Vigie alimente le DMP des patients avec les documents validés.", order=40)
