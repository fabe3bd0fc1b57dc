from __future__ import annotations

import datetime as dt
import os
import ssl
import stat
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from plugins.ins.insi import tls
from plugins.ins.insi.tls import build_ssl_context, check_organisation_certificate, load_pkcs12
from plugins.ins.insi.types import InsiConfigError
from sandbox.insi.pki import SandboxPki


def test_load_sandbox_client_certificate(pki: SandboxPki) -> None:
    identity = load_pkcs12(pki.client_p12, pki.client_passphrase)
    assert identity.cn == "INSI-AUTO"
    assert identity.ou == pki.client_emitter
    assert identity.issuer_cn == "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
    assert identity.is_test_certificate
    assert len(identity.chain) == 1
    check_organisation_certificate(identity)


def test_wrong_cn_is_refused_with_a_french_message(pki: SandboxPki) -> None:
    identity = load_pkcs12(pki.wrong_client_p12, pki.wrong_client_passphrase)
    with pytest.raises(InsiConfigError) as info:
        check_organisation_certificate(identity)
    assert "INSI-AUTO" in info.value.message_fr and "INSI-TEST-MAUVAIS" in info.value.message_fr


@pytest.mark.parametrize(("path", "passphrase", "words"), [
    ("client", "wrong", "phrase de passe incorrecte"),
    ("client", None, "absente"),
    (None, "x", "aucun certificat"),
    ("absent", "x", "illisible"),
    ("garbage", "x", "PKCS#12 invalide"),
])
def test_pkcs12_problems_are_config_errors(pki: SandboxPki, tmp_path: Path, path: str | None,
                                           passphrase: str | None, words: str) -> None:
    garbage = tmp_path / "garbage.p12"
    garbage.write_bytes(b"not a pkcs12")
    paths = {"client": pki.client_p12, "absent": tmp_path / "absent.p12", "garbage": garbage, None: None}
    with pytest.raises(InsiConfigError) as info:
        load_pkcs12(paths[path], passphrase)
    assert words in info.value.message_fr


def _self_signed(cn: str, *, not_before: dt.datetime, not_after: dt.datetime) -> tuple[rsa.RSAPrivateKey,
                                                                                        x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(not_before).not_valid_after(not_after).sign(key, hashes.SHA256()))
    return key, cert


def test_expired_and_future_certificates_are_refused(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    for before, after, words in ((now - dt.timedelta(days=30), now - dt.timedelta(days=1), "expiré"),
                                 (now + dt.timedelta(days=1), now + dt.timedelta(days=30), "pas encore valide")):
        key, cert = _self_signed("INSI-MANU", not_before=before, not_after=after)
        path = tmp_path / "c.p12"
        path.write_bytes(pkcs12.serialize_key_and_certificates(b"c", key, cert, None,
                                                               serialization.BestAvailableEncryption(b"pw")))
        identity = load_pkcs12(path, "pw")
        assert identity.cn == "INSI-MANU" and identity.ou is None
        with pytest.raises(InsiConfigError) as info:
            check_organisation_certificate(identity)
        assert words in info.value.message_fr


def test_context_trusts_only_the_configured_cas(pki: SandboxPki) -> None:
    context = build_ssl_context(list(pki.ca_files))
    subjects = sorted(str(c["subject"]) for c in context.get_ca_certs())
    assert len(subjects) == 2
    assert "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS" in subjects[0] + subjects[1]
    assert "TEST AC RACINE IGC-SANTE ELEMENTAIRE" in subjects[0] + subjects[1]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_der_ca_files_are_accepted(pki: SandboxPki, tmp_path: Path) -> None:
    der = tmp_path / "ACR-EL.cer"
    der.write_bytes(x509.load_pem_x509_certificate(pki.root_ca.read_bytes()).public_bytes(serialization.Encoding.DER))
    assert len(build_ssl_context([der]).get_ca_certs()) == 1


def test_ca_problems_are_config_errors(pki: SandboxPki, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    for files in ([], [tmp_path / "absent.pem"], [bad]):
        with pytest.raises(InsiConfigError):
            build_ssl_context(files)


def test_client_key_loads_without_a_plaintext_file(pki: SandboxPki, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fallback path (no memfd): a 0600 file holding an encrypted key, removed right after loading."""
    monkeypatch.delattr(os, "memfd_create", raising=False)
    created: list[tuple[str, int, bytes]] = []
    real_load = ssl.SSLContext.load_cert_chain

    def spy(self: ssl.SSLContext, certfile: str, keyfile: str | None = None, password: object = None) -> None:
        created.append((certfile, stat.S_IMODE(os.stat(certfile).st_mode), Path(certfile).read_bytes()))
        real_load(self, certfile, keyfile, password)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    build_ssl_context(list(pki.ca_files), load_pkcs12(pki.client_p12, pki.client_passphrase))
    [(path, mode, content)] = created
    assert mode == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in content and b"BEGIN PRIVATE KEY" not in content
    assert not os.path.exists(path)
    assert Path(path).parent == Path(tempfile.gettempdir())


def test_client_key_uses_memfd_when_available(pki: SandboxPki, monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(os, "memfd_create"):
        pytest.skip("no memfd on this platform")
    seen: list[str] = []
    real = tls._private_file

    def spy(data: bytes):  # type: ignore[no-untyped-def]
        cm = real(data)
        path = cm.__enter__()
        seen.append(path)
        cm.__exit__(None, None, None)
        return real(data)

    monkeypatch.setattr(tls, "_private_file", spy)
    build_ssl_context(list(pki.ca_files), load_pkcs12(pki.client_p12, pki.client_passphrase))
    assert seen and seen[0].startswith("/proc/self/fd/")
