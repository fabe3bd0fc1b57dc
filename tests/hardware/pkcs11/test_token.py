"""CPS through PKCS#11 with a SoftHSM2 token holding the sandbox PS key (CKA_ID 0220, PIN `TEST_PIN`)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
from collections.abc import AsyncIterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pkcs11 import exceptions as p11

from hardware.errors import CardError, PinError
from hardware.pkcs11.identity import holder_from_certificate
from hardware.pkcs11.modules import cryptolib_candidates, find_module
from hardware.pkcs11.token import Pkcs11Token, translate
from plugins.ins.insi.client import InsiClient, InsiSettings
from plugins.ins.insi.saml import PsAttributes
from plugins.ins.insi.signer import Signer
from plugins.ins.insi.types import SearchTraits
from sandbox.cards.softhsm import SoftToken
from sandbox.insi.pki import SandboxPki
from sandbox.insi.server import InsiSandbox, start_insi_sandbox
from tests.cardkit import TEST_PIN


class Pins:
    """Answers PIN prompts in order and records what the token told (tries left)."""

    def __init__(self, *pins: str | None) -> None:
        self.pins = list(pins)
        self.asked: list[int | None] = []

    def __call__(self, tries: int | None) -> str | None:
        self.asked.append(tries)
        return self.pins.pop(0)


def token(t: SoftToken, pins: Pins, **kw: object) -> Pkcs11Token:
    return Pkcs11Token(t.module, ask_pin=pins, token_label=t.label, **kw)  # type: ignore[arg-type]


def verify(cert_der: bytes, signature: bytes, data: bytes) -> None:
    key = x509.load_der_x509_certificate(cert_der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_pkcs11_reads_the_holder_without_pin(cps_token: SoftToken, insi_pki: SandboxPki) -> None:
    pins = Pins()
    holder = token(cps_token, pins).open()
    assert (holder.kind, holder.national_id) == ("cps", insi_pki.ps_national_id)
    assert holder.name and holder.profession
    assert pins.asked == []


def test_pkcs11_signs_and_the_certificate_verifies(cps_token: SoftToken, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pins = Pins(TEST_PIN)
    t = token(cps_token, pins)
    t.open()
    data = b"<ds:SignedInfo>...</ds:SignedInfo>"
    signature = t.sign(data)
    verify(t.certificate(), signature, data)
    verify(t.certificate(), t.sign(b"second"), b"second")
    assert pins.asked == [None]  # asked once while the card stays in
    assert TEST_PIN not in caplog.text
    assert isinstance(t, Signer)  # the INS plugin's port
    t.close()


def test_pkcs11_wrong_pin_then_right_pin(cps_token: SoftToken) -> None:
    pins = Pins("0000", TEST_PIN)
    t = token(cps_token, pins)
    with pytest.raises(PinError, match="Code porteur incorrect"):
        t.sign(b"x")
    verify(t.certificate(), t.sign(b"x"), b"x")
    t.close()


def test_pkcs11_cancelled_pin(cps_token: SoftToken) -> None:
    with pytest.raises(PinError, match="annulée"):
        token(cps_token, Pins(None)).sign(b"x")


def test_pkcs11_errors_in_french() -> None:
    # SoftHSM2 never locks a user PIN (verified: 12 wrong PINs, still usable), so the locked-PIN and
    # removed-card answers are checked on the library's own exception types.
    assert "bloqué" in translate(p11.PinLocked()).message_fr
    assert isinstance(translate(p11.PinLocked()), PinError)
    assert "retirée" in translate(p11.TokenNotPresent()).message_fr
    assert "retirée" in translate(p11.DeviceRemoved()).message_fr
    assert "expiré" in translate(p11.PinExpired()).message_fr


def test_pkcs11_unknown_token_or_key_id(cps_token: SoftToken) -> None:
    with pytest.raises(CardError, match="Aucune carte"):
        Pkcs11Token(cps_token.module, ask_pin=Pins(), token_label="NOPE").open()
    with pytest.raises(CardError, match="introuvable"):
        token(cps_token, Pins(), auth_key_id=bytes.fromhex("0110")).open()


def test_pkcs11_module_lookup(tmp_path: object) -> None:
    assert find_module("/nonexistent/libcps3_pkcs11_lux.so") is None
    assert any("cps3_pkcs11_w64.dll" in str(p) for p in cryptolib_candidates("win32"))
    assert any("osx" in str(p) for p in cryptolib_candidates("darwin"))


def _cert(subject: list[x509.NameAttribute], policies: list[str] | None = None) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(subject)
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)))
    if policies:
        builder = builder.add_extension(x509.CertificatePolicies(
            [x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]), critical=False)
    from cryptography.hazmat.primitives.serialization import Encoding
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def test_holder_kinds_from_the_certificate() -> None:
    cps = holder_from_certificate(_cert([x509.NameAttribute(NameOID.COMMON_NAME, "810001234567"),
                                         x509.NameAttribute(NameOID.SURNAME, "MARTIN"),
                                         x509.NameAttribute(NameOID.GIVEN_NAME, "JEAN"),
                                         x509.NameAttribute(NameOID.TITLE, "Médecin")]))
    assert (cps.kind, cps.name, cps.national_id, cps.profession) == ("cps", "JEAN MARTIN", "810001234567", "Médecin")
    cpe = holder_from_certificate(_cert([x509.NameAttribute(NameOID.COMMON_NAME, "3750000001/0042"),
                                         x509.NameAttribute(NameOID.SURNAME, "DURAND"),
                                         x509.NameAttribute(NameOID.GIVEN_NAME, "ALICE")]))
    assert (cpe.kind, cpe.national_id) == ("cpe_nominative", "3750000001")
    anonymous = holder_from_certificate(_cert([x509.NameAttribute(NameOID.COMMON_NAME, "3750000001/9999")]))
    assert (anonymous.kind, anonymous.name) == ("cpe_anonymous", None)
    by_policy = holder_from_certificate(
        _cert([x509.NameAttribute(NameOID.COMMON_NAME, "810001234567"), x509.NameAttribute(NameOID.SURNAME, "X")],
              policies=["1.2.250.1.71.99.1"]), {"1.2.250.1.71.99.1": "cpe_anonymous"})
    assert (by_policy.kind, by_policy.name) == ("cpe_anonymous", None)


# -- INSi CPS mode: the sandbox verifies the assertion signed by the token --------------------------------------
@pytest.fixture
async def insi(insi_pki: SandboxPki) -> AsyncIterator[InsiSandbox]:
    sandbox = await start_insi_sandbox(pki=insi_pki)
    yield sandbox
    await sandbox.stop()


async def test_pkcs11_signer_in_insi_cps_mode(cps_token: SoftToken, insi: InsiSandbox) -> None:
    pins = Pins(TEST_PIN)
    signer = token(cps_token, pins)
    pki = insi.pki
    settings = InsiSettings(
        url=insi.url, auth="cps", ca_files=list(pki.ca_files), pkcs12_path=None, pkcs12_passphrase=None,
        idam=insi.idam, software_name="Vigie", software_version="0.1.0",
        instance_id="5f0c1d7e-0000-4000-8000-000000000004", connect_timeout=2.0, total_timeout=5.0,
        signer=signer, ps=PsAttributes(billing_id="991234567", specialty_code="SM54"))
    client = InsiClient(settings)
    await client.start()
    try:
        outcome = await client.search_by_traits(SearchTraits("ADRTROIS", ("DOMINIQUE",), "F", "1997-02-26"))
    finally:
        await client.close()
        signer.close()
    assert outcome.error is None and outcome.response is not None and outcome.response.found
    assert [(r.mode, r.outcome) for r in insi.stats.last_requests] == [("cps", "CR 00")]
    assert pins.asked == [None]


def test_pkcs11_token_gone_mid_session_says_the_card_was_removed(spare_cps_token: SoftToken) -> None:
    # The spare token, deleted while we are logged in: what a CPS pulled out between the PIN and the
    # signature looks like to the middleware.
    t = token(spare_cps_token, Pins(TEST_PIN))
    verify(t.certificate(), t.sign(b"avant"), b"avant")
    subprocess.run(["softhsm2-util", "--delete-token", "--token", spare_cps_token.label], check=True,
                   capture_output=True, env=os.environ, timeout=30)
    with pytest.raises(CardError) as info:
        t.sign(b"pendant")
    assert "retirée" in info.value.message_fr
    # Its slot stays in this process's slot list, unreadable (SoftHSM2: CKR_GENERAL_ERROR): a token looked
    # up among all slots is still found, whatever the slot order.
    others = Pkcs11Token(spare_cps_token.module, ask_pin=Pins())  # no label, no reader: every slot is read
    assert others.open().national_id == holder_from_certificate(spare_cps_token.cert_der).national_id
    others.close()


def test_pkcs11_closed_token_is_not_reopened(cps_token: SoftToken) -> None:
    # A signer kept by someone after the card left (the INS client) must not log in again behind the card
    # layer: that session would stay open, and the next handle's login fail (USER_ALREADY_LOGGED_IN).
    pins = Pins(TEST_PIN, TEST_PIN)
    t = token(cps_token, pins)
    t.sign(b"avant")
    t.close()
    for use in (lambda: t.sign(b"apres"), t.certificate, t.open):
        with pytest.raises(CardError, match="retirée"):
            use()
    assert pins.asked == [None]
    again = token(cps_token, pins)  # the card put back: a new handle logs in
    verify(again.certificate(), again.sign(b"apres"), b"apres")
    again.close()


def test_pkcs11_doctor_probes_where_the_card_layer_looks() -> None:
    from hardware.probe import pkcs11_candidates

    # `vigie doctor` had its own copy of the list and missed /usr/local/lib/libcps3_pkcs11_lux.so.
    assert set(cryptolib_candidates()) <= set(pkcs11_candidates())
