"""Scan routing and inputs through a real agent: local API (`scan.submit`), serial pty, HID POS reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.app import Agent
from agent.hookspecs import hookimpl
from plugins.scanner.service import SCAN_REFUSED, SCAN_UNRECOGNISED
from sandbox.scanner.emulator import ScannerEmulator, send_to_emulator
from sandbox.scanner.identities import sandbox_payload
from tests.plugins.scanner.conftest import AgentFactory, Lgc, scanner_service, wait_until
from tests.plugins.scanner.test_datamatrix import ADRTROIS, AZERTY_DIGITS, DOMINIQUE

CONTENT = DOMINIQUE.content()


async def lgc(agent: Agent, lgc_for: Any) -> Lgc:
    client: Lgc = await lgc_for(agent)
    return client


async def test_scan_submit_wedge_text_with_gs_token_and_azerty(scanner_agent: AgentFactory, lgc_for: Any) -> None:
    agent, recorder = await scanner_agent()
    client = await lgc(agent, lgc_for)
    typed = ADRTROIS.replace("\x1d", "<GS>").translate(AZERTY_DIGITS)
    answer = await client.result("scan.submit", {"data": typed})
    assert answer["kind"] == "ins_datamatrix" and answer["content"] == CONTENT and answer["source"] == "lgc"
    assert recorder.scans == [("ins_datamatrix", CONTENT, "lgc")]
    event = await client.event("scan.received")
    assert event == {"kind": "ins_datamatrix", "source": "lgc"}  # no traits in events


async def test_scan_submit_base64_raw_bytes_from_the_popup(scanner_agent: AgentFactory, lgc_for: Any) -> None:
    import base64

    agent, recorder = await scanner_agent()
    client = await lgc(agent, lgc_for)
    raw = base64.b64encode(ADRTROIS.encode()).decode()
    answer = await client.result("scan.submit", {"data_base64": raw, "source": "popup"})
    assert answer["content"] == CONTENT
    assert recorder.scans[0][2] == "popup"


async def test_scan_submit_unknown_code_is_code_non_reconnu(scanner_agent: AgentFactory, lgc_for: Any) -> None:
    agent, recorder = await scanner_agent()
    client = await lgc(agent, lgc_for)
    answer = await client.call("scan.submit", {"data": "3017620422003"})
    assert answer["error"]["code"] == SCAN_UNRECOGNISED
    assert answer["error"]["message"].startswith("Code non reconnu")
    assert recorder.scans == []
    rejected = await client.event("scan.rejected")
    assert rejected["kind"] is None and rejected["source"] == "lgc"


async def test_scan_submit_damaged_ins_code_lists_french_field_errors(scanner_agent: AgentFactory,
                                                                     lgc_for: Any) -> None:
    agent, recorder = await scanner_agent()
    client = await lgc(agent, lgc_for)
    answer = await client.call("scan.submit", {"data": ADRTROIS.replace("7878", "7879")})
    error = answer["error"]
    assert error["code"] == SCAN_REFUSED and "clé" in error["message"]
    assert error["data"]["kind"] == "ins_datamatrix"
    assert [e["field"] for e in error["data"]["errors"]] == ["matricule"]
    assert recorder.scans == []


async def test_scan_submit_params_are_checked(scanner_agent: AgentFactory, lgc_for: Any) -> None:
    agent, _ = await scanner_agent()
    client = await lgc(agent, lgc_for)
    for params in ({}, {"data": "x", "data_base64": "eA=="}, {"data": "x" * 5000}, {"data": "x", "source": "usb"}):
        assert (await client.call("scan.submit", params))["error"]["code"] == -32602
    bad = await client.call("scan.submit", {"data_base64": "%%%"})
    assert bad["error"]["code"] == -32602 and "base64" in bad["error"]["message"]


class EPrescriptionLike:
    """Another plugin recognising its own code: the router must just use the hook."""

    @hookimpl
    def parse_scan(self, data: bytes) -> Mapping[str, Any] | None:
        if data.startswith(b"EP1:"):
            return {"kind": "eprescription_qr", "content": {"id": data[4:].decode()}}
        return None


async def test_scan_routing_other_plugins_recognise_their_own_codes(scanner_agent: AgentFactory,
                                                                    lgc_for: Any) -> None:
    agent, recorder = await scanner_agent(extra=[(EPrescriptionLike(), "eprescription_like")])
    client = await lgc(agent, lgc_for)
    answer = await client.result("scan.submit", {"data": "EP1:ABC123"})
    assert answer["kind"] == "eprescription_qr" and answer["content"] == {"id": "ABC123"}
    assert (await client.result("scan.submit", {"data": ADRTROIS}))["kind"] == "ins_datamatrix"
    assert [s[0] for s in recorder.scans] == ["eprescription_qr", "ins_datamatrix"]


async def test_scan_serial_pty_reaches_scan_received(scanner_agent: AgentFactory, emulator: ScannerEmulator,
                                                     lgc_for: Any) -> None:
    agent, recorder = await scanner_agent(scanner=emulator.plugin_settings())
    service = scanner_service(agent)
    await wait_until(lambda: any(s.startswith("connecté") for n, s in service.devices.items() if "série" in n),
                     what="serial scanner opened")
    client = await lgc(agent, lgc_for)
    await emulator.scan(ADRTROIS.encode(), via="serial")
    await wait_until(lambda: recorder.scans, what="serial scan routed")
    assert recorder.scans == [("ins_datamatrix", CONTENT, "serial")]
    # Two scans back to back, the second without suffix (ends after the idle time), then a damaged one.
    await emulator.scan(sandbox_payload("ECETINSI").encode(), via="serial", suffix=b"\r\n")
    await emulator.scan(ADRTROIS.encode(), via="serial", suffix=b"")
    await wait_until(lambda: len(recorder.scans) == 3, what="three scans routed")
    assert [s[1]["birth_name"] for s in recorder.scans] == ["ADRTROIS", "ECETINSI", "ADRTROIS"]
    await emulator.scan(b"IS0100000000000000000000", via="serial")
    rejected = await client.event("scan.rejected")
    assert rejected["source"] == "serial" and rejected["errors"][0]["field"] == "header"


async def test_scan_hid_pos_reports_reach_scan_received(scanner_agent: AgentFactory,
                                                        emulator: ScannerEmulator) -> None:
    agent, recorder = await scanner_agent(scanner=emulator.plugin_settings())
    await emulator.wait_hid_reader()
    long_payload = sandbox_payload("ECETINSI").encode()
    assert len(long_payload) > 56  # spans two reports: continuation flag exercised
    await send_to_emulator(emulator.control_url, data=long_payload, via="hid")
    await wait_until(lambda: recorder.scans, what="HID POS scan routed")
    kind, content, source = recorder.scans[0]
    assert (kind, source) == ("ins_datamatrix", "hid")
    assert content["first_names"] == ["PIERRE-ALAIN", "MURIEL", "FLORIANT"]


async def test_scan_status_in_agent_info(scanner_agent: AgentFactory, emulator: ScannerEmulator) -> None:
    agent, _ = await scanner_agent(scanner=emulator.plugin_settings())
    await emulator.wait_hid_reader()
    info = await agent.info()
    devices = info["services"]["scanner"]["devices"]
    assert "HID POS (émulateur)" in devices and any(name.startswith("série") for name in devices)
    await wait_until(lambda: all(state == "connecté" for state in scanner_service(agent).devices.values()),
                     what="serial and HID scanners connected")
    assert (await agent.info())["services"]["scanner"]["state"] == "douchettes connectées : 2 sur 2"


async def test_scan_status_without_devices_is_keyboard_mode(scanner_agent: AgentFactory) -> None:
    from agent.tray import build_tray

    agent, _ = await scanner_agent()
    assert (await agent.info())["services"]["scanner"] == {
        "state": "en marche (douchettes en mode clavier)", "devices": {}, "received": 0, "rejected": 0}
    ui = agent.plugins.pm.get_plugin("ui")
    status = next(e for e in build_tray(await ui.tray_snapshot()).menu if e.label == "Cartes et lecteurs")
    assert "Douchettes : en marche (douchettes en mode clavier)" in [e.label for e in status.children]


async def test_scan_tray_item_is_registered_in_the_sandbox_section(scanner_agent: AgentFactory) -> None:
    agent, _ = await scanner_agent(sandbox=True)
    items = [(i.label, i.section, i.plugin) for i in agent.tray_items]
    assert ("Scanner un Datamatrix INS de test", "sandbox", "sandbox-scanner") in items
    assert [i for i in items if i[2] == "scanner"] == []  # the product scanner plugin adds no sandbox entry


async def test_scan_privacy_no_patient_data_in_logs(scanner_agent: AgentFactory, emulator: ScannerEmulator,
                                                    lgc_for: Any, caplog: Any) -> None:
    import logging

    caplog.set_level(logging.DEBUG)  # hook tracing included
    agent, recorder = await scanner_agent(scanner=emulator.plugin_settings())
    client = await lgc(agent, lgc_for)
    await emulator.wait_hid_reader()
    await emulator.scan(ADRTROIS.encode(), via="hid")
    await client.result("scan.submit", {"data": ADRTROIS.replace("\x1d", "<GS>")})
    await client.call("scan.submit", {"data": ADRTROIS.replace("7878", "7879")})
    await wait_until(lambda: len(recorder.scans) == 2, what="two scans")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "scan recognised from hid" in text and "hook parse_scan" in text  # the log did record the scans
    for secret in ("ADRTROIS", "DOMINIQUE", "297022A", "02077878", "26-02-1997", "1997-02-26", "2A020"):
        assert secret not in text, secret


async def test_scan_tray_sandbox_entry_scans_through_the_emulator(scanner_agent: AgentFactory,
                                                                  emulator: ScannerEmulator,
                                                                  agent_config: Any) -> None:
    agent_config.services["scanner"] = emulator.control_url
    agent, recorder = await scanner_agent(scanner=emulator.plugin_settings(), config=agent_config, sandbox=True)
    service = scanner_service(agent)
    await wait_until(lambda: any(s == "connecté" for n, s in service.devices.items() if "série" in n),
                     what="serial scanner opened")
    item = next(i for i in agent.tray_items if i.label == "Scanner un Datamatrix INS de test")
    await item.action()
    await wait_until(lambda: recorder.scans, what="tray scan routed")
    assert recorder.scans == [("ins_datamatrix", CONTENT, "serial")]


async def test_scan_hid_pos_scanner_unplugged_then_back(scanner_agent: AgentFactory,
                                                        emulator: ScannerEmulator) -> None:
    agent, recorder = await scanner_agent(scanner=emulator.plugin_settings())
    service = scanner_service(agent)
    await emulator.wait_hid_reader()
    await emulator.unplug_hid()
    await wait_until(lambda: service.devices["HID POS (émulateur)"].startswith("déconnecté"), what="unplugged")
    await emulator.wait_hid_reader(timeout=10)  # reopened by the reader (every 2 s)
    await wait_until(lambda: service.devices["HID POS (émulateur)"] == "connecté", what="reconnected")
    await emulator.scan(ADRTROIS.encode(), via="hid")
    await wait_until(lambda: recorder.scans, what="scan after reconnection")
    assert recorder.scans[0][2] == "hid"


async def test_scan_submit_says_when_no_plugin_took_the_code(agent_config: Any, lgc_for: Any) -> None:
    # The INS plugin is loaded but not started (INSi not configured): the scan is read, nothing is checked.
    agent = Agent(agent_config)
    await agent.start()
    try:
        await wait_until(lambda: agent.plugins.states["scanner"].started, what="scanner started")
        assert not agent.plugins.states["ins"].started
        client = await lgc(agent, lgc_for)
        answer = await client.result("scan.submit", {"data": ADRTROIS})
        assert answer["handled"] is False and "aucun module" in answer["message"]
        assert "identity_id" not in answer
    finally:
        await agent.stop()


class BrokenParser:
    @hookimpl
    def parse_scan(self, data: bytes) -> Mapping[str, Any] | None:
        raise RuntimeError("bug in a third-party parser")


async def test_scan_routing_survives_a_broken_parser(scanner_agent: AgentFactory, lgc_for: Any) -> None:
    agent, recorder = await scanner_agent(extra=[(BrokenParser(), "broken")])
    client = await lgc(agent, lgc_for)
    unknown = await client.call("scan.submit", {"data": "3017620422003"})  # every parser is asked
    assert unknown["error"]["code"] == SCAN_UNRECOGNISED
    assert agent.plugins.states["broken"].status == "degraded"
    answer = await client.result("scan.submit", {"data": ADRTROIS})
    assert answer["kind"] == "ins_datamatrix" and recorder.scans


async def test_scan_tray_sandbox_entry_says_in_french_why_the_emulator_cannot_scan(
        scanner_agent: AgentFactory, emulator: ScannerEmulator, agent_config: Any) -> None:
    import pytest

    from agent.errors import UserFacingError
    from sandbox.scanner.emulator import EmulatorError

    # No reader of the agent connected to the emulator's HID port: the emulator answers why, in French.
    with pytest.raises(EmulatorError, match="^aucun lecteur HID POS de l'agent n'est connecté à l'émulateur"):
        await send_to_emulator(emulator.control_url, identity="ADRTROIS", via="hid")
    with pytest.raises(EmulatorError, match="^mode d'envoi inconnu : 'usb' \\(serial ou hid\\)$"):
        await send_to_emulator(emulator.control_url, identity="ADRTROIS", via="usb")
    # The tray entry turns it into a message for the user (not "l'action a échoué, voir le journal").
    await emulator.stop()  # the sandbox stopped behind the agent's back
    agent_config.services["scanner"] = emulator.control_url
    agent, recorder = await scanner_agent(config=agent_config, sandbox=True)
    item = next(i for i in agent.tray_items if i.label == "Scanner un Datamatrix INS de test")
    with pytest.raises(UserFacingError, match="^Émulateur de douchette injoignable : relancez"):
        await item.action()
    assert recorder.scans == []


async def test_scan_device_states_are_french(scanner_agent: AgentFactory) -> None:
    from plugins.scanner.inputs import french_reason

    agent, _ = await scanner_agent(scanner={"serial": [{"port": "/dev/ttyVIGIE-ABSENT"}]})
    service = scanner_service(agent)
    await wait_until(lambda: service.devices.get("série /dev/ttyVIGIE-ABSENT", "").startswith("déconnecté"),
                     what="absent serial port reported")
    # pyserial says "could not open port ...: [Errno 2] No such file or directory: ..."
    assert service.devices["série /dev/ttyVIGIE-ABSENT"] == "déconnecté (introuvable : débranché ou mauvais port)"
    assert french_reason("Connection refused") == "connexion refusée"  # the HID POS emulator's socket
    assert french_reason("HID POS emulator closed the stream") == "HID POS emulator closed the stream"
