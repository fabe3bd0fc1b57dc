"""The e-prescription service built from ports, without an agent: the ordonnance is kept, shared, announced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.documents import JOB_HANDLER
from plugins.eprescription import repository
from plugins.eprescription.printing import system_printer
from plugins.eprescription.service import EprescriptionService
from plugins.eprescription.settings import parse_settings
from plugins.eprescription.teleservice import DisabledTeleservice
from tests.plugins.ports import ports

MIGRATIONS = [(repository.NAMESPACE, v, sql) for v, sql in repository.MIGRATIONS.items()]


async def test_eprescription_service_from_ports_keeps_shares_and_announces(tmp_path: Path,
                                                                           ordonnance: dict[str, Any]) -> None:
    async with ports(tmp_path, MIGRATIONS) as p:
        service = EprescriptionService(
            store=p.store, emitter=p.emitter, documents=p, settings=parse_settings({}),
            teleservice=DisabledTeleservice("Téléservice non configuré"),
            printer=system_printer(tmp_path / "spool", 5.0))
        await service.start()
        result = await service.create(ordonnance)
        assert result["code_present"] is False  # no téléservice answer: no 2D code, the ordonnance still made
        jobs = await p.jobs(JOB_HANDLER)
        assert [j["key"] for j in jobs] == [f"document:{result['prescription_id']}"]
        assert json.loads(jobs[0]["payload"])["document"]["source_plugin"] == "eprescription"
        assert [name for name, _ in p.published] == ["document.validated", "prescription.created"]
        assert (await service.get(prescription_id=result["prescription_id"]))["prescription_id"] == \
            result["prescription_id"]
        await service.close()
