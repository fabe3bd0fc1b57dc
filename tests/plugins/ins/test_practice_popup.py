"""Whose popup rises in a practice: a patient open in the consulting room comes up there when the reception
scans his Datamatrix; a patient only seen at reception does not, whichever agent ran his INSi lookup."""

from __future__ import annotations

import asyncio

from agent.hookcall import call_each
from sandbox.insi.server import InsiSandbox
from tests.plugins.ins.conftest import DOMINIQUE, wait_until
from tests.plugins.ins.test_practice_shared import LgcFactory, Workstations, found, workstation

__all__ = ["workstation"]

OID = "1.2.250.1.213.1.4.8"
SCANNED = {**DOMINIQUE, "birth_place": "2A020", "matricule": "297022A02077878", "oid": OID}
OTHER = {"birth_name": "ADRTROIS", "first_names": ["TOUSSAINT"], "sex": "M", "birth_date": "1960-01-01"}


async def test_practice_scan_at_reception_raises_the_popup_where_that_patient_is_open(
        workstation: Workstations, lgc_for: LgcFactory, insi_sandbox: InsiSandbox) -> None:
    reception, room = await workstation("accueil"), await workstation("cabinet-1")
    desk, doctor = await lgc_for(reception), await lgc_for(room)
    ui_room, ui_desk = room.plugins.pm.get_plugin("ui"), reception.plugins.pm.get_plugin("ui")

    identity_id = (await doctor.result("identity.submit", {"local_id": "dossier-42", "traits": DOMINIQUE}))[
        "identity_id"]
    await wait_until(lambda: identity_id in ui_room.offered, what="offered in the room (record opened there)")
    assert identity_id not in ui_desk.offered  # whichever agent ran the lookup: not the reception's patient
    ui_room.offered.pop(identity_id)  # the doctor closed the panel

    await call_each(reception.plugins, "scan_received", kind="ins_datamatrix", content=SCANNED, source="serial")
    await desk.event("identity.updated", lambda p: p["identity_id"] == identity_id and p["insi_outcome"] == "found"
                     and insi_sandbox.stats.total == 2)
    await wait_until(lambda: identity_id in ui_room.offered, what="offered again in the room after the scan")

    # A patient scanned at reception and opened nowhere else comes up at reception only.
    other = (await desk.result("identity.submit", {"traits": OTHER}))["identity_id"]
    await desk.event("identity.updated", found(other))
    await wait_until(lambda: other in ui_desk.offered, what="offered at reception")
    await asyncio.sleep(0.5)  # the relayed fact reached the room too by now
    assert other not in ui_room.offered
