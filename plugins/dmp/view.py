"""The documents panel's view model (`dmp.view`, the popup's `dmp_document` panel): a document's DMP state in
French, its masking options and which actions are open and why not. Pure: built from the plugin's records,
rendered as is by `<vigie-documents>` (agent/web/vigie-documents.js) and the popup (plugins/dmp/popup_panel.py),
so no rule lives in a renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugins.common.clinical import valuesets as vs

KIND = "dmp_document"  # the popup panel kind (keys are document ids)
STATE_LABELS = {"queued": "En attente", "sending": "Envoi au DMP en cours…", "sent": "Envoyé au DMP",
                "failed": "Refusé", "cancelled": "Annulé"}
MASKING_LABELS = {"hidden_from_professionals": "Masqué aux professionnels",
                  "invisible_to_patient": "Invisible au patient",
                  "invisible_to_legal_representatives": "Invisible aux représentants légaux"}
# Reasons a queued document waits for the person at the workstation (the rest waits for the DMP itself).
USER_REASONS = ("Identité non qualifiée", "Carte CPS")
SENDING = "Envoi en cours : attendez sa fin."


def _action(allowed: bool, label: str, reason: str | None = None) -> dict[str, Any]:
    return {"allowed": allowed, "label": label, "reason": None if allowed else reason}


def needs_user(record: dict[str, Any]) -> bool:
    """Waits for the user: an identity to qualify, a CPS card to insert, or a refusal to look at."""
    reason = record.get("reason") or ""
    return record["state"] == "failed" or (record["state"] == "queued" and reason.startswith(USER_REASONS))


def document_view(record: dict[str, Any]) -> dict[str, Any]:
    """One document (a `dmp.send`/`dmp.cancel` record) as the panels show it."""
    state = record["state"]
    reason = record.get("reason")
    label = STATE_LABELS.get(state, state)
    summary = f"{label} ({reason})" if reason and state in ("queued", "failed") else label
    if state == "sending":
        cancel = _action(False, "Ne pas envoyer", "Trop tard : l'envoi au DMP est en cours.")
    elif state == "sent":
        cancel = _action(False, "Ne pas envoyer", "Déjà dans le DMP : masquez-le si besoin.")
    elif state == "cancelled":
        cancel = _action(False, "Ne pas envoyer", "Envoi déjà annulé.")
    else:
        cancel = _action(True, "Ne pas envoyer")
    masking = set(record.get("masking") or ())
    mask_open = state != "sending"
    return {
        "document_id": record["document_id"], "identity_id": record.get("identity_id"),
        "title": record.get("title") or "Document", "state": state, "state_label": label, "reason": reason,
        "summary": summary, "dmp_unique_id": record.get("dmp_unique_id"), "needs_user": needs_user(record),
        "masking": [{"option": o, "label": MASKING_LABELS[o], "checked": o in masking} for o in vs.MASKING_OPTIONS],
        "actions": {
            "cancel": cancel,
            "mask": _action(mask_open, "Options de masquage", SENDING),
            "resend": _action(state in ("failed", "cancelled"), "Envoyer au DMP",
                              None if state in ("failed", "cancelled") else "Le document est déjà parti ou en file."),
        },
        "mask_note": ("Une modification part au DMP (mise à jour des métadonnées)." if state == "sent" else
                      "Les options partent avec le document." if mask_open else SENDING),
    }


def identity_view(identity_id: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every document Vigie holds for an identity, newest first (`dmp.view`)."""
    ordered = sorted(records, key=lambda r: r.get("created_at") or 0, reverse=True)
    docs = [document_view(r) for r in ordered]
    waiting = sum(1 for d in docs if d["state"] in ("queued", "sending"))
    return {"identity_id": identity_id, "documents": docs, "waiting": waiting,
            "empty_message": "Aucun document partagé pour ce patient." if not docs else None}


def patient_label(traits: dict[str, Any]) -> str:
    """"ADRTROIS DOMINIQUE" for the popup (whose document it is); the INS plugin's traits."""
    first = traits.get("first_names") or []
    names = [str(traits.get("used_name") or traits.get("birth_name") or ""),
             str(first[0] if isinstance(first, list) and first else first or "")]
    return " ".join(n for n in names if n) or "Patient"


def offer(view: Mapping[str, Any]) -> str:
    """`popup_offer` for a document: up when it waits for the user, out of the queue otherwise."""
    return "raise" if view.get("needs_user") else "drop"
