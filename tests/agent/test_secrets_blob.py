"""Binary secrets (an organisation's PKCS#12) stored chunked behind the secrets port: the size-limit logic
(Windows Credential Locker: 2,560 bytes of UTF-16 per secret), corruption detected in French, and the round
trip through a real Secret Service keyring (gnome-keyring on a private D-Bus session), across processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agent.secrets import (
    CHUNK_CHARS,
    CRED_MAX_CREDENTIAL_BLOB_SIZE,
    SecretCorrupted,
    SecretStore,
    join_chunks,
    parse_manifest,
    split_chunks,
)
from sandbox.insi.pki import SandboxPki
from tests.installer.desktop import SECRET_SERVICE, home_env, run_in_session
from tests.plugins.ins.conftest import insi_pki  # noqa: F401


@pytest.mark.parametrize("size", [0, 1, 899, 900, 901, 1800, 3878, 20_000])
def test_blob_chunks_fit_the_smallest_os_keyring(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    manifest, chunks = split_chunks(data)
    for text in (manifest, *chunks):
        assert len(text) <= CHUNK_CHARS
        assert len(text.encode("utf-16-le")) <= CRED_MAX_CREDENTIAL_BLOB_SIZE  # as Credential Locker stores it
    assert len(chunks) == max(1, -(-((size + 2) // 3 * 4) // CHUNK_CHARS))  # base64 length / chunk, rounded up
    meta = parse_manifest("x", manifest)
    assert meta["chunks"] == len(chunks) and meta["size"] == size
    assert join_chunks("x", meta, list(chunks)) == data


def test_blob_chunk_boundary_is_exact() -> None:
    assert len(split_chunks(b"\0" * (CHUNK_CHARS // 4 * 3))[1]) == 1  # exactly one full chunk
    assert len(split_chunks(b"\0" * (CHUNK_CHARS // 4 * 3 + 1))[1]) == 2


def test_blob_missing_or_altered_chunk_is_reported_in_french() -> None:
    data = b"certificat" * 500
    manifest, chunks = split_chunks(data)
    meta = parse_manifest("dmp.certificate", manifest)
    with pytest.raises(SecretCorrupted) as missing:
        join_chunks("dmp.certificate", meta, [chunks[0], None, *chunks[2:]])
    assert missing.value.message == ("Le secret « dmp.certificate » du trousseau est incomplet (morceau 2 sur "
                                     f"{len(chunks)} absent) : importez à nouveau le certificat (vigie setup).")
    altered = [chunks[0][:-4] + "AAAA", *chunks[1:]]
    with pytest.raises(SecretCorrupted, match="altéré .empreinte SHA-256"):
        join_chunks("dmp.certificate", meta, altered)
    with pytest.raises(SecretCorrupted, match="format inconnu"):
        parse_manifest("dmp.certificate", "une phrase de passe rangée là par erreur")


def test_blob_store_roundtrip_shrinks_and_deletes() -> None:
    store = SecretStore()
    assert store.get_blob("ins.certificate") is None
    store.set_blob("ins.certificate", b"x" * 5000)
    assert store.get("ins.certificate#5") is not None and store.get("ins.certificate#6") is None  # 6,668 chars
    store.set_blob("ins.certificate", b"y" * 100)  # a smaller certificate: the old chunks go away
    assert store.get_blob("ins.certificate") == b"y" * 100
    assert store.get("ins.certificate#1") is None and store.get("ins.certificate#5") is None
    store.delete_blob("ins.certificate")
    assert store.get_blob("ins.certificate") is None and store.get("ins.certificate#0") is None


WRITE = """
import sys
from pathlib import Path
from agent.secrets import SecretStore
import keyring
assert type(keyring.get_keyring()).__name__ == "Keyring", keyring.get_keyring()
SecretStore().set_blob("ins.certificate", Path(sys.argv[1]).read_bytes())
"""
READ = """
import json, sys
from agent.secrets import SecretCorrupted, SecretStore
import keyring
store = SecretStore()
out = {"same": store.get_blob("ins.certificate") == open(sys.argv[1], "rb").read(),
       "chunks": json.loads(store.get("ins.certificate"))["chunks"]}
keyring.delete_password("vigie", "ins.certificate#2")  # a write cut half-way, or a chunk lost since
try:
    store.get_blob("ins.certificate")
except SecretCorrupted as exc:
    out["corrupted"] = exc.message
print(json.dumps(out))
"""


def test_blob_through_a_real_secret_service_keyring_across_processes(tmp_path: Path,
                                                                     insi_pki: SandboxPki) -> None:  # noqa: F811
    env = {**home_env(tmp_path, None), "PYTHON_KEYRING_BACKEND": SECRET_SERVICE,
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    p12 = str(insi_pki.client_p12)
    script = tmp_path / "both.sh"  # one D-Bus session (one gnome-keyring daemon), two Python processes
    script.write_text(f'"{sys.executable}" -c \'{WRITE}\' "$1" && exec "{sys.executable}" -c \'{READ}\' "$1"\n')
    result = run_in_session(["sh", str(script), p12], env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["same"] and out["chunks"] >= 4  # a ~3.9 KB PKCS#12: over the Credential Locker limit, so chunked
    assert out["corrupted"].startswith("Le secret « ins.certificate » du trousseau est incomplet (morceau 3 sur")
