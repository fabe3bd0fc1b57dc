"""The copies of the reference data must not drift from `../shared/data/` (checked when it is present)."""

import pytest

from sandbox.insi.identities import DEFAULT_CSV
from tests.fixtures import INSI_SAMPLES, SHARED_DATA

needs_shared = pytest.mark.skipif(not (SHARED_DATA / "insi").is_dir(), reason="reference data not beside the repo")


@needs_shared
def test_fixtures_insi_samples_equal_the_reference() -> None:
    reference = {p.name: p.read_bytes() for p in (SHARED_DATA / "insi").iterdir() if p.suffix in (".xml", ".md")}
    copies = {p.name: p.read_bytes() for p in INSI_SAMPLES.iterdir() if p.suffix in (".xml", ".md")}
    assert copies == reference


@needs_shared
def test_fixtures_sandbox_identities_equal_the_reference() -> None:
    assert DEFAULT_CSV.read_bytes() == (SHARED_DATA / "insi" / "test-identities.csv").read_bytes()


def test_fixtures_present_without_reference() -> None:
    # The suite must never depend on ../shared: these files are what it reads.
    assert sorted(p.name for p in INSI_SAMPLES.glob("*.xml"))
    assert DEFAULT_CSV.is_file()
