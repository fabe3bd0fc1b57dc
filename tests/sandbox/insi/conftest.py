"""Fixtures: one throwaway PKI per test session, a fresh sandbox per test (it starts in milliseconds)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.insi.pki import SandboxPki, generate_sandbox_pki
from sandbox.insi.server import InsiSandbox, start_insi_sandbox
from tests.sandbox.insi.helpers import Client, client_context


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return generate_sandbox_pki(tmp_path_factory.mktemp("insi") / "pki")


@pytest.fixture(scope="session")
def tls(pki: SandboxPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, ssl.SSLContext]:
    directory: Path = tmp_path_factory.mktemp("insi-client")
    return {which: client_context(pki, which, directory) for which in ("auto", "wrong", None)}


@pytest.fixture
async def sandbox(pki: SandboxPki) -> AsyncIterator[InsiSandbox]:
    sb = await start_insi_sandbox(pki=pki)
    try:
        yield sb
    finally:
        await sb.stop()


@pytest.fixture
def client(sandbox: InsiSandbox, tls: dict[str | None, ssl.SSLContext]) -> Client:
    return Client(sandbox, tls)
