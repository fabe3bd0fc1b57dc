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
from plugins.ins.models import ATTESTATION_TEXT, CONFIRM_LABEL, FIELD_LABELS, IDENTITY_DOCUMENTS, Actor, Traits
from plugins.ins.outcome import CARD_MISSING, NEXT_STEPS, RETRYABLE
from plugins.ins.qualify_rules import QualifyDecision, can_qualify, precondition_refusal
from plugins.ins.status import Status
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


def identity_view(row: repo.IdentityRow, actor: Actor, documents: list[str] | None) -> dict[str, Any]:
    local = Traits.from_dict(row.traits)
    insi = insi_traits(row)
    comparison = compare(local, insi, ins_matricule=ins_matricule(row)) if insi is not None else []
    decisions = _decisions(row, actor, documents)
    allowed_docs = [(c, label) for c, label in IDENTITY_DOCUMENTS if documents is None or c in documents]
    outcome = (row.insi or {}).get("outcome")
    if row.insi_state == "pending" and outcome not in (*RETRYABLE, CARD_MISSING):
        outcome = "pending"  # a first call, or a new one after the traits changed
    # else: waiting for the outbox's next attempt after a timeout/unavailable answer, which says so
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
        "insi": {"state": row.insi_state, "outcome": outcome, "code": (row.insi or {}).get("code"),
                 "at": (row.insi or {}).get("at"), "ins_mismatch": bool((row.insi or {}).get("ins_mismatch"))},
        "message": (row.insi or {}).get("message") if outcome not in (None, "pending")
        else NEXT_STEPS[outcome or "idle"],
        "actions": {
            "qualify_document": decisions["document"],
            "qualify_attestation": decisions["attestation"],
            "postpone": {"allowed": True, "reason": None},
        },
        "documents": [{"code": c, "label": label} for c, label in allowed_docs],
        "document_default": None,
        "attestation_text": ATTESTATION_TEXT,
        "confirm_label": CONFIRM_LABEL,
        "actor": {"kind": actor.kind, "name": actor.name},
    }
