"""The DMP feed end to end: LGC over the websocket, INSi, e-prescription and DMP stand-ins over real HTTPS."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from agent.acting import ActingUser
from hardware.pkcs11.token import Pkcs11Token
from plugins.common.clinical import cda, xds
from plugins.dmp.metadata import unique_id
from sandbox.cards.softhsm import SoftToken
from sandbox.dmp.server import DmpSandbox
from tests.cardkit import TEST_PIN
from tests.plugins.dmp.conftest import DOMINIQUE, PDF, AgentFactory, assert_validated
from tests.plugins.ins.conftest import Lgc

ORDONNANCE = json.loads((Path(__file__).resolve().parents[1] / "eprescription" / "data" / "ordonnance.json")
                        .read_text(encoding="utf-8"))


def updated(document_id: str, state: str):  # type: ignore[no-untyped-def]
    return lambda p: p["document_id"] == document_id and p["state"] == state


async def identity(lgc: Lgc, *, qualify: bool) -> str:
    submitted = await lgc.result("identity.submit", {"traits": DOMINIQUE})
    identity_id: str = submitted["identity_id"]
    await lgc.event("identity.updated", lambda p: p["identity_id"] == identity_id and p["insi_outcome"] == "found")
    if qualify:
        await qualify_now(lgc, identity_id)
    return identity_id


async def qualify_now(lgc: Lgc, identity_id: str) -> None:
    qualified = await lgc.result("identity.qualify", {"identity_id": identity_id, "method": "document",
                                                      "document_type": "passport"})
    assert qualified["status"] == "QUAL"


async def prescribe(lgc: Lgc, identity_id: str) -> str:
    ordonnance = copy.deepcopy(ORDONNANCE)
    ordonnance["patient"].update({"identity_id": identity_id, "birth_name": "ADRTROIS", "used_name": None,
                                  "first_names": "DOMINIQUE", "birth_date": "1997-02-26"})
    result = await lgc.result("prescription.create", {"prescription": ordonnance})
    return str(result["prescription_id"])


async def test_dmp_e2e_ordonnance_for_qualified_identity_goes_on_the_same_click(
        dmp_agent: AgentFactory, lgc_for: Any, dmp_sandbox: DmpSandbox) -> None:
    agent = await dmp_agent()
    lgc = await lgc_for(agent)
    identity_id = await identity(lgc, qualify=True)
    document_id = await prescribe(lgc, identity_id)  # the one click: nothing else is asked
    sent = await lgc.event("dmp.document.updated", updated(document_id, "sent"), timeout=20)
    assert sent["dmp_unique_id"] == unique_id(document_id) and sent["reason"] is None
    assert dmp_sandbox.copies(sent["dmp_unique_id"]) == 1
    assert_validated(dmp_sandbox)
    stored = dmp_sandbox.entry(sent["dmp_unique_id"])
    assert stored is not None and stored.view.codes["type_code"][0] == "57833-6"  # automatic: a prescription
    assert stored.view.codes["class_code"][0] == "42"
    header = cda.read_header(stored.content)
    assert header.ins == "297022A02077878" and header.pdf.startswith(b"%PDF-")

    # consultation needs the recorded consent, given after informing the patient
    refused = await lgc.call("dmp.documents", {"identity_id": identity_id})
    assert "Consentement" in refused["error"]["message"]
    uninformed = await lgc.call("dmp.consent", {"identity_id": identity_id, "granted": True})
    assert "Informez" in uninformed["error"]["message"]
    consent = await lgc.result("dmp.consent", {"identity_id": identity_id, "granted": True, "patient_informed": True,
                                               "how": "oral"})
    assert consent["granted"] is True and consent["by"] == "Dr Olivier SANDBOX" and consent["how"] == "oral"
    assert (await lgc.result("dmp.consent", {"identity_id": identity_id}))["at"] == consent["at"]
    listed = await lgc.result("dmp.documents", {"identity_id": identity_id})  # TD0.3 then TD3.1
    assert [(d["unique_id"], d["document_id"], d["class_code"]) for d in listed["documents"]] == [
        (sent["dmp_unique_id"], document_id, "42")]
    got = await lgc.result("dmp.retrieve", {"identity_id": identity_id, "unique_id": sent["dmp_unique_id"]})
    assert base64.b64decode(got["content"]) == header.pdf and got["mime"] == "application/pdf"
    status = await lgc.result("dmp.status", {"identity_id": identity_id})
    assert status == {"identity_id": identity_id, "exists": True, "closed": False, "authorization": "VALIDE",
                      "treating_physician": False}


async def test_dmp_e2e_unqualified_identity_waits_then_goes_once_qualified(
        dmp_agent: AgentFactory, lgc_for: Any, dmp_sandbox: DmpSandbox) -> None:
    agent = await dmp_agent()
    lgc = await lgc_for(agent)
    identity_id = await identity(lgc, qualify=False)
    document_id = await prescribe(lgc, identity_id)
    waiting = await lgc.event("dmp.document.updated", updated(document_id, "queued"))
    assert "qualifiez l'identité" in waiting["reason"]
    await agent.outbox.wait_idle(5)
    assert not dmp_sandbox.documents
    info = await lgc.result("agent.info")
    assert info["services"]["dmp"]["waiting"] == 1
    badge = agent.plugins.pm.get_plugin("dmp").service.badge()  # the tray count (register_tray_badges)
    assert (badge.count, badge.attention) == (1, True) and "qualifiez" in badge.hint
    await qualify_now(lgc, identity_id)
    sent = await lgc.event("dmp.document.updated", updated(document_id, "sent"), timeout=20)
    assert dmp_sandbox.copies(sent["dmp_unique_id"]) == 1
    assert agent.plugins.pm.get_plugin("dmp").service.badge() is None  # nothing waits any more
    assert_validated(dmp_sandbox)


async def test_dmp_e2e_opposition_and_cancel_keep_documents_out(dmp_agent: AgentFactory, lgc_for: Any,
                                                                dmp_sandbox: DmpSandbox) -> None:
    agent = await dmp_agent()
    lgc = await lgc_for(agent)
    identity_id = await identity(lgc, qualify=False)
    waiting_id = await prescribe(lgc, identity_id)
    await lgc.event("dmp.document.updated", updated(waiting_id, "queued"))
    cancelled = await lgc.result("dmp.cancel", {"document_id": waiting_id})  # "ne pas envoyer": one click
    assert cancelled["state"] == "cancelled"
    await lgc.result("dmp.consent", {"identity_id": identity_id, "kind": "feeding", "granted": False})
    await qualify_now(lgc, identity_id)
    opposed_id = await prescribe(lgc, identity_id)
    opposed = await lgc.event("dmp.document.updated", updated(opposed_id, "cancelled"))
    assert "opposé" in opposed["reason"]
    await agent.outbox.wait_idle(5)
    assert not dmp_sandbox.documents and not [e for e in dmp_sandbox.exchanges if "ProvideAndRegister" in e.action]


async def test_dmp_e2e_masking_codes_then_iti57_update(dmp_agent: AgentFactory, lgc_for: Any,
                                                       dmp_sandbox: DmpSandbox) -> None:
    agent = await dmp_agent()
    lgc = await lgc_for(agent)
    identity_id = await identity(lgc, qualify=True)
    record = await lgc.result("dmp.send", {"document": {
        "identity_id": identity_id, "pdf": base64.b64encode(PDF).decode(), "title": "Compte rendu de consultation",
        "kind": "consultation_report", "author": {"name": "Dr Olivier Sandbox", "rpps": "10003456789"},
        "masking": ["invisible_to_patient"]}})
    assert record["type_code"] == "11488-4" and record["masking"] == ["invisible_to_patient"]
    sent = await lgc.event("dmp.document.updated", updated(record["document_id"], "sent"), timeout=20)
    stored = dmp_sandbox.entry(sent["dmp_unique_id"])
    assert stored is not None and [c for c, _ in stored.view.confidentiality] == ["N", "INVISIBLE_PATIENT"]
    assert stored.view.codes["class_code"][0] == "10"

    masked = await lgc.result("dmp.mask", {"document_id": record["document_id"],
                                           "masking": ["hidden_from_professionals", "invisible_to_patient"]})
    assert masked["masking"] == ["hidden_from_professionals", "invisible_to_patient"]
    await agent.outbox.wait_idle(10)
    now = dmp_sandbox.entry(sent["dmp_unique_id"])
    assert now is not None and now.view.entry_uuid != stored.view.entry_uuid
    assert [c for c, _ in now.view.confidentiality] == ["N", "MASQUE_PS", "INVISIBLE_PATIENT"]
    assert any("UpdateDocumentSet" in e.action and e.outcome == "ok" for e in dmp_sandbox.exchanges)
    assert_validated(dmp_sandbox)

    await lgc.result("dmp.mask", {"document_id": record["document_id"], "delete": True})
    await agent.outbox.wait_idle(10)
    assert dmp_sandbox.entry(sent["dmp_unique_id"]) is None
    deleted = [d for d in dmp_sandbox.documents.values() if d.element.get("status") == xds.DELETED]
    assert len(deleted) == 1


async def test_dmp_e2e_sandbox_down_then_back_nothing_lost(dmp_agent: AgentFactory, lgc_for: Any,
                                                           dmp_sandbox: DmpSandbox) -> None:
    agent = await dmp_agent()
    lgc = await lgc_for(agent)
    identity_id = await identity(lgc, qualify=True)
    port = dmp_sandbox.port
    await dmp_sandbox.stop()
    document_id = await prescribe(lgc, identity_id)
    waiting = await lgc.event("dmp.document.updated",
                              lambda p: p["document_id"] == document_id and "injoignable" in (p["reason"] or ""),
                              timeout=20)
    assert waiting["state"] == "queued" and "Nouvel essai automatique" in waiting["reason"]
    await dmp_sandbox.start(port)  # back, same address
    sent = await lgc.event("dmp.document.updated", updated(document_id, "sent"), timeout=40)
    assert dmp_sandbox.copies(sent["dmp_unique_id"]) == 1
    assert_validated(dmp_sandbox)


async def test_dmp_e2e_bad_documents_get_french_reasons_and_are_kept(dmp_agent: AgentFactory, lgc_for: Any,
                                                                    dmp_sandbox: DmpSandbox) -> None:
    agent = await dmp_agent(max_document_bytes=2048)
    lgc = await lgc_for(agent)
    identity_id = await identity(lgc, qualify=True)
    base = {"identity_id": identity_id, "title": "Certificat", "kind": "certificate",
            "author": {"name": "Dr Olivier Sandbox", "rpps": "10003456789"}}
    not_pdf = await lgc.result("dmp.send", {"document": {**base, "pdf": base64.b64encode(b"GIF89a...").decode()}})
    assert not_pdf["state"] == "failed" and "n'est pas un PDF" in not_pdf["reason"]
    big = await lgc.result("dmp.send", {"document": {**base, "pdf": base64.b64encode(PDF + b"0" * 4096).decode()}})
    assert big["state"] == "failed" and "trop volumineux" in big["reason"]
    malformed = await lgc.call("dmp.send", {"document": {**base, "pdf": "pas du base64 !"}})
    assert malformed["error"]["code"] == -32602 and "base64" in malformed["error"]["message"]
    unknown = await lgc.call("dmp.send", {"document": {**base, "kind": "horoscope", "pdf": "JVBERi0="}})
    assert unknown["error"]["code"] == -32602
    # nothing lost: both refused documents are kept with their reason
    kept = await agent.store.fetchall("SELECT document_id, state, payload IS NOT NULL FROM dmp_documents")
    assert sorted(tuple(r)[1:] for r in kept) == [("failed", 1), ("failed", 1)]
    assert not dmp_sandbox.exchanges


async def test_dmp_e2e_directe_vihf_signed_by_the_cps_rejected_then_resent(
        dmp_agent: AgentFactory, lgc_for: Any, dmp_sandbox: DmpSandbox, cps_token: SoftToken) -> None:
    agent = await dmp_agent(auth_mode="DIRECTE")
    lgc = await lgc_for(agent)
    identity_id = await identity(lgc, qualify=True)
    # no card in the reader: the document waits and says what to do
    document_id = await prescribe(lgc, identity_id)
    waiting = await lgc.event("dmp.document.updated",
                              lambda p: p["document_id"] == document_id and "CPS" in (p["reason"] or ""))
    assert waiting["state"] == "queued" and "insérez votre carte CPS" in waiting["reason"]

    # a card whose certificate the DMP does not trust (the structure key posing as a CPS): VIHF refused
    dmp = agent.plugins.pm.get_plugin("dmp").service
    await agent.acting.set_card_user(ActingUser(kind="cps", name="Olivier SANDBOX", national_id="810003456789"),
                                signer=dmp.client.structure_signer)
    failed = await lgc.event("dmp.document.updated", updated(document_id, "failed"), timeout=20)
    assert failed["reason"].startswith("VIHF refusé par le DMP")
    assert not dmp_sandbox.documents

    # the real CPS (PKCS#11 on SoftHSM2, PIN through the prompt): sent again on request
    token = Pkcs11Token(cps_token.module, ask_pin=lambda tries: TEST_PIN, token_label=cps_token.label)
    try:
        await agent.acting.set_card_user(ActingUser(kind="cps", name="Olivier SANDBOX", national_id="810003456789"),
                                    signer=token)
        again = await lgc.result("dmp.send", {"document_id": document_id})
        assert again["state"] == "queued"
        sent = await lgc.event("dmp.document.updated", updated(document_id, "sent"), timeout=20)
        vihf = [e.vihf for e in dmp_sandbox.exchanges if e.outcome == "ok" and "ProvideAndRegister" in e.action]
        assert vihf and vihf[-1] is not None and vihf[-1].mode == "DIRECTE" and vihf[-1].ps_id == "810003456789"
        assert dmp_sandbox.copies(sent["dmp_unique_id"]) == 1
        assert_validated(dmp_sandbox)
    finally:
        await agent.acting.set_card_user(None)
        token.close()
