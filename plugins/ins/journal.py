"""The "Journal des qualifications": the audit trail of one day, as the practitioner reads it and as the
identitovigilance referent receives it (CSV). Pure: rows from `repository.audit_between` in, French out.

Who (the CPS/CPE holder, or Vigie itself for an INSi answer), when, how (the identity document or the
attestation), which patient (names, birth date, INS once qualified), and the status change.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import date, datetime, timedelta
from typing import Any

from plugins.ins.models import IDENTITY_DOCUMENTS

ACTIONS = {"created": "Identité créée", "traits_changed": "Traits modifiés par le logiciel",
           "insi_result": "Réponse INSi", "qualified": "Identité qualifiée",
           "insi_relaunched": "Recherche INSi relancée"}
STATUSES = {"PROV": "provisoire", "RECUP": "récupérée", "VALI": "validée", "QUAL": "qualifiée"}
ACTOR_KINDS = {"ps": "CPS", "cpe_nominative": "CPE nominative", "cpe_anonymous": "CPE anonyme",
               "unknown": "non identifié", "configured": "utilisateur configuré"}
SOURCES = {"lgc": "dossier ouvert dans le logiciel", "vitale": "carte Vitale", "batch": "lot du début de journée",
           "insi": "téléservice INSi"}
QUALIFYING = ("qualified",)
CSV_COLUMNS = ("Date", "Heure", "Patient", "Date de naissance", "INS", "Action", "Méthode", "Statut avant",
               "Statut après", "Par")


def day_bounds(day: date) -> tuple[float, float]:
    """The local day as [start, end) timestamps (the practice's clock, DST included)."""
    start = datetime(day.year, day.month, day.day)
    end = start + timedelta(days=1)
    return time.mktime(start.timetuple()), time.mktime(end.timetuple())


def _actor(actor: dict[str, Any] | None) -> str:
    actor = actor or {}
    if actor.get("kind") == "system":
        source = str(actor.get("source") or "")
        where = "Datamatrix INS scanné" if source.startswith("datamatrix") else SOURCES.get(source, source)
        return f"Vigie (automatique : {where})" if where else "Vigie (automatique)"
    name = actor.get("name") or "utilisateur sans nom"
    kind = ACTOR_KINDS.get(str(actor.get("kind")), str(actor.get("kind") or ""))
    return f"{name} ({kind})" if kind else str(name)


def _method(method: str | None, document_type: str | None) -> str:
    if method == "attestation":
        return "attestation du praticien (patient connu)"
    if method == "document":
        labels = dict(IDENTITY_DOCUMENTS)
        return f"document d'identité : {labels.get(document_type or '', document_type or 'non précisé')}"
    return ""


def _patient(traits: dict[str, Any] | None) -> tuple[str, str]:
    t = traits or {}
    first = t.get("first_names") or []
    names = " ".join([str(t.get("birth_name") or ""), *(first if isinstance(first, list) else [str(first)])])
    birth = str(t.get("birth_date") or "")
    if len(birth) == 10:
        birth = f"{birth[8:10]}/{birth[5:7]}/{birth[0:4]}"
    return names.strip(), birth


def entries(rows: list[dict[str, Any]], *, only_qualifications: bool = False) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if only_qualifications and r["action"] not in QUALIFYING:
            continue
        moment = datetime.fromtimestamp(r["at"])
        name, birth = _patient(r.get("traits_after") or r.get("current_traits"))
        ins = None
        if r.get("current_status") == "QUAL" and r.get("ins_matricule"):
            ins = f"{r['ins_matricule']}{r.get('ins_key') or ''}"
        out.append({
            "at": r["at"], "date": moment.strftime("%d/%m/%Y"), "time": moment.strftime("%H:%M:%S"),
            "identity_id": r["identity_id"], "patient": name, "birth_date": birth, "ins": ins,
            "action": r["action"], "action_label": ACTIONS.get(r["action"], r["action"]),
            "method": _method(r.get("method"), r.get("document_type")),
            "status_before": STATUSES.get(r.get("status_before") or "", ""),
            "status_after": STATUSES.get(r.get("status_after") or "", ""), "by": _actor(r.get("actor")),
        })
    return out


def _cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula (a card holder's name is not validated like traits).
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


def to_csv(items: list[dict[str, Any]]) -> str:
    """`;`-separated with a BOM: what a spreadsheet opens in French settings without an import dialog."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in items:
        writer.writerow([_cell(str(v)) for v in (e["date"], e["time"], e["patient"], e["birth_date"], e["ins"] or "",
                                                 e["action_label"], e["method"], e["status_before"], e["status_after"],
                                                 e["by"])])
    return "\ufeff" + buffer.getvalue()
