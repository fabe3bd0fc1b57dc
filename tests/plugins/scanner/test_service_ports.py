"""The scan router built from ports, without an agent: `parse_scan` decides, `scan_received` then the event."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from agent.errors import UserFacingError
from agent.hookspecs import hookimpl
from plugins.scanner.plugin import ScannerPlugin
from plugins.scanner.service import ScanService
from plugins.scanner.settings import parse_settings
from tests.plugins.ports import Ports, ports
from tests.plugins.scanner.test_datamatrix import ADRTROIS


class Taker:
    def __init__(self, p: Ports) -> None:
        self.p = p
        self.got: list[tuple[str, str, int]] = []

    @hookimpl
    def scan_received(self, kind: str, content: Mapping[str, Any], source: str) -> dict[str, Any]:
        self.got.append((kind, source, len(self.p.published)))
        return {"identity_id": "id-1", "status": "PROV"}


async def test_scanner_service_from_ports_routes_then_emits(tmp_path: Path) -> None:
    async with ports(tmp_path) as p:
        taker = Taker(p)
        p.add_plugin(ScannerPlugin(), "scanner")  # its parse_scan knows the INS Datamatrix
        p.add_plugin(taker, "taker")
        service = ScanService(decisions=p.decisions, emitter=p.emitter, settings=parse_settings({}))
        answer = await service.submit(ADRTROIS.encode(), "lgc")
        assert (answer["kind"], answer["identity_id"], answer["handled"]) == ("ins_datamatrix", "id-1", True)
        assert taker.got == [("ins_datamatrix", "lgc", 0)]  # the hook ran before any event
        # The LGC learns what was scanned and which identity it led to, never the scanned traits.
        assert p.published == [("scan.received", {"kind": "ins_datamatrix", "source": "lgc", "identity_id": "id-1"})]
        with pytest.raises(UserFacingError, match="Code non reconnu"):
            await service.submit(b"pas un code", "popup")
        assert p.published[-1][0] == "scan.rejected" and service.counts == {"received": 1, "rejected": 1}
