"""The INS plugin end to end: LGC over the websocket → agent → outbox → INSi sandbox over TLS → store → events."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from agent.app import Agent
from agent.config import config_from_dict
from agent.hookcall import call_each
from hardware.ports import VitaleBeneficiary, VitaleCard
from sandbox.insi.server import InsiSandbox
from tests.conftest import TEST_TOKEN
from tests.plugins.ins.conftest import DOMINIQUE, AgentFactory, Lgc, wait_until

LgcFactory = Callable[[Agent], Awaitable[Lgc]]


def done(lgc: Lgc, identity_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda p: p["identity_id"] == identity_id and p["insi_outcome"] not in ("pending",)


async def rows(agent: Agent, sql: str, *params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await agent.store.fetchall(sql, params)]


async def test_ins_e2e_submit_recup_then_qualify_by_attestation(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                                insi_sandbox: InsiSandbox) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    submitted = await lgc.result("identity.submit", {"local_id": "dossier-42", "traits": DOMINIQUE})
    assert submitted["status"] == "PROV"  # answered before INSi: the call runs in the background
    identity_id = submitted["identity_id"]
    event = await lgc.event("identity.updated", done(lgc, identity_id))
    assert event == {"identity_id": identity_id, "status": "RECUP", "insi_outcome": "found"}

    got = await lgc.result("identity.get", {"identity_id": identity_id})
    assert got["ins"] == {"matricule": "297022A02077878", "oid": "1.2.250.1.213.1.4.8"}
    assert got["insi"]["returned_traits"]["birth_place"] == "2A020"
    assert got["can_qualify"] == {"by_document": True, "by_attestation": True}

    view = await lgc.result("identity.view", {"identity_id": identity_id})
    assert view["attestation_text"].startswith("J'atteste déjà connaître l'identité de cette personne")
    assert view["document_default"] is None and len(view["documents"]) == 6
    assert {f["field"]: f["state"] for f in view["fields"]}["birth_name"] == "equal"

    qualified = await lgc.result("identity.qualify", {"identity_id": identity_id, "method": "attestation"})
    assert qualified["status"] == "QUAL"
    assert qualified["traits"]["birth_place"] == "2A020"  # INS traits replace the local strict traits
    await lgc.event("identity.updated", lambda p: p["identity_id"] == identity_id and p["status"] == "QUAL")

    audit = await rows(agent, "SELECT * FROM ins_audit WHERE identity_id = ? AND action = 'qualified'", identity_id)
    assert len(audit) == 1
    entry = audit[0]
    assert entry["method"] == "attestation" and entry["document_type"] is None
    assert (entry["status_before"], entry["status_after"]) == ("RECUP", "QUAL")
    assert json.loads(entry["actor"])["kind"] == "ps"
    assert json.loads(entry["traits_before"])["birth_place"] is None
    assert json.loads(entry["traits_after"])["birth_place"] == "2A020"
    calls = await rows(agent, "SELECT * FROM ins_insi_calls WHERE identity_id = ?", identity_id)
    assert [c["message_id"] for c in calls] == [entry["insi_message_id"]]
    assert "<insi_recsans_ins:NomNaissance>ADRTROIS</insi_recsans_ins:NomNaissance>" in calls[0]["request_xml"]
    assert "297022A020778" in calls[0]["response_xml"]
    assert insi_sandbox.stats.total == 1

    # Audit trail readable by an admin client (the config token has the admin scope).
    trail = await lgc.result("identity.audit", {"identity_id": identity_id})
    assert [e["action"] for e in trail["entries"]] == ["created", "insi_result", "qualified"]


async def test_ins_same_record_twice_makes_one_call(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                    insi_sandbox: InsiSandbox) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    first = await lgc.result("identity.submit", {"local_id": "42", "traits": DOMINIQUE})
    second = await lgc.result("identity.submit", {"local_id": "42", "traits": DOMINIQUE})
    assert first["identity_id"] == second["identity_id"]
    await lgc.event("identity.updated", done(lgc, first["identity_id"]))
    third = await lgc.result("identity.submit", {"local_id": "42", "traits": DOMINIQUE})
    await agent.outbox.wait_idle(5)
    assert third["identity_id"] == first["identity_id"]
    assert insi_sandbox.stats.total == 1


async def test_ins_qualified_identity_is_not_queried_again(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                           insi_sandbox: InsiSandbox) -> None:
    agent = await make_agent(dedupe_window=0.001)
    lgc = await lgc_for(agent)
    identity_id = (await lgc.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
    await lgc.event("identity.updated", done(lgc, identity_id))
    await lgc.result("identity.qualify", {"identity_id": identity_id, "method": "document",
                                          "document_type": "passport"})
    qualified_traits = (await lgc.result("identity.get", {"identity_id": identity_id}))["traits"]
    again = await lgc.result("identity.submit", {"traits": qualified_traits})
    await agent.outbox.wait_idle(5)
    assert again == {"identity_id": identity_id, "status": "QUAL"}
    assert insi_sandbox.stats.total == 1


async def test_ins_not_found_and_several_say_what_to_do(make_agent: AgentFactory, lgc_for: LgcFactory) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    houilles = {"birth_name": "HOUILLES", "first_names": ["PIERRE", "PAUL", "JACQUES"], "sex": "M",
                "birth_date": "1993-01-27"}
    vinci = {"birth_name": "DE VINCI", "first_names": ["LEONARDO"], "sex": "M", "birth_date": "2014-02-01"}
    expected = {"HOUILLES": ("not_found", "01", "Aucune identité trouvée"),
                "DE VINCI": ("several", "02", "Plusieurs identités trouvées")}
    for traits in (houilles, vinci):
        identity_id = (await lgc.result("identity.submit", {"traits": traits}))["identity_id"]
        event = await lgc.event("identity.updated", done(lgc, identity_id))
        outcome, code, message = expected[traits["birth_name"]]
        assert event["insi_outcome"] == outcome and event["status"] == "PROV"
        view = await lgc.result("identity.view", {"identity_id": identity_id})
        assert view["insi"]["code"] == code and view["message"].startswith(message)
        assert not view["actions"]["qualify_attestation"]["allowed"]
        assert view["actions"]["qualify_attestation"]["reason"]
        refused = await lgc.call("identity.qualify", {"identity_id": identity_id, "method": "document",
                                                      "document_type": "passport"})
        assert refused["error"]["code"] == -32010


async def test_ins_discordant_traits_are_shown_and_block_qualification(make_agent: AgentFactory,
                                                                       lgc_for: LgcFactory) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    # The record holds a second first name INSi does not know: found on DOMINIQUE, but the lists differ.
    traits = {**DOMINIQUE, "first_names": ["Dominique", "Marie"]}
    identity_id = (await lgc.result("identity.submit", {"traits": traits}))["identity_id"]
    event = await lgc.event("identity.updated", done(lgc, identity_id))
    assert event["status"] == "PROV" and event["insi_outcome"] == "found"
    view = await lgc.result("identity.view", {"identity_id": identity_id})
    states = {f["field"]: f["state"] for f in view["fields"]}
    assert states["first_names"] == "different" and states["birth_name"] == "equal"
    assert view["message"].startswith("Les traits INSi diffèrent")
    refused = await lgc.call("identity.qualify", {"identity_id": identity_id, "method": "attestation"})
    assert refused["error"]["code"] == -32010
    assert "prénoms" in refused["error"]["message"]


async def test_ins_actor_rules_anonymous_cpe_and_delegated_attestation(make_agent: AgentFactory,
                                                                       lgc_for: LgcFactory) -> None:
    agent = await make_agent(user={"kind": "cpe_nominative", "name": "Secrétariat"})
    lgc = await lgc_for(agent)
    identity_id = (await lgc.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
    await lgc.event("identity.updated", done(lgc, identity_id))
    view = await lgc.result("identity.view", {"identity_id": identity_id})
    assert view["actions"]["qualify_document"]["allowed"] is True
    assert view["actions"]["qualify_attestation"]["allowed"] is False
    refused = await lgc.call("identity.qualify", {"identity_id": identity_id, "method": "attestation"})
    assert refused["error"]["code"] == -32010
    no_document = await lgc.call("identity.qualify", {"identity_id": identity_id, "method": "document"})
    assert no_document["error"]["code"] == -32010
    ok = await lgc.result("identity.qualify", {"identity_id": identity_id, "method": "document",
                                               "document_type": "national_id_card"})
    assert ok["status"] == "QUAL"
    audit = await rows(agent, "SELECT * FROM ins_audit WHERE action = 'qualified'")
    assert audit[0]["document_type"] == "national_id_card"
    assert json.loads(audit[0]["actor"])["kind"] == "cpe_nominative"


async def test_ins_anonymous_cpe_cannot_qualify(make_agent: AgentFactory, lgc_for: LgcFactory) -> None:
    agent = await make_agent(user={"kind": "cpe_anonymous", "name": "Accueil"})
    lgc = await lgc_for(agent)
    identity_id = (await lgc.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
    await lgc.event("identity.updated", done(lgc, identity_id))
    refused = await lgc.call("identity.qualify", {"identity_id": identity_id, "method": "document",
                                                  "document_type": "passport"})
    assert refused["error"]["code"] == -32010
    assert (await lgc.result("identity.get", {"identity_id": identity_id}))["status"] == "RECUP"


async def test_ins_invalid_traits_get_french_field_errors(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                          insi_sandbox: InsiSandbox) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    answer = await lgc.call("identity.submit", {"traits": {**DOMINIQUE, "birth_date": "1997-02-30", "sex": "X"}})
    assert answer["error"]["code"] == -32602
    assert set(answer["error"]["data"]["fields"]) == {"birth_date", "sex"}
    assert insi_sandbox.stats.total == 0


async def test_ins_timeout_returns_at_once_and_shows_a_clear_state(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                                   insi_sandbox: InsiSandbox) -> None:
    insi_sandbox.configure(faults=[{"match": {"birth_name": "ADRTROIS"}, "fault": "timeout"}])
    agent = await make_agent(total_timeout=0.3, search_timeout=1.0, max_attempts=1)
    lgc = await lgc_for(agent)
    submitted = await lgc.result("identity.submit", {"traits": DOMINIQUE})
    identity_id = submitted["identity_id"]
    event = await lgc.event("identity.updated", done(lgc, identity_id))
    assert event["insi_outcome"] == "timeout" and event["status"] == "PROV"
    view = await lgc.result("identity.view", {"identity_id": identity_id})
    # Still pending: the outbox will try again later; the popup shows why it waits.
    assert view["insi"]["state"] == "pending"
    assert not view["actions"]["qualify_document"]["allowed"]
    jobs = await rows(agent, "SELECT state, attempts, last_error FROM outbox WHERE handler = 'ins.lookup'")
    assert jobs[0]["state"] == "pending" and jobs[0]["attempts"] == 1
    assert "LookupDeferred" in jobs[0]["last_error"]


async def test_ins_service_unavailable_is_retried_by_the_outbox(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                                insi_sandbox: InsiSandbox) -> None:
    insi_sandbox.configure(faults=[{"match": {"birth_name": "ADRTROIS"}, "fault": "siram_40", "times": 2}])
    # The first two answers are siram_40 faults (the client's own retry is off: max_attempts 1).
    agent = await make_agent(max_attempts=1, retry_delay=0.05)
    lgc = await lgc_for(agent)
    identity_id = (await lgc.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
    first = await lgc.event("identity.updated", done(lgc, identity_id))
    assert first["insi_outcome"] == "unavailable"
    await lgc.event("identity.updated", lambda p: p["identity_id"] == identity_id and p["status"] == "RECUP")
    assert insi_sandbox.stats.total == 3


async def test_ins_sender_fault_is_final_and_not_retried(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                         insi_sandbox: InsiSandbox) -> None:
    agent = await make_agent(idam="IDAM-INCONNU")
    lgc = await lgc_for(agent)
    identity_id = (await lgc.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
    event = await lgc.event("identity.updated", done(lgc, identity_id))
    assert event["insi_outcome"] == "fault"
    got = await lgc.result("identity.get", {"identity_id": identity_id})
    assert got["insi"]["code"] == "desir_550"
    assert "support" in got["insi"]["message"]
    await agent.outbox.wait_idle(5)
    assert insi_sandbox.stats.total == 1
    calls = await rows(agent, "SELECT error, response_xml FROM ins_insi_calls")
    assert calls[0]["error"].startswith("fault") and "desir_550" in calls[0]["response_xml"]


async def test_ins_vitale_card_looks_up_each_beneficiary(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                         insi_sandbox: InsiSandbox) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    card = VitaleCard(insured_nir="297022A020778", insured_nir_key="78", beneficiaries=[
        VitaleBeneficiary(usual_name="ADRTROIS", first_name="DOMINIQUE", birth_date="19970226", quality="0"),
    ])
    await call_each(agent.plugins, "vitale_card_read", reader="Lecteur 1", card=card)
    event = await lgc.event("identity.updated", lambda p: p["insi_outcome"] not in ("pending",))
    assert event["status"] == "RECUP"
    view = await lgc.result("identity.view", {"identity_id": event["identity_id"]})
    assert view["column_labels"]["local"] == "Carte Vitale"
    assert view["ins"]["matricule"] == "297022A02077878"
    assert insi_sandbox.stats.per_operation.get("rechercherInsAvecCarteVitale") == 1


async def test_ins_datamatrix_scan_is_checked_against_insi(make_agent: AgentFactory, lgc_for: LgcFactory) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    scanned = {**DOMINIQUE, "birth_place": "2A020", "matricule": "297022A02077878", "oid": "1.2.250.1.213.1.4.8"}
    await call_each(agent.plugins, "scan_received", kind="ins_datamatrix", content=scanned, source="serial")
    event = await lgc.event("identity.updated", lambda p: p["insi_outcome"] == "found")
    assert event["status"] == "RECUP"
    view = await lgc.result("identity.view", {"identity_id": event["identity_id"]})
    assert view["column_labels"]["local"] == "Datamatrix INS scanné"
    assert view["insi"]["ins_mismatch"] is False and view["actions"]["qualify_attestation"]["allowed"]


async def test_ins_datamatrix_with_another_ins_is_a_discrepancy(make_agent: AgentFactory,
                                                                lgc_for: LgcFactory) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    # Same traits, but the code carries ADRTROIS TOUSSAINT's INS: never qualify on that.
    scanned = {**DOMINIQUE, "matricule": "160012B02077713", "oid": "1.2.250.1.213.1.4.8"}
    await call_each(agent.plugins, "scan_received", kind="ins_datamatrix", content=scanned, source="lgc")
    event = await lgc.event("identity.updated", lambda p: p["insi_outcome"] == "found")
    assert event["status"] == "PROV"
    view = await lgc.result("identity.view", {"identity_id": event["identity_id"]})
    assert view["insi"]["ins_mismatch"] is True
    assert view["message"].startswith("Le matricule INS du Datamatrix scanné diffère")
    refused = await lgc.call("identity.qualify", {"identity_id": event["identity_id"], "method": "document",
                                                  "document_type": "passport"})
    assert refused["error"]["code"] == -32010


async def test_ins_cps_mode_signed_assertion_in_sandbox(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                         insi_sandbox: InsiSandbox) -> None:
    # Sandbox mode: the INSi stand-in's plugin plugs its software key in as the CPS card (the card port), and
    # the product INS plugin signs the SAML assertion with it as with a card.
    agent = await make_agent(auth="cps", sandbox_mode=True)
    assert agent.acting.current.kind == "cps" and agent.acting.current.reader == "Bac à sable (clé logicielle CPS)"
    lgc = await lgc_for(agent)
    identity_id = (await lgc.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
    event = await lgc.event("identity.updated", done(lgc, identity_id))
    assert event["status"] == "RECUP"
    request = (await rows(agent, "SELECT request_xml FROM ins_insi_calls"))[0]["request_xml"]
    assert "<wsse:Security" in request and "SignatureValue" in request
    assert insi_sandbox.stats.to_dict()["outcomes"].get("CR 00") == 1


async def test_ins_cps_mode_without_card_is_degraded(make_agent: AgentFactory) -> None:
    agent = await make_agent(auth="cps", wait=False)
    await wait_until(lambda: agent.plugins.states["ins"].reason is not None, what="INS degraded")
    assert agent.plugins.states["ins"].started is False
    assert "carte CPS" in (agent.plugins.states["ins"].reason or "")


async def test_ins_not_configured_is_degraded_with_a_clear_reason(tmp_path: Any, lgc_for: LgcFactory) -> None:
    agent = Agent(config_from_dict({"api": {"port": 0, "tokens": [TEST_TOKEN], "allowed_origins": ["http://lgc.test"]},
                                    "store": {"path": str(tmp_path / "s.sqlite3")},
                                    "log": {"dir": str(tmp_path / "logs")}}))
    await agent.start()
    try:
        lgc = await lgc_for(agent)
        answer = await lgc.call("identity.submit", {"traits": DOMINIQUE})
        assert answer["error"]["code"] == -32004
        assert "INSi non configuré" in answer["error"]["message"]
        info = await lgc.result("agent.info")
        ins = next(p for p in info["plugins"] if p["name"] == "ins")
        assert ins["status"] == "degraded"
    finally:
        await agent.stop()

