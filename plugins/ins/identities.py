"""Patient identities: one row per patient, whatever brought it in (record opened in the LGC, Vitale
beneficiary, Datamatrix scan, batch line), its traits and status, reads for the panels, qualification
with audit, and the printable INS Datamatrix.

A submission is recorded in one transaction (`upsert`: find or create, keep what the source adds, mark
it pending when INSi must be called); the INSi call itself is an outbox job (plugins/ins/lookups.py).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import sqlite3
import time
import uuid
from typing import TYPE_CHECKING, Any

from agent.errors import StoreUnavailable, UserFacingError
from agent.panels import notify_user
from agent.rpc import INVALID_PARAMS, NOT_FOUND
from agent.spool import refused_while_away
from hardware.ports import VitaleCard
from plugins.ins import repository as repo
from plugins.ins import view as views
from plugins.ins.card import card_to_dict, card_traits, own_nir
from plugins.ins.matching import KnownIns, known_ins, match_key, pick
from plugins.ins.models import Actor, Traits
from plugins.ins.qualify_rules import apply_qualification
from plugins.ins.settings import InsSettings
from plugins.ins.status import Status, insi_allowed
from plugins.ins.traits import normalise_traits, validate_traits

if TYPE_CHECKING:
    from agent.acting import ActingUsers
    from agent.context import OutboxPort
    from agent.emitter import Emitter
    from agent.store import Store
    from plugins.ins.offline import OfflineIdentities

QUALIFY_REFUSED = -32010  # documented in docs/local-api.md
DATAMATRIX_REFUSED = -32011
LOOKUP_HANDLER = "ins.lookup"
SEEN_HERE = 2048  # identities remembered as being seen on this workstation


def traits_key(traits: Traits) -> str:
    strict = {k: v for k, v in traits.to_dict().items() if k not in ("used_name", "used_first_name")}
    return hashlib.sha256(json.dumps(strict, sort_keys=True).encode()).hexdigest()


RECOGNISED_NOTICE = ("Carte Vitale lue : ce patient a déjà une identité qualifiée dans Vigie, rien à refaire "
                     "(aucune nouvelle recherche INSi).")


class Identities:
    def __init__(self, *, store: Store, outbox: OutboxPort, emitter: Emitter, acting: ActingUsers,
                 settings: InsSettings) -> None:
        self.store = store
        self.outbox = outbox
        self.emitter = emitter
        self.acting = acting
        self.settings = settings
        self.offline: OfflineIdentities | None = None  # the local spool, with the shared store only
        # Identities submitted on this workstation (record opened, card, scan), newest last: the patients
        # being seen here, whose popup rises when another workstation changes them (plugin.py).
        self._here: dict[str, None] = {}

    def seen_here(self, identity_id: str) -> bool:
        return identity_id in self._here

    def note_here(self, identity_id: str) -> None:
        self._here.pop(identity_id, None)
        self._here[identity_id] = None
        if len(self._here) > SEEN_HERE:
            self._here.pop(next(iter(self._here)))

    def actor(self) -> Actor:
        """The acting user: the CPS/CPE in a reader when there is one, else the configured user."""
        user = self.acting.current
        if user.from_card:
            kind = "ps" if user.kind == "cps" else user.kind
            return Actor(kind=kind, name=user.name or "", national_id=user.national_id, profession=user.profession)
        u = self.settings.user
        return Actor(kind=u.kind, name=u.name, national_id=u.national_id, profession=u.profession)

    # -- submit -----------------------------------------------------------------------------
    def parse_traits(self, raw: dict[str, Any]) -> Traits:
        traits = normalise_traits(Traits.from_dict(raw))
        errors = validate_traits(traits)
        if errors:
            raise UserFacingError(
                # Each message names its field in French already; the keys (`birth_date`) are for `data`.
                "Traits d'identité invalides : " + " ; ".join(m for msgs in errors.values() for m in msgs),
                code=INVALID_PARAMS, data={"fields": errors},
            )
        return traits

    async def submit(self, raw_traits: dict[str, Any], *, local_id: str | None, source: str,
                     expected_ins: dict[str, str] | None = None) -> dict[str, Any]:
        traits = self.parse_traits(raw_traits)
        now = time.time()
        ins = known_ins((expected_ins or {}).get("matricule"), oid=(expected_ins or {}).get("oid"))

        try:
            row, needs_call = await self.store.transaction(
                lambda conn: self.upsert(conn, traits, local_id, source, now, expected_ins=expected_ins, ins=ins))
        except StoreUnavailable:
            if self.offline is None:
                raise
            held = await self.offline.submit(traits, local_id=local_id, source=source, now=now,
                                             expected_ins=expected_ins)
            self.note_here(held["identity_id"])
            return held
        self.note_here(row.id)
        if needs_call:
            await self._enqueue_lookup(row)
        return {"identity_id": row.id, "status": row.status}

    async def _enqueue_lookup(self, row: repo.IdentityRow) -> None:
        await self.outbox.enqueue(
            LOOKUP_HANDLER, {"identity_id": row.id}, key=f"lookup:{row.id}:{row.insi_requested_at}"
        )
        await self.emitter.emit("identity_updated", identity_id=row.id, status=row.status, insi_outcome="pending")

    def upsert(self, conn: sqlite3.Connection, traits: Traits, local_id: str | None, source: str, now: float,
               *, expected_ins: dict[str, str] | None = None, card: dict[str, Any] | None = None,
               ins: KnownIns | None = None, new_id: str | None = None) -> tuple[repo.IdentityRow, bool]:
        """Record a submission (record opened, batch line, card beneficiary, scan) in one place: find or create
        the identity (one matching rule for every source: plugins/ins/matching.py; `ins` is the INS the
        source carries), keep what the source adds, mark it pending when INSi must be called, persist."""
        row, created, needs_call = self._match(conn, traits, local_id, source, now, ins, new_id)
        already = row.status == Status.QUAL.value and ins is not None and ins.same_as(row.ins) is True
        if expected_ins is not None and row.expected_ins != expected_ins and not already:
            row.expected_ins = expected_ins  # another scanned INS: check it against INSi too
            needs_call = needs_call or (insi_allowed(Status(row.status), row.attributes)
                                        and row.insi_state != "pending")
        if card is not None and row.card is None:
            row.card = card
        if needs_call:
            row.insi_state, row.insi_requested_at = "pending", now
        if created:
            repo.insert(conn, row)
            repo.audit(conn, row.id, actor={"kind": "system", "source": source}, action="created",
                       status_after=row.status, traits_after=row.traits)
        else:
            repo.update(conn, row)
        return row, needs_call

    def _find(self, conn: sqlite3.Connection, traits: Traits, key: str, local_id: str | None,
              ins: KnownIns | None) -> tuple[repo.IdentityRow | None, bool]:
        """The stored identity (matching.py's order) and whether it was found by the LGC's record or the exact
        same traits (then the submission may update its traits) rather than by INS or strict traits (then the
        stored traits, e.g. an LGC record's, stay: a card's usual names must not replace them)."""
        row = repo.find_by_local_id(conn, local_id) if local_id else None
        if row is not None:
            return row, True
        if ins is not None:
            found = pick(repo.find_by_ins(conn, ins.matricule), traits, ins)
            if found is not None:
                return found, found.traits_key == key
        row = repo.find_by_traits(conn, key)
        if row is not None and (ins is None or ins.same_as(row.ins) is not False):
            return row, True
        strict = match_key(traits)
        found = pick(repo.find_by_match_key(conn, strict), traits, ins) if strict else None
        return found, found is not None and found.traits_key == key

    def _match(self, conn: sqlite3.Connection, traits: Traits, local_id: str | None, source: str,
               now: float, ins: KnownIns | None = None,
               new_id: str | None = None) -> tuple[repo.IdentityRow, bool, bool]:
        """The identity these traits belong to, whether it is new (not stored yet, then `new_id` when given:
        the id a spooled submission already showed), and whether INSi must be called (dedupe window,
        re-check period)."""
        key = traits_key(traits)
        row, same_record = self._find(conn, traits, key, local_id, ins)
        if row is None:
            row = repo.IdentityRow(
                id=new_id or str(uuid.uuid4()), local_id=local_id, source=source, status=Status.PROV.value,
                attributes=[],
                traits=traits.to_dict(), traits_key=key, ins=None, insi=None, insi_state="idle", created_at=now,
                updated_at=now, insi_requested_at=None, insi_at=None, qualified_at=None,
            )
            return row, True, insi_allowed(Status(row.status), row.attributes)
        if local_id and row.local_id is None:
            row.local_id = local_id
        idle = row.insi_state != "pending"
        if row.status == Status.QUAL.value:
            # The INS traits of a qualified identity are the reference; a re-check is due only after
            # the configured period (the official rule is unknown: insi.md §12).
            due = (row.qualified_at or 0) + self.settings.recheck_days * 86400 <= now
            return row, False, due and idle and insi_allowed(Status(row.status), row.attributes)
        if row.traits_key != key and same_record:
            before = row.traits
            row.traits, row.traits_key = traits.to_dict(), key
            repo.audit(conn, row.id, actor={"kind": "system", "source": source}, action="traits_changed",
                       status_before=row.status, status_after=row.status, traits_before=before,
                       traits_after=row.traits)
            return row, False, insi_allowed(Status(row.status), row.attributes) and idle
        # Same traits again (record reopened, card reinserted): one call per dedupe window, and none
        # while the previous answer is usable.
        recent = row.insi_requested_at is not None and now - row.insi_requested_at < self.settings.dedupe_window
        answered = row.insi is not None and row.insi.get("outcome") == "found"
        return row, False, insi_allowed(Status(row.status), row.attributes) and idle and not recent and not answered

    # -- Vitale card and scans (hooks from the card and scanner layers) -------------------------------
    async def card_read(self, reader: str, card: VitaleCard) -> list[str]:
        """One identity per beneficiary, each looked up with `rechercherInsAvecCarteVitale`; a beneficiary
        already qualified is recognised (by the NIR that is their INS, or their strict traits) and said so
        with `identity.recognised` instead of a new lookup and panel."""
        now = time.time()
        ids: list[str] = []
        for b in card.beneficiaries:
            upsert = functools.partial(self.upsert, traits=card_traits(card, b), local_id=None, source="vitale",
                                       now=now, card=card_to_dict(card, b), ins=known_ins(*own_nir(card, b)))
            try:
                row, needs_call = await self.store.transaction(upsert)
            except StoreUnavailable:
                if self.offline is None:
                    raise
                held = await self.offline.submit(card_traits(card, b), local_id=None, source="vitale", now=now,
                                                 card=card_to_dict(card, b))
                ids.append(held["identity_id"])
                self.note_here(held["identity_id"])
                continue
            self.note_here(row.id)
            if needs_call:
                await self._enqueue_lookup(row)
            elif row.status == Status.QUAL.value:
                self.emitter.publish("identity.recognised", {"identity_id": row.id, "status": row.status,
                                                             "source": "vitale", "reader": reader})
                # Said to the user too (no hardware event goes unsaid); no name: notices reach every LGC.
                await notify_user(self.emitter, RECOGNISED_NOTICE, level="info", topic="identity.recognised")
            ids.append(row.id)
        return ids

    async def datamatrix_scanned(self, content: dict[str, Any], source: str) -> dict[str, Any]:
        """Traits search with the scanned traits; the returned INS is then compared with the scanned one."""
        raw = {k: content.get(k) for k in ("birth_name", "first_names", "sex", "birth_date", "birth_place")}
        expected = {"matricule": str(content.get("matricule", "")), "oid": str(content.get("oid", ""))}
        return await self.submit(raw, local_id=None, source=f"datamatrix:{source}", expected_ins=expected)

    # -- read --------------------------------------------------------------------------------------
    async def _load(self, identity_id: str) -> repo.IdentityRow:
        try:
            row = await self.store.transaction(lambda c: repo.get(c, identity_id))
        except StoreUnavailable:
            # The database is away: an identity submitted meanwhile is shown from the local spool.
            row = await self.offline.row(identity_id) if self.offline is not None else None
            if row is None:
                raise
        if row is None:
            raise UserFacingError("Identité inconnue : ouvrez à nouveau le dossier du patient.", code=NOT_FOUND)
        return row

    async def get(self, identity_id: str) -> dict[str, Any]:
        row = await self._load(identity_id)
        return self._flag(row, views.identity_get(row, self.actor(), self.settings.documents))

    def _flag(self, row: repo.IdentityRow, answer: dict[str, Any]) -> dict[str, Any]:
        """An identity shown from the local spool says so (the LGC and the panel tell the user)."""
        if self.offline is not None and self.offline.holds(row.id):
            answer.update(self.offline.flags())
        return answer

    async def view(self, identity_id: str) -> dict[str, Any]:
        row = await self._load(identity_id)
        if self.offline is not None and self.offline.holds(row.id):
            return self._flag(row, self.offline.panel(views.identity_view(row, self.actor(), self.settings.documents,
                                                                          None)))
        qualification = None
        if row.status == Status.QUAL.value:  # who qualified it, when, how: the audit's last word on it
            entries = await self.store.transaction(lambda c: repo.audit_rows(c, identity_id))
            qualification = next((e for e in reversed(entries) if e["action"] == "qualified"), None)
        return views.identity_view(row, self.actor(), self.settings.documents, qualification)

    async def relaunch(self, identity_id: str) -> dict[str, Any]:
        """"Relancer la recherche INSi" (panel button): a new search with the record's current traits, where
        the last answer was final and a new one may differ (views.RELAUNCHABLE)."""
        now = time.time()
        actor = _actor_record(self.actor())

        def work(conn: sqlite3.Connection) -> repo.IdentityRow:
            row = repo.get(conn, identity_id)
            if row is None:
                raise UserFacingError("Identité inconnue : ouvrez à nouveau le dossier du patient.", code=NOT_FOUND)
            if not views.relaunch_action(row, (row.insi or {}).get("outcome"))["allowed"]:
                raise UserFacingError("Pas de nouvelle recherche INSi possible pour cette identité maintenant : "
                                      "suivez l'indication du panneau.", code=QUALIFY_REFUSED)
            row.insi_state, row.insi_requested_at = "pending", now
            repo.update(conn, row)
            repo.audit(conn, row.id, actor=actor, action="insi_relaunched", status_before=row.status,
                       status_after=row.status)
            return row

        row = await self.store.transaction(work)
        await self._enqueue_lookup(row)
        return {"identity_id": row.id, "status": row.status}

    async def audit(self, identity_id: str) -> list[dict[str, Any]]:
        await self._load(identity_id)
        return await self.store.transaction(lambda c: repo.audit_rows(c, identity_id))

    # -- printing ---------------------------------------------------------------------------------------
    async def datamatrix(self, identity_id: str) -> dict[str, Any]:
        """The INS Datamatrix of a qualified identity (PNG and SVG), for the LGC's documents. The matricule
        and OID appear on documents only for a qualified identity [EXI ID 29]: any other status is refused."""
        row = await self._load(identity_id)
        if row.status != Status.QUAL.value or not row.ins:
            raise UserFacingError(
                f"Datamatrix INS impossible : l'identité n'est pas qualifiée (statut {row.status}). Qualifiez-la "
                "d'abord (vérification d'une pièce d'identité) ; seul un INS qualifié figure sur les documents.",
                code=DATAMATRIX_REFUSED)
        # Pure generator of the scanner package (imported lazily: Pillow and libdmtx only when printing).
        from plugins.ins.datamatrix_print import render_datamatrix

        return {"identity_id": identity_id, **await asyncio.to_thread(render_datamatrix, row.traits, row.ins)}

    # -- qualify ------------------------------------------------------------------------------------
    async def qualify(self, identity_id: str, method: str, document_type: str | None) -> dict[str, Any]:
        actor = self.actor()
        documents = self.settings.documents

        def work(conn: sqlite3.Connection) -> repo.IdentityRow:
            row = repo.get(conn, identity_id)
            if row is None:
                raise UserFacingError("Identité inconnue : ouvrez à nouveau le dossier du patient.", code=NOT_FOUND)
            local = Traits.from_dict(row.traits)
            insi_traits = views.insi_traits(row)
            decision = views.decide(row, actor, method, document_type, documents)  # as the panel says
            if not decision.allowed or insi_traits is None:
                raise UserFacingError(decision.reason_fr or "Qualification impossible.", code=QUALIFY_REFUSED)
            before_traits, before_status = row.traits, row.status
            row.traits = apply_qualification(local, insi_traits).to_dict()
            row.traits_key = traits_key(Traits.from_dict(row.traits))
            row.status, row.qualified_at = Status.QUAL.value, time.time()
            repo.update(conn, row)
            repo.audit(conn, row.id, actor=_actor_record(actor), action="qualified", method=method,
                       document_type=document_type if method == "document" else None, status_before=before_status,
                       status_after=row.status, traits_before=before_traits, traits_after=row.traits,
                       insi_message_id=(row.insi or {}).get("message_id"))
            return row

        try:
            row = await self.store.transaction(work)
        except StoreUnavailable:
            # Not spooled: a decision on the shared record's current state, whose audit line is written once
            # with the status it justifies (agent/spool.py says why).
            raise refused_while_away("Qualification") from None
        await self.emitter.emit("identity_updated", identity_id=identity_id, status=row.status,
                                insi_outcome=(row.insi or {}).get("outcome"))
        return views.identity_get(row, actor, documents)


def _actor_record(actor: Actor) -> dict[str, Any]:
    return {"kind": actor.kind, "name": actor.name, "national_id": actor.national_id, "profession": actor.profession}
