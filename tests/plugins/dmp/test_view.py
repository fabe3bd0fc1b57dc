"""The documents panels' view model (plugins/dmp/view.py): French states, open actions, popup decision."""

from __future__ import annotations

from typing import Any

from plugins.dmp import view
from plugins.mss import recipients
from tests.ui_support import english_words

WAITING = "Identité non qualifiée : qualifiez l'identité du patient (INS) pour que le document parte au DMP."


def record(state: str, reason: str | None = None, masking: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"document_id": "d-1", "identity_id": "i-1", "state": state, "reason": reason, "title": "Ordonnance",
            "masking": list(masking), "dmp_unique_id": "1.2.3" if state == "sent" else None, "created_at": 1.0}


def test_each_state_in_french_with_its_open_actions() -> None:
    queued = view.document_view(record("queued", WAITING))
    assert (queued["state_label"], queued["actions"]["cancel"]["allowed"], queued["needs_user"]) == (
        "En attente", True, True)
    assert queued["summary"] == f"En attente ({WAITING})"
    sending = view.document_view(record("sending"))
    assert not sending["actions"]["cancel"]["allowed"] and not sending["actions"]["mask"]["allowed"]
    assert sending["actions"]["cancel"]["reason"]
    sent = view.document_view(record("sent", masking=("invisible_to_patient",)))
    assert sent["state_label"] == "Envoyé au DMP" and sent["actions"]["mask"]["allowed"]
    assert not sent["actions"]["cancel"]["allowed"] and not sent["actions"]["resend"]["allowed"]
    assert [m["label"] for m in sent["masking"] if m["checked"]] == ["Invisible au patient"]
    failed = view.document_view(record("failed", "Le DMP refuse ce document."))
    assert failed["state_label"] == "Refusé" and failed["needs_user"] and failed["actions"]["resend"]["allowed"]
    cancelled = view.document_view(record("cancelled", "Envoi au DMP annulé (« ne pas envoyer »)."))
    assert cancelled["state_label"] == "Annulé" and not cancelled["needs_user"]
    for v in (queued, sending, sent, failed, cancelled):
        shown = " ".join([v["state_label"], v["mask_note"], *(m["label"] for m in v["masking"]),
                          *(a["label"] for a in v["actions"].values()),
                          *(a["reason"] or "" for a in v["actions"].values())])
        assert not english_words(shown), shown


def test_popup_raises_only_what_waits_for_the_user() -> None:
    assert view.offer(view.document_view(record("queued", WAITING))) == "raise"
    assert view.offer(view.document_view(record("queued", "Carte CPS absente : insérez-la."))) == "raise"
    assert view.offer(view.document_view(record("failed", "Refus du DMP."))) == "raise"
    assert view.offer(view.document_view(record("queued", "DMP injoignable : nouvel essai."))) == "drop"
    assert view.offer(view.document_view(record("sent"))) == "drop"
    assert view.offer(view.document_view(record("cancelled"))) == "drop"


def test_identity_view_newest_first_and_empty_message() -> None:
    older, newer = record("sent"), {**record("queued"), "document_id": "d-2", "created_at": 2.0}
    v = view.identity_view("i-1", [older, newer])
    assert [d["document_id"] for d in v["documents"]] == ["d-2", "d-1"] and v["waiting"] == 1
    assert view.identity_view("i-1", [])["empty_message"] == "Aucun document partagé pour ce patient."
    assert view.patient_label({"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"]}) == "ADRTROIS DOMINIQUE"


def test_corsican_ins_patient_is_refused_with_a_french_reason() -> None:
    facts = recipients.PatientFacts(qualified_matricule="297022A02077878", invisible_to_patient=False, opposed=False)
    chosen, refusals = recipients.choose([], facts, to_patient=True)
    assert chosen == [] and [r.reason for r in refusals] == [recipients.NO_PATIENT_MAILBOX]
    facts = recipients.PatientFacts(qualified_matricule="236066322083656", invisible_to_patient=False, opposed=False)
    chosen, _ = recipients.choose([], facts, to_patient=True)
    assert [r.address for r in chosen] == ["236066322083656@patient.mssante.fr"]
