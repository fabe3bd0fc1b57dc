"""Admin endpoints, the sandbox service handed to the supervisor, and `python -m sandbox.insi`."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives.serialization import pkcs12

from plugins.ins.settings import PASSPHRASE_SECRET, parse_settings
from sandbox.insi.pki import SandboxPki
from sandbox.insi.server import InsiSandbox, start_insi_sandbox
from tests.conftest import PYTHON, REPO, subprocess_env
from tests.sandbox.insi.helpers import Client, envelope, traits

ZOE = traits("ADRUN", ["ZOE"], "F", "1975-12-31")


async def test_stats_endpoint(sandbox: InsiSandbox, client: Client) -> None:
    await client.post(envelope(ZOE, idam=sandbox.idam))
    status, stats = await client.admin("GET", "stats")
    assert status == 200
    assert stats["total"] == 1 and stats["per_operation"] == {"rechercherInsAvecTraitsIdentite": 1}
    assert stats["max_in_flight"] == 1 and stats["in_flight"] == 0
    assert stats["outcomes"] == {"CR 00": 1}
    assert "ADRUN" in stats["last_requests"][0]["body"]
    status, stats = await client.admin("GET", "stats?bodies=0")
    assert "body" not in stats["last_requests"][0]


async def test_config_endpoint_changes_faults_at_runtime(sandbox: InsiSandbox, client: Client) -> None:
    status, config = await client.admin("POST", "config", {"faults": [{"match": {"first_name": "ZOE"},
                                                                        "fault": "http_502", "times": 1}]})
    assert status == 200 and config["faults"][0]["fault"] == "http_502"
    assert (await client.post(envelope(ZOE, idam=sandbox.idam))).status == 502
    assert (await client.post(envelope(ZOE, idam=sandbox.idam))).cr == "00"
    status, config = await client.admin("GET", "config")
    assert config["faults"][0]["fired"] == 1 and config["faults"][0]["seen"] == 2
    status, body = await client.admin("POST", "config", {"faults": [{"fault": "nope"}]})
    assert status == 400 and "nope" in body["error"]
    status, body = await client.admin("POST", "config", ["not", "an", "object"])
    assert status == 400
    assert sandbox.config.faults[0].fault == "http_502"
    status, _ = await client.admin("POST", "reset", {})
    assert status == 200 and sandbox.stats.total == 0 and sandbox.config.faults[0].seen == 0


async def test_admin_refuses_browsers_and_non_json(sandbox: InsiSandbox, client: Client) -> None:
    status, _ = await client.admin("GET", "stats", headers={"Origin": "https://evil.example"})
    assert status == 403
    status, _ = await client.admin("POST", "config", data=b'{"latency": 5}', headers={"Content-Type": "text/plain"})
    assert status == 415
    assert sandbox.config.latency == 0.0


def test_admin_is_loopback_only() -> None:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("192.0.2.7", 5555) if name == "peername" else default)
    request = make_mocked_request("GET", "/_sandbox/stats", transport=transport)
    refusal = InsiSandbox._admin_refusal(request)
    assert refusal is not None and refusal.status == 403
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("::1", 5555, 0, 0) if name == "peername" else default)
    assert InsiSandbox._admin_refusal(make_mocked_request("GET", "/_sandbox/stats", transport=transport)) is None


async def test_soap_path_does_not_reach_the_admin(sandbox: InsiSandbox, client: Client) -> None:
    payload = json.dumps({"faults": ["http_503"]}).encode()
    reply = await client.post(payload, content_type="application/json")
    assert reply.status == 415
    reply = await client.post(payload)
    assert reply.status == 500 and b"XML reader error" in reply.body
    assert sandbox.config.faults == []
    assert (await client.post(envelope(ZOE, idam=sandbox.idam), path="/autre")).status == 404


async def test_as_service_settings_parse(sandbox: InsiSandbox, pki: SandboxPki) -> None:
    service = sandbox.as_service()
    assert service.name == "insi" and service.endpoints == {"insi": sandbox.url}
    assert sandbox.url.startswith("https://127.0.0.1:") and sandbox.url.endswith("/lps")
    settings = parse_settings(service.plugin_settings["ins"])
    assert settings.configured and settings.auth == "mtls" and settings.url == sandbox.url
    assert settings.idam == sandbox.idam and settings.emitter == pki.client_emitter
    assert settings.ca_files == [pki.root_ca, pki.org_ca]
    # As a practice's: the certificate is read from the keyring, where the sandbox's agent imports the PKI's file.
    assert settings.pkcs12_path == "keyring:ins.certificate"
    assert service.certificates == {"ins.certificate": pki.client_p12}
    passphrase = service.secrets[PASSPHRASE_SECRET]  # for the agent's keyring, not its configuration
    assert passphrase is not None
    pkcs12.load_key_and_certificates(pki.client_p12.read_bytes(), passphrase.encode())
    assert settings.user.kind == "ps" and settings.user.name == "Dr Olivier SANDBOX"
    assert settings.user.national_id == pki.ps_national_id and settings.user.profession == "Médecin"
    assert settings.ps.national_id == pki.ps_national_id and settings.ps.billing_id
    assert service.plugin_settings["sandbox-insi"]["signer"] == {"key": str(pki.ps_key), "cert": str(pki.ps_cert)}


async def test_start_generates_and_removes_its_pki() -> None:
    sb = await start_insi_sandbox(latency=0.0, faults=[{"fault": "siram_40", "times": 1}])
    directory = sb.pki.directory
    assert directory.is_dir() and sb.pki.client_p12.is_file()
    assert sb.config.faults[0].fault == "siram_40"
    await sb.stop()
    assert not directory.exists()
    await sb.stop()  # idempotent


async def test_given_directory_is_kept(tmp_path: Path) -> None:
    sb = await start_insi_sandbox(directory=tmp_path / "pki")
    await sb.stop()
    assert (tmp_path / "pki" / "insi-auto.p12").is_file()


async def test_invalid_start_settings(pki: SandboxPki) -> None:
    with pytest.raises(ValueError):
        await start_insi_sandbox(pki=pki, faults=["kaboom"])


@pytest.mark.slow
def test_module_entry_point(tmp_path: Path) -> None:
    proc = subprocess.Popen([PYTHON, "-m", "sandbox.insi", "--dir", str(tmp_path / "pki")], cwd=REPO,
                            env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        out = "".join(lines)
        assert "SOAP endpoint   : https://127.0.0.1:" in out and "[plugins.ins]" in out
        assert "VIGIE-SANDBOX-IDAM" in out
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert proc.returncode == 0
