"""The INS capability, as the plugin's hooks and RPC methods see it: identities (plugins/ins/identities.py),
INSi lookups in the background (plugins/ins/lookups.py) and the start-of-day batch (plugins/ins/batch.py),
built from the ports they use (no agent: a test builds it with a real store and outbox).
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from agent.errors import UserFacingError
from agent.rpc import INVALID_PARAMS, NOT_FOUND
from hardware.ports import VitaleCard
from plugins.ins import journal
from plugins.ins import repository as repo
from plugins.ins.batch import start_batch
from plugins.ins.batch_progress import summary as batch_summary
from plugins.ins.daylist import parse_day_csv
from plugins.ins.identities import Identities
from plugins.ins.insi.client import InsiClient
from plugins.ins.insi.signer import Signer
from plugins.ins.lookups import Lookups
from plugins.ins.models import Actor, Traits
from plugins.ins.offline import BATCH_KIND, SPOOL_KIND, OfflineIdentities
from plugins.ins.settings import InsSettings

if TYPE_CHECKING:
    from agent.acting import ActingUsers
    from agent.context import OutboxPort
    from agent.emitter import Emitter
    from agent.outbox import Job
    from agent.secrets import SecretStore
    from agent.spool import Spool
    from agent.store import Store

__all__ = ["BATCH_KIND", "SPOOL_KIND", "InsService"]


class InsService:
    def __init__(self, *, store: Store, outbox: OutboxPort, emitter: Emitter, secrets: SecretStore,
                 acting: ActingUsers, settings: InsSettings, signer: Signer | None = None,
                 spool: Spool | None = None) -> None:
        self.store = store
        self.settings = settings
        self.outbox = outbox
        self.emitter = emitter
        self.identities = Identities(store=store, outbox=outbox, emitter=emitter, acting=acting, settings=settings)
        self.lookups = Lookups(store=store, outbox=outbox, emitter=emitter, secrets=secrets, acting=acting,
                               settings=settings, signer=signer)
        # Shared store: identities submitted while the practice database is away (plugins/ins/offline.py).
        self.offline = (OfflineIdentities(spool=spool, identities=self.identities, lookups=self.lookups,
                                          emitter=emitter) if spool is not None else None)
        self.identities.offline = self.offline

    # -- lifecycle and status -----------------------------------------------------------------
    async def start(self) -> None:
        if self.offline is not None:
            await self.offline.start()
        await self.lookups.start()

    async def close(self) -> None:
        if self.offline is not None:
            await self.offline.close()
        await self.lookups.close()

    @property
    def client(self) -> InsiClient | None:
        return self.lookups.client

    def status(self) -> dict[str, Any]:
        return self.lookups.status()

    def actor(self) -> Actor:
        return self.identities.actor()

    # -- identities ---------------------------------------------------------------------------
    def parse_traits(self, raw: dict[str, Any]) -> Traits:
        return self.identities.parse_traits(raw)

    async def submit(self, raw_traits: dict[str, Any], *, local_id: str | None, source: str,
                     expected_ins: dict[str, str] | None = None) -> dict[str, Any]:
        return await self.identities.submit(raw_traits, local_id=local_id, source=source, expected_ins=expected_ins)

    async def card_read(self, reader: str, card: VitaleCard) -> list[str]:
        return await self.identities.card_read(reader, card)

    async def datamatrix_scanned(self, content: dict[str, Any], source: str) -> dict[str, Any]:
        return await self.identities.datamatrix_scanned(content, source)

    async def get(self, identity_id: str) -> dict[str, Any]:
        return await self.identities.get(identity_id)

    async def view(self, identity_id: str) -> dict[str, Any]:
        return await self.identities.view(identity_id)

    async def relaunch(self, identity_id: str) -> dict[str, Any]:
        return await self.identities.relaunch(identity_id)

    async def audit(self, identity_id: str) -> list[dict[str, Any]]:
        return await self.identities.audit(identity_id)

    async def datamatrix(self, identity_id: str) -> dict[str, Any]:
        return await self.identities.datamatrix(identity_id)

    async def qualify(self, identity_id: str, method: str, document_type: str | None) -> dict[str, Any]:
        return await self.identities.qualify(identity_id, method, document_type)

    # -- lookups and batch ----------------------------------------------------------------------
    async def batch(self, patients: list[dict[str, Any]], *, name: str | None = None) -> dict[str, Any]:
        return await start_batch(self.identities, self.outbox, self.emitter, patients, name=name)

    async def batch_csv(self, text: str, name: str | None) -> dict[str, Any]:
        """The day's CSV chosen on the batch page (the file's text; the page never gives a path)."""
        label = name or "fichier du jour"
        patients = await asyncio.to_thread(parse_day_csv, text, label)
        return await self.batch(patients, name=label)

    async def batch_status(self, batch_id: str | None) -> dict[str, Any]:
        """The batch page's view: the given batch (the latest when None) and the configured day file, if any."""
        batch, lines = await self.store.transaction(lambda c: repo.batch_rows(c, batch_id))
        if batch is None and batch_id is not None:
            raise UserFacingError("Lot inconnu : il a peut-être été lancé sur un autre poste.", code=NOT_FOUND)
        configured = self.settings.batch_file.name if self.settings.batch_file is not None else None
        return {"configured_file": configured,
                "batch": batch_summary(batch, lines, time.time()) if batch is not None else None}

    async def journal(self, day: str, *, only_qualifications: bool) -> list[dict[str, Any]]:
        try:
            start, end = journal.day_bounds(date.fromisoformat(day))
        except ValueError:
            raise UserFacingError(f"Jour invalide « {day} » : AAAA-MM-JJ attendu.", code=INVALID_PARAMS) from None
        rows = await self.store.transaction(lambda c: repo.audit_between(c, start, end))
        return journal.entries(rows, only_qualifications=only_qualifications)

    async def batch_from_file(self) -> dict[str, Any]:
        """The tray's "Lancer le lot du début de journée": the configured agenda export, as a batch."""
        path = self.settings.batch_file
        if path is None:
            raise UserFacingError("Aucun fichier des patients du jour : renseignez [plugins.ins] batch_file "
                                  "(export CSV de l'agenda).")
        from plugins.ins.cli import read_patients

        try:
            patients = await asyncio.to_thread(read_patients, path)
        except OSError as exc:
            raise UserFacingError(f"Fichier des patients du jour illisible : {path}") from exc
        return await self.batch(patients, name=path.name)

    async def run_lookup(self, job: Job) -> None:
        await self.lookups.run_lookup(job)

    async def resume_waiting_lookups(self) -> None:
        await self.lookups.resume_waiting()
