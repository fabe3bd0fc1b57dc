"""The e-prescription plugin's first-run set-up step: on or off, téléservice endpoint, printing, export folder.

The answers are checked with the plugin's own `parse_settings` (same rules and messages as at start-up), and
the téléservice must answer a TCP connection within a short timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.config import Config
from agent.errors import ConfigError
from agent.setup_steps import DELETE, SetupChanges, SetupField, SetupStep, reachable
from plugins.eprescription.settings import EprescriptionSettings, parse_settings

YES_NO = (("oui", "oui"), ("non", "non"))


def _current(config: Config) -> EprescriptionSettings:
    try:
        return parse_settings(config.plugin_settings("eprescription"))
    except ConfigError:
        return EprescriptionSettings()


def _fields(config: Config) -> list[SetupField]:
    s = _current(config)
    on = ("enabled", "oui")
    return [
        SetupField("enabled", "Utiliser l'e-prescription", "choice", YES_NO, "oui" if s.enabled else "non"),
        SetupField("url", "Adresse du téléservice e-prescription", "url", default=s.url or "", when=on),
        SetupField("timeout", "Attente maximale du téléservice (secondes)", "text", default=f"{s.timeout:g}", when=on),
        SetupField("printer", "Imprimante des ordonnances (vide : celle du système)", "text",
                   default=s.printer or "", required=False, when=on),
        SetupField("page_size", "Format du papier", "choice", (("A4", "A4"), ("A5", "A5")), s.page_size, when=on),
        SetupField("export_dir", "Dossier des ordonnances exportées", "file", default=str(s.export_dir), when=on),
    ]


def _raw(values: Mapping[str, str]) -> dict[str, Any]:
    if values.get("enabled") != "oui":
        return {"enabled": False}
    get = values.get
    raw: dict[str, Any] = {"enabled": True, "url": get("url", "").strip(), "page_size": get("page_size", "A4"),
                           "export_dir": get("export_dir", "").strip()}
    try:
        raw["timeout"] = float(values.get("timeout", "").replace(",", "."))
    except ValueError:
        raw["timeout"] = values.get("timeout", "")
    if values.get("printer", "").strip():
        raw["printer"] = values["printer"].strip()
    return raw


def _verify(values: Mapping[str, str]) -> list[str]:
    if values.get("enabled") not in ("oui", "non"):
        return ["Répondez « oui » ou « non »."]
    try:
        settings = parse_settings(_raw(values))
    except ConfigError as exc:
        return [f"{exc.key.rsplit('.', 1)[-1]} : {exc.message_fr}"]
    if settings.enabled and settings.url:
        return reachable(settings.url, timeout=min(settings.timeout, 3.0), label="Téléservice e-prescription")
    return []


def _apply(values: Mapping[str, str]) -> SetupChanges:
    raw: dict[str, Any] = _raw(values)
    if raw["enabled"] and "printer" not in raw:
        raw["printer"] = DELETE
    return SetupChanges(config={"plugins": {"eprescription": raw}})


EPRESCRIPTION_STEP = SetupStep(
    id="eprescription", title="E-prescription (ordonnances numériques)", fields=_fields, verify=_verify,
    apply=_apply, intro="Le code 2D de l'ordonnance numérique vient du téléservice e-prescription.", order=30)
