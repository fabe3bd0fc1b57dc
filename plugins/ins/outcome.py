"""Turn one INSi search into the JSON-safe summary stored with the identity (pure, no I/O).

The summary is what every UI shows (`identity.get`, `identity.view`): the outcome, the code, the
returned traits, the comparison with the local traits, the INS and its history, and the next step in
French. Raw XML never goes here: it stays in the `ins_insi_calls` audit table.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import date
from typing import Any

from plugins.ins.insi.types import InsiCardMissing, InsId, InsiFault, InsiMalformedResponse, InsiTimeout, SearchOutcome
from plugins.ins.models import Traits
from plugins.ins.traits import DIFFERENT, EQUAL, compare

# Outcomes after which the outbox tries again later (the identity shows the state meanwhile).
RETRYABLE = ("timeout", "unavailable", "malformed")
# Not INSi's answer: the lookup waits for the professional's card, without using up its attempts.
CARD_MISSING = "card_missing"

NEXT_STEPS: dict[str, str] = {
    "found": "Identité INS trouvée : vérifiez un document d'identité du patient pour qualifier.",
    "found_different": "Les traits INSi diffèrent du dossier : vérifiez-les avec le patient et son document "
                       "d'identité, puis corrigez le dossier dans votre logiciel ; la recherche INSi repart "
                       "d'elle-même à la réouverture du dossier.",
    "ins_mismatch": "Le matricule INS du Datamatrix scanné diffère de celui renvoyé par INSi : ne qualifiez pas, "
                    "vérifiez le document scanné et l'identité du patient, puis signalez-le à la cellule "
                    "d'identitovigilance.",
    "not_found": "Aucune identité trouvée par INSi : vérifiez le nom de naissance, les prénoms, la date de "
                 "naissance et le sexe sur un document d'identité ; corrigez le dossier (la recherche repart à sa "
                 "réouverture) ou, s'il est juste, « Relancer la recherche INSi » plus tard.",
    "several": "Plusieurs identités trouvées : ajoutez au dossier les autres prénoms du document d'identité, puis "
               "le lieu de naissance ; la recherche INSi repart à la réouverture du dossier.",
    "fault": "INSi a refusé la demande : prévenez votre support (le détail est dans le journal d'audit).",
    "timeout": "INSi n'a pas répondu à temps : nouvel essai automatique en arrière-plan.",
    "unavailable": "Service INSi indisponible : nouvel essai automatique en arrière-plan.",
    "malformed": "Réponse INSi illisible : nouvel essai automatique en arrière-plan ; prévenez le support si cela "
                 "se répète.",
    "gave_up": "INSi n'a pas répondu après plusieurs essais : « Relancer la recherche INSi » un peu plus tard ; "
               "prévenez le support si cela dure.",
    "incomplete": "INSi a répondu sans tous les traits attendus : vérifiez l'identité sur un document d'identité, "
                  "puis « Relancer la recherche INSi ».",
    "card_missing": "Carte CPS retirée : insérez-la ; la recherche INSi reprendra d'elle-même.",
    "pending": "Interrogation d'INSi en cours…",
    "idle": "INSi n'a pas encore été interrogé pour ce patient.",
}


HISTORY_UNTRUSTED = (" Attention : un INS historique renvoyé par INSi a une période incohérente (début après "
                     "fin, ou date illisible) ; il n'est pas pris en compte.")


def _ins(i: InsId) -> dict[str, Any]:
    return {"matricule": i.matricule + (i.key or ""), "oid": i.oid, "key_valid": i.key_valid}


def _interval_coherent(start: str | None, end: str | None) -> bool:
    """DateDeb..DateFin of an INSHISTO: each optional, but readable, and not DateDeb after DateFin (the
    public CNDA test book has 2019-03-01 > 2019-02-28)."""
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError:
        return False
    return first is None or last is None or first <= last


def _historical(i: InsId) -> dict[str, Any]:
    """An INSHISTO entry with what the panel shows of it: identifier type and validity period."""
    coherent = _interval_coherent(i.start_date, i.end_date)
    return {**_ins(i), "type": i.matricule_type, "start_date": i.start_date, "end_date": i.end_date,
            "interval_valid": coherent, "trusted": coherent}


def returned_traits(outcome: SearchOutcome) -> dict[str, Any] | None:
    """The TIQ traits of a CR 00 answer, as `Traits.to_dict()` keys, or None when not usable."""
    r = outcome.response
    if r is None or r.cr_code != "00" or r.traits is None:
        return None
    t = r.traits
    names = (t.first_names_list or t.first_name or "").split()
    if not (t.birth_name and names and t.birth_date and t.sex):
        return None
    return {"birth_name": t.birth_name, "first_names": names, "birth_date": t.birth_date, "sex": t.sex,
            "birth_place": t.birth_place or None}


def summarise(outcome: SearchOutcome, local: Traits, *, expected_ins: dict[str, str] | None = None) -> dict[str, Any]:
    message_id = outcome.exchanges[-1].message_id if outcome.exchanges else None
    base: dict[str, Any] = {"at": time.time(), "message_id": message_id, "calls": len(outcome.exchanges),
                            "first_names_sent": list(outcome.first_names_sent)}
    err = outcome.error
    if err is not None:
        if isinstance(err, InsiCardMissing):
            return {**base, "outcome": CARD_MISSING, "code": None, "message": NEXT_STEPS[CARD_MISSING]}
        if isinstance(err, InsiFault) and not err.retryable:
            return {**base, "outcome": "fault", "code": err.error_code or err.subcode,
                    "message": f"{err.message_fr} {NEXT_STEPS['fault']}"}
        if isinstance(err, InsiTimeout):
            return {**base, "outcome": "timeout", "code": None, "message": NEXT_STEPS["timeout"]}
        if isinstance(err, InsiMalformedResponse):
            return {**base, "outcome": "malformed", "code": None, "message": NEXT_STEPS["malformed"]}
        if not isinstance(err, InsiFault) and not getattr(err, "retryable", True):
            # Refused before or outside SOAP (TLS handshake, HTTP 4xx, configuration): retrying cannot help.
            return {**base, "outcome": "fault", "code": None, "message": f"{err.message_fr} {NEXT_STEPS['fault']}"}
        code = err.error_code if isinstance(err, InsiFault) else None
        return {**base, "outcome": "unavailable", "code": code, "message": NEXT_STEPS["unavailable"]}
    response = outcome.response
    if response is None:
        return {**base, "outcome": "unavailable", "code": None, "message": NEXT_STEPS["unavailable"]}
    base.update(code=response.cr_code, label=response.cr_label)
    if response.cr_code == "01":
        return {**base, "outcome": "not_found", "message": NEXT_STEPS["not_found"]}
    if response.cr_code == "02":
        return {**base, "outcome": "several", "message": NEXT_STEPS["several"]}
    returned = returned_traits(outcome)
    if response.cr_code != "00" or response.active is None:
        return {**base, "outcome": "malformed", "message": NEXT_STEPS["malformed"]}
    if returned is None:
        return {**base, "outcome": "incomplete", "message": NEXT_STEPS["incomplete"]}
    comparison = compare(local, Traits.from_dict(returned), ins_matricule=response.active.matricule)
    consistent = all(c.state != DIFFERENT for c in comparison)
    active = _ins(response.active)
    history = [_historical(h) for h in response.history]
    ins_mismatch = False
    if expected_ins is not None:
        # NIR and NIA share a layout: the OID is part of the INS, so both must match one of INSi's (an
        # untrusted INSHISTO entry does not vouch for a scanned INS).
        known = {(i["matricule"], i["oid"]) for i in (active, *(h for h in history if h["trusted"]))}
        ins_mismatch = (expected_ins.get("matricule"), expected_ins.get("oid")) not in known
    message = NEXT_STEPS["found"]
    if ins_mismatch:
        message = NEXT_STEPS["ins_mismatch"]
    elif not consistent:
        message = NEXT_STEPS["found_different"]
    if not active["key_valid"]:
        message += " Attention : la clé du matricule renvoyé ne se vérifie pas ; signalez-le au support."
    if not all(h["trusted"] for h in history):
        message += HISTORY_UNTRUSTED
    return {
        **base, "outcome": "found", "returned_traits": returned,
        "consistent": consistent and not ins_mismatch and active["key_valid"],
        "ins_mismatch": ins_mismatch,
        "differences": [asdict(c) for c in comparison if c.state != EQUAL],
        "ins": active, "history": history, "message": message,
    }
