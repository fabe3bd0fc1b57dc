"""End to end: a Datamatrix scanned on the serial scanner → INS plugin → INSi sandbox over TLS → identity."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image

from plugins.scanner.datamatrix import InsDatamatrix, parse
from plugins.scanner.payload import build_payload
from sandbox.insi.server import InsiSandbox
from sandbox.scanner.emulator import ScannerEmulator
from tests.plugins.scanner.conftest import AgentFactory, ins_config, wait_until
from tests.plugins.scanner.test_datamatrix import DOMINIQUE


async def _agent(scanner_agent: AgentFactory, tmp_path: Path, insi_sandbox: InsiSandbox,
                 emulator: ScannerEmulator) -> Any:
    agent, recorder = await scanner_agent(scanner=emulator.plugin_settings(),
                                          config=ins_config(tmp_path, insi_sandbox))
    await wait_until(lambda: agent.plugins.states["ins"].started, what="INS plugin started")
    return agent


async def test_ins_e2e_serial_scan_gives_a_recup_identity(scanner_agent: AgentFactory, tmp_path: Path,
                                                          insi_sandbox: InsiSandbox, emulator: ScannerEmulator,
                                                          lgc_for: Any) -> None:
    agent = await _agent(scanner_agent, tmp_path, insi_sandbox, emulator)
    lgc = await lgc_for(agent)
    await wait_until(lambda: emulator._master is not None and any(
        "connecté" in s for s in agent.plugins.pm.get_plugin("scanner").service.devices.values()),
        what="serial scanner open")
    await emulator.scan(build_payload(DOMINIQUE).encode(), via="serial")
    scanned = await lgc.event("scan.received")
    assert scanned["source"] == "serial" and scanned["kind"] == "ins_datamatrix"
    identity_id = scanned["identity_id"]
    done = await lgc.event("identity.updated", lambda p: p["identity_id"] == identity_id
                           and p["insi_outcome"] != "pending")
    assert done == {"identity_id": identity_id, "status": "RECUP", "insi_outcome": "found"}
    view = await lgc.result("identity.view", {"identity_id": identity_id})
    assert view["column_labels"]["local"] == "Datamatrix INS scanné"
    assert view["expected_ins"] == {"matricule": "297022A02077878", "oid": "1.2.250.1.213.1.4.8"}
    assert view["insi"]["ins_mismatch"] is False
    assert view["actions"]["qualify_document"]["allowed"] is True
    assert insi_sandbox.stats.total == 1

    # Printing the INS Datamatrix: refused until the identity is qualified, then it reads back as the same identity.
    refused = await lgc.call("ins.datamatrix", {"identity_id": identity_id})
    assert refused["error"]["code"] == -32011 and "qualifiée" in refused["error"]["message"]
    await lgc.result("identity.qualify", {"identity_id": identity_id, "method": "document",
                                          "document_type": "passport"})
    printed = await lgc.result("ins.datamatrix", {"identity_id": identity_id})
    assert printed["encoding"] == "C40" and printed["svg"].startswith("<svg")
    image = Image.open(io.BytesIO(base64.b64decode(printed["png_base64"])))
    found = zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)
    assert len(found) == 1
    reread = parse(bytes(found[0].bytes))
    assert reread is not None and reread.value == DOMINIQUE


async def test_ins_e2e_scanned_ins_differing_from_insi_is_a_discrepancy(scanner_agent: AgentFactory,
                                                                        tmp_path: Path, insi_sandbox: InsiSandbox,
                                                                        emulator: ScannerEmulator,
                                                                        lgc_for: Any) -> None:
    agent = await _agent(scanner_agent, tmp_path, insi_sandbox, emulator)
    lgc = await lgc_for(agent)
    # DOMINIQUE's traits with another (well-formed, key-valid) INS: the document does not belong to her.
    other = InsDatamatrix(**{**DOMINIQUE.__dict__, "matricule": "160012B02077713"})
    answer = await lgc.result("scan.submit", {"data": build_payload(other).replace("\x1d", "<GS>")})
    identity_id = answer["identity_id"]
    assert answer["handled"] is True and answer["status"] == "PROV"
    done = await lgc.event("identity.updated", lambda p: p["identity_id"] == identity_id
                           and p["insi_outcome"] != "pending")
    assert done["insi_outcome"] == "found"
    view = await lgc.result("identity.view", {"identity_id": identity_id})
    assert view["insi"]["ins_mismatch"] is True
    assert view["message"].startswith("Le matricule INS du Datamatrix scanné diffère")
    assert view["actions"]["qualify_document"]["allowed"] is False
    refused = await lgc.call("identity.qualify", {"identity_id": identity_id, "method": "document",
                                                  "document_type": "passport"})
    assert refused["error"]["code"] == -32010
