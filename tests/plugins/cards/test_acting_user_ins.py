"""Who is acting decides what the INS plugin allows (the card layer sets it; no card: the configuration)."""

from __future__ import annotations

import json
from typing import Any

from agent.acting import ActingUser
from tests.plugins.ins.conftest import make_agent  # noqa: F401 (fixture)
from tests.plugins.ins.test_plugin_e2e import DOMINIQUE, done, rows


async def test_acting_user_from_the_card_drives_ins_qualification(make_agent: Any, lgc_for: Any) -> None:  # noqa: F811
    agent = await make_agent()
    lgc = await lgc_for(agent)
    info = await lgc.result("agent.info")
    assert info["acting_user"]["source"] == "configured"  # [plugins.ins] user, shown as the default
    identity_id = (await lgc.result("identity.submit", {"traits": DOMINIQUE}))["identity_id"]
    await lgc.event("identity.updated", done(lgc, identity_id))

    await agent.acting.set_card_user(ActingUser(kind="cpe_anonymous", reader="Virtual PCD 00 01"))
    assert (await lgc.event("acting_user.changed"))["acting_user"]["kind"] == "cpe_anonymous"
    refused = await lgc.call("identity.qualify", {"identity_id": identity_id, "method": "document",
                                                  "document_type": "passport"})
    assert "anonyme" in refused["error"]["message"]

    await agent.acting.set_card_user(ActingUser(kind="cpe_nominative", name="ALICE DURAND", national_id="3750000001",
                                           reader="Virtual PCD 00 01"))
    refused = await lgc.call("identity.qualify", {"identity_id": identity_id, "method": "attestation"})
    assert "réservée au praticien" in refused["error"]["message"]
    qualified = await lgc.result("identity.qualify", {"identity_id": identity_id, "method": "document",
                                                      "document_type": "passport"})
    assert qualified["status"] == "QUAL"
    [entry] = await rows(agent, "SELECT actor FROM ins_audit WHERE identity_id = ? AND action = 'qualified'",
                         identity_id)
    assert json.loads(entry["actor"])["kind"] == "cpe_nominative"
    assert json.loads(entry["actor"])["national_id"] == "3750000001"

    await agent.acting.set_card_user(None)
    assert (await lgc.result("agent.info"))["acting_user"]["source"] == "configured"
