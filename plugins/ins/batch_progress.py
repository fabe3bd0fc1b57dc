"""Where a start-of-day batch stands, for the secretary's batch page (pure).

Each line of the day's list is in one of four states, from its identity as it is now:
* `pending`: INSi not answered yet;
* `found`: an INS was found and agrees with the record (one click to qualify), or the identity is qualified;
* `to_complete`: INSi found nobody, several people, or traits that differ: the record needs a look;
* `error`: INSi refused or did not answer after its retries, or the line itself was unusable.
The remaining time is the pace so far applied to what is left.
"""

from __future__ import annotations

from typing import Any

from plugins.ins.outcome import NEXT_STEPS

STATES = ("pending", "found", "to_complete", "error")
LABELS = {"pending": "en attente d'INSi", "found": "INS trouvé", "to_complete": "à compléter", "error": "erreur"}
TO_COMPLETE = ("not_found", "several", "incomplete")


def line_state(line: dict[str, Any]) -> str:
    if line["status"] == "QUAL":
        return "found"
    if line["item_state"] == "pending":
        return "pending"
    insi = line["insi"] or {}
    outcome = insi.get("outcome")
    if outcome == "found":
        return "found" if insi.get("consistent") else "to_complete"
    if outcome in TO_COMPLETE or outcome is None:
        return "to_complete"
    return "error"


def _name(traits: dict[str, Any]) -> str:
    first = traits.get("first_names") or []
    return " ".join([str(traits.get("birth_name") or ""), *(first if isinstance(first, list) else [str(first)])])


def summary(batch: dict[str, Any], lines: list[dict[str, Any]], now: float) -> dict[str, Any]:
    """`identity.batch_status`'s result: counts, remaining time, the lines to look at (never the found ones)."""
    counts = dict.fromkeys(STATES, 0)
    shown = []
    for line in lines:
        state = line_state(line)
        counts[state] += 1
        if state in ("to_complete", "error"):
            insi = line["insi"] or {}
            shown.append({"position": line["position"], "identity_id": line["identity_id"], "state": state,
                          "label": LABELS[state], "patient": _name(line["traits"]),
                          "birth_date": line["traits"].get("birth_date"),
                          "message": insi.get("message") or NEXT_STEPS["idle"]})
    refused = [{"position": None, "identity_id": None, "state": "error", "label": "ligne refusée",
                "patient": f"ligne {problem['position'] + 2} du fichier", "birth_date": None,
                "message": problem["message"]} for problem in batch["rejected"]]  # + 2: header, from 1
    errors = counts["error"] + len(batch["rejected"])
    looked_up = sum(1 for line in lines if line["item_state"] == "done")
    elapsed = max(0.0, now - batch["created_at"])
    pending = counts["pending"]
    eta = round(pending * elapsed / looked_up) if pending and looked_up else (0 if not pending else None)
    return {"batch_id": batch["batch_id"], "name": batch["name"], "created_at": batch["created_at"],
            "total": len(lines), "done": len(lines) - pending, "rejected": len(batch["rejected"]),
            "found": counts["found"], "to_complete": counts["to_complete"], "errors": errors, "pending": pending,
            "finished": pending == 0, "remaining_seconds": eta, "lines": refused + shown}
