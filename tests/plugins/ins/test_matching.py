"""Issue 19 item 4: one matching rule for card, scan, LGC submission and batch (by INS when known, then by
strict traits); a card inserted for a patient already qualified says so instead of a new lookup and panel."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.app import Agent
from agent.hookcall import call_each
from agent.store import MigrationRegistry, Store
from hardware.ports import VitaleBeneficiary, VitaleCard
from plugins.ins import repository
from plugins.ins.matching import KnownIns, known_ins, match_key, pick, strict_traits_match
from plugins.ins.models import Traits
from sandbox.insi.server import InsiSandbox
from tests.plugins.ins.conftest import DOMINIQUE, AgentFactory, Lgc, wait_until

LgcFactory = Callable[[Agent], Awaitable[Lgc]]
NIR, KEY, OID = "297022A020778", "78", "1.2.250.1.213.1.4.8"


@dataclass
class Row:
    traits: dict[str, Any]
    ins: dict[str, str] | None = None
    status: str = "PROV"
    updated_at: float = 0.0
    id: str = field(default="r")


def t(**changes: Any) -> Traits:
    base = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F", "birth_date": "1997-02-26"}
    return Traits.from_dict({**base, **changes})


def test_match_key_folds_case_and_accents_but_keeps_hyphens() -> None:
    assert match_key(t(birth_name="Adrtröis")) == match_key(t()) == "ADRTROIS|DOMINIQUE|1997-02-26"
    assert match_key(t(first_names=["DOMINIQUE", "MARIE"])) == match_key(t())  # the first birth first name
    assert match_key(t(birth_name="GUIVARC'H")) != match_key(t(birth_name="GUIVARCH"))
    assert match_key(t(first_names=[])) is None


def test_strict_traits_sex_and_place_only_when_both_known() -> None:
    stored = t(birth_place="2A020").to_dict()
    assert strict_traits_match(stored, t())  # a card knows no birth place
    assert strict_traits_match(stored, t(sex=""))  # a child's card knows no sex
    assert not strict_traits_match(stored, t(sex="M"))
    assert not strict_traits_match(stored, t(birth_place="2B020"))
    assert not strict_traits_match(stored, t(first_names=["TOUSSAINT"]))
    assert not strict_traits_match(stored, t(birth_date="1997-02-27"))


def test_pick_by_ins_then_traits_and_never_another_ins() -> None:
    ins = {"matricule": NIR, "key": KEY, "oid": OID}
    qualified = Row(t(birth_name="MARTIN").to_dict(), ins, "QUAL", 1.0, "q")  # usual name on the card
    card = known_ins(NIR, KEY)
    assert pick([qualified], t(birth_name="MARTIN"), card) is qualified
    assert pick([qualified], t(), card) is qualified  # by INS: the card's names may differ
    assert pick([qualified], t(birth_date="1997-02-27"), card) is None  # the INS, but not this person
    other = Row(t().to_dict(), {"matricule": "160012B020777", "key": "13", "oid": OID}, "QUAL", 2.0, "o")
    assert pick([other], t(), card) is None  # same traits, another INS: another person
    nia = Row(t().to_dict(), {"matricule": "1090763220888", "key": "35", "oid": "1.2.250.1.213.1.4.9"}, "QUAL")
    assert pick([nia], t(), card) is nia  # a card's NIR says nothing against a NIA: the traits decide
    scanned = KnownIns(NIR, KEY, "1.2.250.1.213.1.4.9")
    assert pick([qualified], t(), scanned) is None  # a Datamatrix's OID counts
    prov = Row(t().to_dict(), None, "PROV", 5.0, "p")
    qual = Row(t(birth_place="2A020").to_dict(), ins, "QUAL", 1.0, "q2")
    assert pick([prov, qual], t(), None) is qual  # the most advanced status first
    assert pick([prov], t(), None) is prov
    assert known_ins("297022A02077878") == KnownIns(NIR, KEY)
    assert known_ins(None) is None and known_ins("123") is None


def _card(*beneficiaries: VitaleBeneficiary, insured: str = NIR, key: str = KEY) -> VitaleCard:
    return VitaleCard(insured_nir=insured, insured_nir_key=key, beneficiaries=list(beneficiaries))


async def _qualified_dominique(agent: Agent, lgc: Lgc) -> str:
    identity_id = (await lgc.result("identity.submit", {"local_id": "dossier-7", "traits": DOMINIQUE}))["identity_id"]
    await lgc.event("identity.updated", lambda p: p["identity_id"] == identity_id and p["status"] == "RECUP")
    got = await lgc.result("identity.qualify", {"identity_id": identity_id, "method": "attestation"})
    assert got["status"] == "QUAL"
    return str(identity_id)


async def test_card_scan_and_batch_land_on_the_qualified_record(make_agent: AgentFactory, lgc_for: LgcFactory,
                                                                 insi_sandbox: InsiSandbox) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    identity_id = await _qualified_dominique(agent, lgc)
    events: list[tuple[str, dict[str, Any]]] = []
    agent.events.subscribe(lambda name, p: events.append((name, dict(p))))
    calls = insi_sandbox.stats.total

    # Her Vitale card (she is the insured person: the card's NIR is her INS): the same identity, no new
    # INSi call, no panel; the LGC and the UI are told the patient is already qualified.
    await call_each(agent.plugins, "vitale_card_read", reader="Lecteur 1",
                    card=_card(VitaleBeneficiary(usual_name="ADRTROIS", first_name="DOMINIQUE",
                                                 birth_date="19970226", quality="0")))
    await wait_until(lambda: any(n == "identity.recognised" for n, _ in events), what="recognised")
    recognised = next(p for n, p in events if n == "identity.recognised")
    assert recognised == {"identity_id": identity_id, "status": "QUAL", "source": "vitale", "reader": "Lecteur 1"}
    await wait_until(lambda: any(n == "agent.notice" and p["topic"] == "identity.recognised" for n, p in events),
                     what="notice for the user")
    notice = next(p for n, p in events if n == "agent.notice" and p["topic"] == "identity.recognised")
    assert notice["text"].startswith("Carte Vitale lue : ce patient a déjà une identité qualifiée")
    assert not [p for n, p in events if n == "identity.updated" and p.get("insi_outcome") == "pending"]
    # On her father's card (no own NIR, no sex on the card): found by her strict traits.
    await call_each(agent.plugins, "vitale_card_read", reader="Lecteur 1",
                    card=_card(VitaleBeneficiary(usual_name="ADRTROIS", first_name="DOMINIQUE",
                                                 birth_date="19970226", quality="6"),
                               insured="160012B020777", key="13"))
    await wait_until(lambda: len([n for n, _ in events if n == "identity.recognised"]) == 2, what="twice")
    # Her Datamatrix, and the start-of-day batch line.
    scanned = {**DOMINIQUE, "birth_place": "2A020", "matricule": NIR + KEY, "oid": OID}
    results = await call_each(agent.plugins, "scan_received", kind="ins_datamatrix", content=scanned, source="serial")
    assert any(r.get("identity_id") == identity_id for r in results if isinstance(r, dict))
    batch = await lgc.result("identity.batch", {"patients": [{"traits": {**DOMINIQUE, "first_names": "Dominique"}}]})
    assert batch["skipped"] == 1 and batch["queued"] == 0
    count = (await agent.store.fetchone("SELECT COUNT(*) FROM ins_identities"))[0]
    assert count == 1  # one patient, one identity
    await agent.outbox.wait_idle(5)
    assert insi_sandbox.stats.total == calls  # nothing asked INSi again
    got = await lgc.result("identity.get", {"identity_id": identity_id})
    assert got["status"] == "QUAL" and got["local_id"] == "dossier-7"
    assert got["traits"]["birth_place"] == "2A020"  # the qualified traits stay (no card names over them)


async def test_someone_else_is_a_new_identity(make_agent: AgentFactory, lgc_for: LgcFactory) -> None:
    agent = await make_agent()
    lgc = await lgc_for(agent)
    identity_id = await _qualified_dominique(agent, lgc)
    # Her father on his own card: another NIR, other traits.
    await call_each(agent.plugins, "vitale_card_read", reader="Lecteur 1",
                    card=_card(VitaleBeneficiary(usual_name="ADRTROIS", first_name="TOUSSAINT",
                                                 birth_date="19600101", quality="0"),
                               insured="160012B020777", key="13"))
    event = await lgc.event("identity.updated", lambda p: p["identity_id"] != identity_id
                            and p["insi_outcome"] not in ("pending",))
    assert event["status"] == "RECUP"
    # A twin with another first name on the same birth date: not her either.
    twin = await lgc.result("identity.submit", {"traits": {**DOMINIQUE, "first_names": ["CLAUDE"]}})
    assert twin["identity_id"] != identity_id
    assert (await agent.store.fetchone("SELECT COUNT(*) FROM ins_identities"))[0] == 3


async def test_migration_gives_existing_identities_their_match_key(tmp_path: Path) -> None:
    def registry(versions: tuple[int, ...]) -> MigrationRegistry:
        reg = MigrationRegistry()
        for version in versions:
            reg.register(repository.NAMESPACE, version, repository.MIGRATIONS[version])
        return reg

    store = Store(tmp_path / "v.db")
    await store.open(registry((1,)))  # an installation from before the matching rule
    traits = t(birth_name="Adrtröis").to_dict()
    await store.execute(
        "INSERT INTO ins_identities (id, source, status, traits, traits_key, created_at, updated_at)"
        " VALUES ('old', 'lgc', 'QUAL', ?, 'k', 0, 0)", (json.dumps(traits),))
    await store.close()
    store = Store(tmp_path / "v.db")
    assert await store.open(registry((1, 2, 3))) == [("ins", 2), ("ins", 3)]
    row = await store.fetchone("SELECT match_key FROM ins_identities WHERE id = 'old'")
    assert row[0] == "ADRTROIS|DOMINIQUE|1997-02-26"
    await store.close()
