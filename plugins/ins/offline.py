"""Identities submitted while the practice's database is away: kept in the local spool, looked up, merged.

A record opened, a Vitale beneficiary or a Datamatrix scan that meets an unreachable database (shared
store only) is written to the workstation's spool (agent/spool.py) with a fresh identity id, and the
answer says `queued_locally`. Its INSi lookup runs at once from there (INSi is a national service, not
the practice's database): the answer is held on the spooled operation, so `identity.get`, the
`identity.updated` event and the popup panel show it ("lookups are shown"). Qualification waits for the
database (agent/spool.py says why).

When the database is back the merger replays the submission in one transaction on the shared record,
with the same matching rule as any submission (plugins/ins/matching.py): an identity created meanwhile on
another workstation (same record, INS or traits) receives it, never a duplicate; a new one keeps the id
already shown. A held final INSi answer is recorded with its calls (audit table), so INSi is not called
twice; without one, the lookup becomes an ordinary outbox job in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from agent.errors import UserFacingError
from agent.outbox import insert_jobs
from agent.spool import Spool, SpoolOp
from plugins.ins import repository as repo
from plugins.ins.card import card_from_dict, own_nir
from plugins.ins.lookups import Lookups, held
from plugins.ins.matching import known_ins
from plugins.ins.models import Traits
from plugins.ins.status import Status, after_insi_success, insi_allowed

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from agent.emitter import Emitter
    from plugins.ins.identities import Identities

log = logging.getLogger(__name__)

SPOOL_KIND = "ins.identity_submit"
BATCH_KIND = "ins.batch"
QUALIFY_LATER = "Qualification possible dès le retour de la base du cabinet."
BATCH_MESSAGE = ("Base du cabinet injoignable : lot gardé sur ce poste, enregistré et lancé dès son retour "
                 "(les recherches INSi partiront alors).")
LOOKUP_HANDLER = "ins.lookup"
QUEUED_MESSAGE = ("Base du cabinet injoignable : identité gardée sur ce poste (recherche INSi faite d'ici), "
                  "reportée dans le dossier commun dès son retour. La qualification attendra ce retour.")


class OfflineIdentities:
    def __init__(self, *, spool: Spool, identities: Identities, lookups: Lookups, emitter: Emitter) -> None:
        self.spool = spool
        self.identities = identities
        self.lookups = lookups
        self.emitter = emitter
        self._held: dict[str, SpoolOp] = {}  # identity id -> its waiting submission (read without I/O)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for op in await self.spool.ops():
            if op.kind == SPOOL_KIND:
                self._held[op.op_id] = op

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def holds(self, identity_id: str) -> bool:
        return identity_id in self._held

    @staticmethod
    def flags() -> dict[str, Any]:
        return {"queued_locally": True, "queued_message": QUEUED_MESSAGE}

    @staticmethod
    def panel(view: dict[str, Any]) -> dict[str, Any]:
        """The panel of a spooled identity: INSi's answer as usual, the qualification buttons off (it waits
        for the shared record) and the state said first."""
        waiting = {"allowed": False, "reason": QUALIFY_LATER}
        view["actions"].update(qualify_document=waiting, qualify_attestation=waiting,
                               relaunch={**view["actions"]["relaunch"], "allowed": False})
        # INSi's next step is kept when it asks something of the user (traits to check); "found" only says
        # to qualify, which waits.
        found = (view.get("insi") or {}).get("outcome") == "found"
        view["panel_message"] = " ".join(m for m in (QUEUED_MESSAGE, None if found else view.get("panel_message")) if m)
        return view

    # -- while the database is away ---------------------------------------------------------------
    async def submit(self, traits: Traits, *, local_id: str | None, source: str, now: float,
                     expected_ins: dict[str, str] | None = None, card: dict[str, Any] | None = None) -> dict[str, Any]:
        same = self._same_submission(traits, local_id)
        if same is not None:  # the record opened again during the outage: the same waiting identity
            return self._answer(same)
        identity_id = str(uuid.uuid4())  # also the operation's id: stable across restarts and the merge
        payload = {"identity_id": identity_id, "traits": traits.to_dict(), "local_id": local_id, "source": source,
                   "at": now, "expected_ins": expected_ins, "card": card}
        await self.spool.add(SPOOL_KIND, payload, op_id=identity_id)
        op = await self.spool.get(identity_id)
        if op is None:
            raise UserFacingError("Base du cabinet injoignable et espace local indisponible : réessayez.")
        self._held[identity_id] = op
        log.warning("identity kept in the local spool (practice database away)")
        await self.emitter.emit("identity_updated", identity_id=identity_id, status=Status.PROV.value,
                                insi_outcome="pending")
        if insi_allowed(Status.PROV, []) and self.lookups.client is not None:
            task = asyncio.ensure_future(self._lookup(identity_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return self._answer(op)

    def _same_submission(self, traits: Traits, local_id: str | None) -> SpoolOp | None:
        from plugins.ins.identities import traits_key

        key = traits_key(traits)
        for op in self._held.values():
            p = op.payload
            if (local_id and p.get("local_id") == local_id) or traits_key(Traits.from_dict(p["traits"])) == key:
                return op
        return None

    def _answer(self, op: SpoolOp) -> dict[str, Any]:
        row = _row(op)
        return {"identity_id": row.id, "status": row.status, **self.flags()}

    async def _lookup(self, identity_id: str) -> None:
        op = self._held.get(identity_id)
        client = self.lookups.client
        if op is None or client is None:
            return
        try:
            outcome, summary, final = await self.lookups.search(client, _row(op), attempts=0)
        except Exception as exc:  # the merge enqueues the lookup as an ordinary job instead
            log.warning("INSi lookup of a spooled identity failed (%s)", type(exc).__name__)
            return
        answer = held(outcome, summary, final)
        if not await self.spool.set_result(identity_id, answer):
            return  # merged meanwhile: the outbox looks it up
        fresh = await self.spool.get(identity_id)
        if fresh is None:
            return
        self._held[identity_id] = fresh
        row = _row(fresh)
        await self.emitter.emit("identity_updated", identity_id=identity_id, status=row.status,
                                insi_outcome=summary["outcome"])

    async def row(self, identity_id: str) -> repo.IdentityRow | None:
        op = self._held.get(identity_id)
        return None if op is None else _row(op)

    async def spool_batch(self, parsed: list[tuple[int, Traits | None, str | None, str | None]], batch_id: str,
                          name: str | None, now: float) -> dict[str, Any]:
        """A start-of-day batch started while the database is away: kept whole, merged as one transaction."""
        lines = [[position, traits.to_dict() if traits is not None else None, local_id, problem]
                 for position, traits, local_id, problem in parsed]
        await self.spool.add(BATCH_KIND, {"batch_id": batch_id, "name": name, "at": now, "lines": lines},
                             op_id=batch_id)
        rejected = [{"position": p, "message": m} for p, t, _, m in parsed if t is None]
        valid = len(parsed) - len(rejected)
        return {"batch_id": batch_id, "total": valid, "queued": valid, "skipped": 0, "rejected": rejected,
                **self.flags(), "queued_message": BATCH_MESSAGE}

    def merge_batch(self, conn: Any, op: SpoolOp) -> Callable[[], Awaitable[None]]:
        from plugins.ins.batch import BATCH_HANDLER, lookup_jobs, record_batch

        p = op.payload
        parsed = [(int(pos), Traits.from_dict(t) if t is not None else None, local_id, problem)
                  for pos, t, local_id, problem in p["lines"]]
        batch_id = str(p["batch_id"])
        queued, skipped, _ = record_batch(conn, self.identities, parsed, batch_id, p.get("name"), float(p["at"]))
        jobs = lookup_jobs(batch_id, queued)
        now = time.time()
        insert_jobs(conn, handler=BATCH_HANDLER, due=now, now=now, shared=True,
                    rows=[(key, json.dumps(payload, separators=(",", ":"))) for payload, key in jobs])

        async def after() -> None:
            for _, identity_id in queued:
                self.identities.note_here(identity_id)
            self.emitter.publish("batch.progress", {"batch_id": batch_id, "done": skipped,
                                                    "total": len(queued) + skipped})

        return after

    # -- the merge (agent/spool.py `Apply`, in one transaction on the shared database) ---------------------
    def merge(self, conn: Any, op: SpoolOp) -> Callable[[], Awaitable[None]]:
        p = op.payload
        traits = Traits.from_dict(p["traits"])
        expected = p.get("expected_ins")
        card = p.get("card")
        ins = known_ins(expected.get("matricule"), oid=expected.get("oid")) if expected else None
        if card is not None and ins is None:
            vitale, beneficiary = card_from_dict(card)
            ins = known_ins(*own_nir(vitale, beneficiary))
        now = float(p["at"])
        row, needs_call = self.identities.upsert(conn, traits, p.get("local_id"), str(p["source"]), now,
                                                 expected_ins=expected, card=card, ins=ins,
                                                 new_id=str(p["identity_id"]))
        answer = op.result
        outcome: str | None = (row.insi or {}).get("outcome")
        if needs_call and answer is not None:
            recorded = Lookups.record(conn, row.id, answer)  # the call made during the outage: not again
            row = recorded or row
            outcome = answer["summary"]["outcome"]
            if not answer["final"]:
                needs_call, answer = True, None
            else:
                needs_call = False
        elif answer is not None:  # the shared record needed no call (e.g. qualified meanwhile): keep its trace
            for ex in answer["exchanges"]:
                repo.record_call(conn, row.id, **ex)
        if needs_call:
            data = json.dumps({"identity_id": row.id}, separators=(",", ":"))
            insert_jobs(conn, handler=LOOKUP_HANDLER, rows=[(f"lookup:{row.id}:{row.insi_requested_at}", data)],
                        due=time.time(), now=time.time(), shared=True)
            outcome = "pending"
        queued_id, merged_id, status = str(p["identity_id"]), row.id, row.status

        async def after() -> None:
            self._held.pop(queued_id, None)
            if merged_id != queued_id:  # the practice had this patient already: the LGC keeps the shared id
                self.emitter.publish("identity.merged", {"identity_id": merged_id, "queued_id": queued_id})
            await self.emitter.emit("identity_updated", identity_id=merged_id, status=status, insi_outcome=outcome)

        return after


def _row(op: SpoolOp) -> repo.IdentityRow:
    """The spooled identity as the panels read one (PROV until INSi answered; never qualified)."""
    from plugins.ins.identities import traits_key

    p = op.payload
    answer = op.result
    traits = Traits.from_dict(p["traits"])
    status, ins, insi, state = Status.PROV.value, None, None, "pending"
    if answer is not None:
        insi, state = answer["summary"], "done" if answer["final"] else "pending"
        if insi["outcome"] == "found" and answer["active"] is not None:
            status = after_insi_success(Status.PROV, [], consistent=insi["consistent"]).value
            ins = dict(answer["active"])
    at = float(p["at"])
    return repo.IdentityRow(
        id=str(p["identity_id"]), local_id=p.get("local_id"), source=str(p["source"]), status=status, attributes=[],
        traits=traits.to_dict(), traits_key=traits_key(traits), ins=ins, insi=insi, insi_state=state, created_at=at,
        updated_at=at, insi_requested_at=at, insi_at=None, qualified_at=None, expected_ins=p.get("expected_ins"),
        card=p.get("card"))
