"""Issue 19 item 3: a Vitale card without sex (a beneficiary who is not the insured person) does not block
qualification; INSi completes the sex, cross-checked with its matricule, like a birth place the card lacks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from agent.app import Agent
from agent.hookcall import call_each
from hardware.ports import VitaleBeneficiary, VitaleCard
from tests.plugins.ins.conftest import AgentFactory, Lgc

LgcFactory = Callable[[Agent], Awaitable[Lgc]]


async def test_card_without_sex_is_completed_by_insi_and_qualifies(make_agent: AgentFactory,
                                                                   lgc_for: LgcFactory) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    # DOMINIQUE on her father's card (quality 6, no own NIR): the card gives no sex.
    card = VitaleCard(insured_nir="160012B020777", insured_nir_key="13", beneficiaries=[
        VitaleBeneficiary(usual_name="ADRTROIS", first_name="DOMINIQUE", birth_date="19970226", quality="6"),
    ])
    await call_each(agent.plugins, "vitale_card_read", reader="Lecteur 1", card=card)
    event = await lgc.event("identity.updated", lambda p: p["insi_outcome"] not in ("pending",))
    assert event["status"] == "RECUP"  # consistent: a missing sex is no discordance
    view = await lgc.result("identity.view", {"identity_id": event["identity_id"]})
    assert view["columns"]["local"]["sex"] == ""
    sex = next(f for f in view["fields"] if f["field"] == "sex")
    assert (sex["local"], sex["insi"], sex["state"]) == (None, "F", "equal_except_case_accents")
    for action in ("qualify_document", "qualify_attestation"):
        assert view["actions"][action]["allowed"], view["actions"][action]["reason"]
        assert "sexe" not in (view["actions"][action]["reason"] or "")
    qualified = await lgc.result("identity.qualify", {"identity_id": event["identity_id"], "method": "attestation"})
    assert qualified["status"] == "QUAL"
    assert qualified["traits"]["sex"] == "F"  # the INS traits replace the card's
