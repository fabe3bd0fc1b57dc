"""The téléservice client against the sandbox server over real HTTP: OK, KO, no answer, unreachable, disabled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from plugins.eprescription.teleservice import AnswerState, DisabledTeleservice, HttpTeleservice, build_request
from plugins.eprescription.validation import parse_prescription
from sandbox.eprescription.server import EprescriptionSandbox, start_eprescription_sandbox
from tests.conftest import free_port


def _request(ordonnance: dict[str, Any], request_id: str = "req-0123456789") -> dict[str, Any]:
    return build_request(parse_prescription(ordonnance), request_id, None)


async def test_teleservice_ok_returns_identifier_idempotent_on_request_id(ep_sandbox: EprescriptionSandbox,
                                                                           ordonnance: dict[str, Any]) -> None:
    client = HttpTeleservice(ep_sandbox.url, timeout=2.0)
    try:
        first = await client.register(_request(ordonnance))
        again = await client.register(_request(ordonnance))
        other = await client.register(_request(ordonnance, "req-other-request"))
    finally:
        await client.close()
    assert first.state is AnswerState.OK and first.reason is None
    assert first.identifier is not None and first.identifier.startswith("EP-") and len(first.identifier) == 19
    assert first.qr_payload == first.identifier
    assert again.identifier == first.identifier != other.identifier
    assert ep_sandbox.state.counts["ok"] == 3


async def _set_mode(sandbox: EprescriptionSandbox, mode: str) -> None:
    """The stand-in's own admin endpoint: the product client sends nothing sandbox-specific."""
    async with aiohttp.ClientSession() as s, s.post(f"{sandbox.url}/admin/mode", json={"mode": mode}) as r:
        assert r.status == 200


async def test_teleservice_ko_by_config_and_back_to_ok(ep_sandbox: EprescriptionSandbox,
                                                       ordonnance: dict[str, Any]) -> None:
    client = HttpTeleservice(ep_sandbox.url, timeout=2.0)
    try:
        await _set_mode(ep_sandbox, "ko")
        by_config = await client.register(_request(ordonnance, "req-by-config"))
        again = await client.register(_request(ordonnance))
        await _set_mode(ep_sandbox, "ok")
        forced_ok = await client.register(_request(ordonnance, "req-forced-ok"))
    finally:
        await client.close()
    for answer in (again, by_config):
        assert answer.state is AnswerState.KO and answer.identifier is None
        assert answer.error_code == "EP-REJ-01"
        assert answer.reason is not None and "a refusé la prescription (EP-REJ-01" in answer.reason
        assert answer.reason.endswith("ordonnance produite sans code 2D.")
    assert forced_ok.state is AnswerState.OK


async def test_teleservice_no_answer_is_a_timeout(ep_sandbox: EprescriptionSandbox, ordonnance: dict[str, Any]) -> None:
    client = HttpTeleservice(ep_sandbox.url, timeout=0.3)
    try:
        await _set_mode(ep_sandbox, "timeout")
        answer = await client.register(_request(ordonnance))
    finally:
        await client.close()
    assert answer.state is AnswerState.TIMEOUT and answer.identifier is None
    assert answer.reason == "Le téléservice e-prescription n'a pas répondu en 0.3 s : ordonnance produite sans code 2D."
    assert ep_sandbox.state.counts["timeout"] == 1  # the request did reach the server, which held it


async def test_teleservice_unreachable_is_no_answer(ordonnance: dict[str, Any]) -> None:
    client = HttpTeleservice(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    try:
        answer = await client.register(_request(ordonnance))
    finally:
        await client.close()
    assert answer.state is AnswerState.TIMEOUT
    assert answer.reason == "Le téléservice e-prescription est injoignable : ordonnance produite sans code 2D."


async def test_teleservice_disabled_answers_without_calling(ordonnance: dict[str, Any]) -> None:
    answer = await DisabledTeleservice("Module e-prescription désactivé").register(_request(ordonnance))
    assert answer.state is AnswerState.DISABLED
    assert answer.reason == "Module e-prescription désactivé : ordonnance produite sans code 2D."


async def test_teleservice_sandbox_refuses_malformed_body() -> None:
    sandbox = await start_eprescription_sandbox()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{sandbox.url}/prescriptions", json={"items": []}) as r:
                assert r.status == 400 and (await r.json())["code"] == "EP-400"
            async with s.post(f"{sandbox.url}/admin/mode", json={"mode": "maybe"}) as r:
                assert r.status == 400
        client = HttpTeleservice(sandbox.url, timeout=2.0)
        try:
            answer = await client.register({"request_id": "x"})
        finally:
            await client.close()
        assert answer.state is AnswerState.KO and answer.error_code == "EP-400"
        assert sandbox.state.counts["invalid"] == 2
    finally:
        await sandbox.stop()


async def test_teleservice_https_trusts_only_the_configured_ca(ordonnance: dict[str, Any]) -> None:
    sandbox = await start_eprescription_sandbox(tls=True)
    try:
        assert sandbox.url.startswith("https://127.0.0.1:") and sandbox.ca_file is not None
        trusted = HttpTeleservice(sandbox.url, timeout=2.0, ca_files=[str(sandbox.ca_file)])
        untrusted = HttpTeleservice(sandbox.url, timeout=2.0)
        try:
            ok = await trusted.register(_request(ordonnance))
            refused = await untrusted.register(_request(ordonnance, "req-untrusted"))
        finally:
            await trusted.close()
            await untrusted.close()
        assert ok.state is AnswerState.OK
        assert refused.state is AnswerState.TIMEOUT and refused.error_code == "tls"
        assert refused.reason == ("Le certificat du téléservice e-prescription n'est pas reconnu : ordonnance "
                                  "produite sans code 2D.")
        assert sandbox.plugin_settings() == {"url": sandbox.url, "ca_files": [str(sandbox.ca_file)]}
        directory = sandbox.ca_file.parent
    finally:
        await sandbox.stop()
    assert not directory.exists()  # the throwaway key is deleted with the sandbox


async def test_teleservice_unreadable_ca_file_is_a_french_not_ready_reason(tmp_path: Path) -> None:
    from agent.app import Agent
    from agent.config import config_from_dict
    from tests.plugins.ins.conftest import wait_until

    config = config_from_dict({
        "api": {"port": 0}, "store": {"path": str(tmp_path / "vigie.sqlite3")}, "log": {"dir": str(tmp_path / "logs")},
        "plugins": {"eprescription": {"url": "https://127.0.0.1:9/", "ca_files": [str(tmp_path / "absent.pem")]}},
    })
    agent = Agent(config)
    await agent.start()
    try:
        state = agent.plugins.states["eprescription"]
        await wait_until(lambda: state.reason is not None, what="e-prescription degraded")
        assert not state.started and state.status == "degraded"
        assert state.reason == ("certificat d'autorité du téléservice e-prescription illisible "
                                "([plugins.eprescription] ca_files : No such file or directory)")
    finally:
        await agent.stop()
