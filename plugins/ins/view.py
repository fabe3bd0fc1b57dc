"""What the LGC, the popup and the web component show: built here once, rendered as is elsewhere.

`identity.get` is the compact contract of local-api.md; `identity.view` adds everything the
qualification panel needs (both columns, per-field states, the attestation sentence, the document
list with no default, which buttons are enabled and why not, the next step in French).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from plugins.ins import repository as repo
from plugins.ins.display import date_label, ins_type, timestamp_label, value_label
from plugins.ins.models import ATTESTATION_TEXT, CONFIRM_LABEL, FIELD_LABELS, IDENTITY_DOCUMENTS, Actor, Traits
from plugins.ins.outcome import CARD_MISSING, NEXT_STEPS, RETRYABLE
from plugins.ins.qualify_rules import QualifyDecision, apply_qualification, can_qualify, precondition_refusal
from plugins.ins.status import Status, insi_allowed
from plugins.ins.traits import FieldComparison, compare


def insi_traits(row: repo.IdentityRow) -> Traits | None:
    if not row.insi or row.insi.get("outcome") != "found":
        return None
    return Traits.from_dict(row.insi["returned_traits"])


def ins_matricule(row: repo.IdentityRow) -> str | None:
    """INSi's active matricule (13 characters), for the sex cross-check of `compare`."""
    return row.ins["matricule"] if row.ins else None


def blocking_reason(row: repo.IdentityRow) -> str | None:
    """What forbids qualification beyond the rules on traits and actors (qualify_rules.py)."""
    if row.insi_state == "pending":
        return "Interrogation d'INSi en cours : attendez sa réponse pour qualifier."
    insi = row.insi or {}
    if insi.get("ins_mismatch"):
        return NEXT_STEPS["ins_mismatch"]
    if insi.get("outcome") == "found" and not insi.get("ins", {}).get("key_valid", True):
        return ("La clé du matricule INS renvoyé par INSi ne se vérifie pas : qualification impossible, "
                "prévenez le support.")
    return None


def decide(row: repo.IdentityRow, actor: Actor, method: str, document_type: str | None,
           documents: list[str] | None) -> QualifyDecision:
    """`can_qualify` on this row, what blocks it (`blocking_reason`) taking the place of the INSi step:
    after who acts, the attributes and an already qualified status, before the status and the traits
    (a PROV identity whose scanned INS differs is told so, not told to run INSi again)."""
    status = Status(row.status)
    blocked = blocking_reason(row)
    if blocked is not None and precondition_refusal(status, row.attributes, actor, method) is None:
        return QualifyDecision(False, blocked)
    insi = insi_traits(row)
    local = Traits.from_dict(row.traits)
    comparison = compare(local, insi, ins_matricule=ins_matricule(row)) if insi is not None else None
    return can_qualify(status, row.attributes, comparison, actor, method, document_type, documents)


def _decisions(row: repo.IdentityRow, actor: Actor, documents: list[str] | None) -> dict[str, Any]:
    out = {}
    for method, doc in (("document", _first_allowed(documents)), ("attestation", None)):
        d = decide(row, actor, method, doc, documents)
        out[method] = {"allowed": d.allowed, "reason": d.reason_fr}
    return out


def _first_allowed(documents: list[str] | None) -> str:
    # Only to ask "would a document qualify?": the user still picks one (no default in the UI).
    return (documents or [code for code, _ in IDENTITY_DOCUMENTS])[0]


def identity_get(row: repo.IdentityRow, actor: Actor, documents: list[str] | None) -> dict[str, Any]:
    decisions = _decisions(row, actor, documents)
    result: dict[str, Any] = {"identity_id": row.id, "local_id": row.local_id, "status": row.status,
                              "attributes": row.attributes, "traits": row.traits,
                              "can_qualify": {"by_document": decisions["document"]["allowed"],
                                              "by_attestation": decisions["attestation"]["allowed"]}}
    if row.ins:
        result["ins"] = {"matricule": row.ins["matricule"] + row.ins["key"], "oid": row.ins["oid"]}
    if row.insi:
        result["insi"] = {k: row.insi.get(k) for k in ("outcome", "code", "returned_traits", "at", "message")}
        insi = insi_traits(row)
        # Compared now, not when INSi answered: the local traits may have changed since.
        local = Traits.from_dict(row.traits)
        comparison = compare(local, insi, ins_matricule=ins_matricule(row)) if insi is not None else []
        result["insi"]["differences"] = [asdict(c) for c in comparison if c.state != "equal"]
    return result


STATUS_LABELS = {"PROV": "Identité provisoire", "RECUP": "Identité récupérée (INSi)",
                 "VALI": "Identité validée (document)", "QUAL": "Identité qualifiée"}
# What a renderer shows next to a compared trait (it also highlights by `state`).
STATE_LABELS = {"equal": "identique", "equal_except_case_accents": "identique à la casse et aux accents près",
                "different": "différent"}

def state_label(c: FieldComparison) -> str:
    """What the row's state means to the user: a value only one side knows is consistent (never blocking)
    but "identical except case and accents" would misdescribe it."""
    if c.local is None and c.insi is not None:
        return "non renseigné dans le dossier (l'INSi le complète)"
    if c.insi is None and c.local is not None:
        return "non renseigné par l'INSi"
    if c.field == "first_names" and c.state == "equal_except_case_accents" and c.local and c.insi \
            and len(_NAME_SEPARATORS.split(c.insi.strip())) > len(_NAME_SEPARATORS.split(c.local.strip())):
        return "compatible : l'INSi connaît d'autres prénoms"  # the local list is the start of INSi's
    return STATE_LABELS[c.state]


_NAME_SEPARATORS = re.compile(r"[\s'-]+")


SOURCE_LABELS = {"lgc": "Dossier du logiciel", "vitale": "Carte Vitale", "batch": "Dossier du logiciel (lot)"}


def source_label(source: str) -> str:
    return "Datamatrix INS scanné" if source.startswith("datamatrix") else SOURCE_LABELS.get(source, source)


def identity_view(row: repo.IdentityRow, actor: Actor, documents: list[str] | None,
                  qualification: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole panel. `qualification` is the audit entry of the qualification (who, when, how), for a
    qualified identity; the panel then says "Identité qualifiée" with the INS, its type and who did it."""
    local = Traits.from_dict(row.traits)
    insi = insi_traits(row)
    comparison = compare(local, insi, ins_matricule=ins_matricule(row)) if insi is not None else []
    decisions = _decisions(row, actor, documents)
    allowed_docs = [(c, label) for c, label in IDENTITY_DOCUMENTS if documents is None or c in documents]
    outcome = (row.insi or {}).get("outcome")
    if row.insi_state == "pending" and outcome not in (*RETRYABLE, CARD_MISSING):
        outcome = "pending"  # a first call, or a new one after the traits changed
    # else: waiting for the outbox's next attempt after a timeout/unavailable answer, which says so
    message = (row.insi or {}).get("message") if outcome not in (None, "pending") else NEXT_STEPS[outcome or "idle"]
    qualified = row.status == Status.QUAL.value
    panel_message, notices = one_message(message, decisions, insi is not None, blocking_reason(row))
    if qualified:
        panel_message = None  # the pre-qualification instruction has nothing left to say
    relaunch = relaunch_action(row, outcome)
    return {
        "identity_id": row.id,
        "status": row.status,
        "status_label": STATUS_LABELS.get(row.status, row.status),
        "attributes": row.attributes,
        "source": row.source,
        "ins": ({"matricule": row.ins["matricule"] + row.ins["key"], "oid": row.ins["oid"]} if row.ins else None),
        "columns": {"local": local.to_dict(), "insi": insi.to_dict() if insi is not None else None},
        "column_labels": {"local": source_label(row.source), "insi": "Téléservice INSi"},
        "expected_ins": row.expected_ins,
        "history": (row.insi or {}).get("history", []),
        "fields": [{**asdict(c), "label": FIELD_LABELS.get(c.field, c.field), "state_label": state_label(c)}
                   for c in comparison],
        "rows": display_rows(local, comparison),
        "insi": {"state": row.insi_state, "outcome": outcome, "code": (row.insi or {}).get("code"),
                 "at": (row.insi or {}).get("at"), "ins_mismatch": bool((row.insi or {}).get("ins_mismatch"))},
        "message": message,
        "panel_message": panel_message,
        # What a renderer shows under each button: its refusal, unless `panel_message` already says it.
        "notices": {"qualify_document": notices["document"], "qualify_attestation": notices["attestation"]},
        "actions": {
            "qualify_document": decisions["document"],
            "qualify_attestation": decisions["attestation"],
            "postpone": {"allowed": True, "reason": None},
            "relaunch": relaunch,
        },
        "changes": [] if qualified or insi is None else qualification_changes(local, insi),
        "qualified": qualified_block(row, qualification) if qualified else None,
        "former_ins": [former_ins(h) for h in (row.insi or {}).get("history", [])],
        "documents": [{"code": c, "label": label} for c, label in allowed_docs],
        "document_default": None,
        "attestation_text": ATTESTATION_TEXT,
        "confirm_label": CONFIRM_LABEL,
        "actor": {"kind": actor.kind, "name": actor.name},
    }


# -- what a renderer shows (French, readable) ------------------------------------------------------------
ROW_FIELDS = ("birth_name", "first_names", "birth_date", "sex", "birth_place", "used_name", "used_first_name")
NO_INSI_ANSWER = "Pas de réponse INSi"  # the start of qualify_rules' refusal while INSi has no usable answer
RELAUNCH_LABEL = "Relancer la recherche INSi"
# After these answers a new search with the same traits may find what the last one did not (the INSi
# base is updated, a service fault was fixed); after a transient failure the outbox retries by itself.
RELAUNCHABLE = ("not_found", "several", "fault", "gave_up", "incomplete", "malformed", "timeout", "unavailable")
METHOD_LABELS = {"attestation": "attestation du praticien (patient connu)"}


def display_rows(local: Traits, comparison: list[FieldComparison]) -> list[dict[str, Any]]:
    """One row per trait, French label and readable values (JJ/MM/AAAA, Féminin, Ajaccio (2A004)). With an
    INSi answer: the comparison rows; without one: the record's traits alone (`insi` None)."""
    if comparison:
        return [{"field": c.field, "label": FIELD_LABELS.get(c.field, c.field), "state": c.state,
                 "state_label": state_label(c), "local": value_label(c.field, c.local),
                 "insi": value_label(c.field, c.insi)} for c in comparison]
    values = local.to_dict()
    return [{"field": f, "label": FIELD_LABELS[f], "state": None, "state_label": None,
             "local": value_label(f, values[f]), "insi": None}
            for f in ROW_FIELDS if values.get(f) not in (None, "", [])]


def one_message(message: str | None, decisions: dict[str, Any], insi_found: bool, blocked: str | None
                ) -> tuple[str | None, dict[str, str | None]]:
    """One message per state for the renderers (`panel_message`), and what each button's refusal adds under
    it (`notice`), None when the panel's message already says it. `message` and `reason` stay in the view as
    the API's contract (the INSi summary, identity.qualify's error)."""
    notices: dict[str, str | None] = {m: d["reason"] for m, d in decisions.items()}
    for m, reason in notices.items():
        if reason and (reason in (message, blocked) or (not insi_found and reason.startswith(NO_INSI_ANSWER))):
            notices[m] = None  # the state message explains it, with what to do next
    reasons = {r for r in notices.values() if r}
    if len(reasons) == 1 and all(notices.values()):
        # Both paths refused for one reason (traits differ, user not identified): said once, at the top.
        return next(iter(reasons)), {m: None for m in notices}
    return message, notices


def relaunch_action(row: repo.IdentityRow, outcome: str | None) -> dict[str, Any]:
    # A PROV identity INSi "found" had discordant traits when it answered: once the record is corrected, a
    # new search is what the panel tells the user to run.
    again = outcome in RELAUNCHABLE or (outcome == "found" and row.status == Status.PROV.value
                                        and not (row.insi or {}).get("ins_mismatch"))
    allowed = (row.status != Status.QUAL.value and row.insi_state != "pending" and again
               and insi_allowed(Status(row.status), row.attributes))
    return {"allowed": allowed, "reason": None, "label": RELAUNCH_LABEL}


def qualification_changes(local: Traits, insi: Traits) -> list[dict[str, Any]]:
    """What qualifying writes into the record (the INS traits replace the local strict ones), shown before
    the click: `CATARINA` → `CATARINA BELLA`, birth place filled."""
    before, after = local.to_dict(), apply_qualification(local, insi).to_dict()
    return [{"field": f, "label": FIELD_LABELS[f], "before": value_label(f, before[f]),
             "after": value_label(f, after[f])}
            for f in ROW_FIELDS if before[f] != after[f]]


def qualified_block(row: repo.IdentityRow, qualification: dict[str, Any] | None) -> dict[str, Any]:
    entry = qualification or {}
    who = entry.get("actor") or {}
    method = entry.get("method")
    docs = dict(IDENTITY_DOCUMENTS)
    how = METHOD_LABELS.get(method or "") or (f"document d'identité : {docs.get(entry.get('document_type') or '', '')}"
                                              if method == "document" else None)
    ins = row.ins or {}
    return {"title": "Identité qualifiée", "matricule": (ins.get("matricule") or "") + (ins.get("key") or ""),
            "type": ins_type(ins.get("oid")), "oid": ins.get("oid"), "by": who.get("name") or None,
            "at": timestamp_label(entry.get("at") or row.qualified_at), "how": how}


def former_ins(entry: dict[str, Any]) -> dict[str, Any]:
    """One INSHISTO entry as shown: matricule, type (from the OID, or the one INSi gave), dates when given."""
    from_oid = ins_type(entry.get("oid"))
    given = entry.get("type") or entry.get("matricule_type")  # INSi's TypeMatricule, when it sends one
    return {"matricule": entry.get("matricule"), "oid": entry.get("oid"),
            "type": from_oid if from_oid != "type inconnu" or not given else str(given),
            "start": date_label(entry.get("start_date")), "end": date_label(entry.get("end_date"))}
