"""Shared fixtures of the INSi client tests: the wire samples and one throwaway PKI per session."""

from __future__ import annotations

import pytest

from sandbox.insi.pki import SandboxPki, generate_sandbox_pki
from tests.fixtures import INSI_SAMPLES as SAMPLES
from tests.fixtures import insi_sample as sample

__all__ = ["SAMPLES", "pki", "sample"]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SandboxPki:
    return generate_sandbox_pki(tmp_path_factory.mktemp("insi-pki") / "pki")
