"""A throwaway test PKI for the INSi sandbox, generated at start with `cryptography`.

Nothing here is IGC-Santé: every certificate is self-made, valid for a few days, and marked
`VIGIE SANDBOX` in its organisation. The CA names mimic the test IGC-Santé ones (insi.md §1) so a client
that checks the issuer CN of its certificate sees the test name it expects.

- Organisation PKI: root `TEST AC RACINE IGC-SANTE ELEMENTAIRE` → intermediate
  `TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS`, which issues the server certificate (127.0.0.1, localhost),
  the client organisation certificate CN=`INSI-AUTO` (OU = emitter id) and a wrong-CN client
  (CN=`INSI-TEST-MAUVAIS`), both exported as PKCS#12 with a random passphrase.
- CPS PKI: `TEST AC IGC-SANTE FORTE PERSONNES` issuing a PS certificate (GN+CN+SN, T, C) whose key signs
  the SAML assertion in CPS mode (the agent's software signer uses it in sandbox mode).

Everything goes in a private (0700) directory; private keys and PKCS#12 files are 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SANDBOX_ORG = "VIGIE SANDBOX - certificats de test jetables"
ROOT_CN = "TEST AC RACINE IGC-SANTE ELEMENTAIRE"
ORG_CA_CN = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
CPS_CA_CN = "TEST AC IGC-SANTE FORTE PERSONNES"
CLIENT_CN = "INSI-AUTO"
WRONG_CLIENT_CN = "INSI-TEST-MAUVAIS"
DEFAULT_EMITTER = "10B0152872"
PS_NATIONAL_ID = "00B6087510"
PS_GIVEN_NAME = "OLIVIER"
PS_SURNAME = "SANDBOX"
PS_TITLE = "Médecin"


@dataclass(frozen=True)
class SandboxPki:
    """Paths (PEM unless said otherwise) and passphrases of the throwaway PKI."""

    directory: Path
    root_ca: Path  # TEST AC RACINE IGC-SANTE ELEMENTAIRE (self-signed)
    org_ca: Path  # TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS (intermediate)
    server_cert: Path  # leaf + intermediate chain
    server_key: Path
    client_p12: Path  # CN=INSI-AUTO, OU=<emitter>; key + cert + intermediate
    client_passphrase: str
    client_emitter: str
    wrong_client_p12: Path  # CN=INSI-TEST-MAUVAIS
    wrong_client_passphrase: str
    cps_ca: Path  # TEST AC IGC-SANTE FORTE PERSONNES (self-signed)
    ps_cert: Path
    ps_key: Path  # unencrypted PKCS#8, 0600 (a software stand-in for the CPS card key)
    ps_national_id: str

    @property
    def ca_files(self) -> tuple[Path, Path]:
        """What a client pins to trust the sandbox server (ACR-EL + ACI-EL-ORG look-alikes)."""
        return (self.root_ca, self.org_ca)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str, *, ou: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, SANDBOX_ORG)]
    if ou is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _ps_name(national_id: str) -> x509.Name:
    # insi.md §3.4: `2.5.4.42=OLIVIER+CN=00B6087510+SN=…,T=Infirmier,C=FR` (RFC 4514 order: last RDN first).
    return x509.Name([
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]),
        x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.TITLE, PS_TITLE)]),
        x509.RelativeDistinguishedName([
            x509.NameAttribute(NameOID.GIVEN_NAME, PS_GIVEN_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, national_id),
            x509.NameAttribute(NameOID.SURNAME, PS_SURNAME),
        ]),
    ])


def _build(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey,
           *, ca: bool, now: dt.datetime, days: int) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    return builder


def _leaf_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=signing, key_encipherment=not signing,
                         data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                         encipher_only=False, decipher_only=False)


def write_file(path: Path, data: bytes, *, private: bool = False) -> Path:
    """Write a PKI file; private keys and PKCS#12 bundles are 0600 from creation (sandbox/mss/pki.py too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def certs_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def generate_sandbox_pki(directory: Path, *, emitter: str = DEFAULT_EMITTER, ps_national_id: str = PS_NATIONAL_ID,
                         days: int = 7) -> SandboxPki:
    """Create the PKI in `directory` (created 0700; an existing one is tightened to 0700)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    now = dt.datetime.now(dt.UTC)
    sha = hashes.SHA256()

    root_key = _key()
    root_name = _name(ROOT_CN)
    root = _build(root_name, root_key, root_name, root_key, ca=True, now=now, days=days).sign(root_key, sha)
    org_key = _key()
    org_name = _name(ORG_CA_CN)
    org = _build(org_name, org_key, root_name, root_key, ca=True, now=now, days=days).sign(root_key, sha)

    server_key = _key()
    server = (
        _build(_name("localhost"), server_key, org_name, org_key, ca=False, now=now, days=days)
        .add_extension(_leaf_usage(signing=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .sign(org_key, sha)
    )

    def client(cn: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        key = _key()
        cert = (
            _build(_name(cn, ou=emitter), key, org_name, org_key, ca=False, now=now, days=days)
            .add_extension(_leaf_usage(signing=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(org_key, sha)
        )
        return key, cert

    def p12(name: str, key: rsa.RSAPrivateKey, cert: x509.Certificate, passphrase: str) -> Path:
        data = pkcs12.serialize_key_and_certificates(
            name.encode(), key, cert, [org],
            serialization.BestAvailableEncryption(passphrase.encode()))
        return write_file(directory / f"{name}.p12", data, private=True)

    client_key, client_cert = client(CLIENT_CN)
    wrong_key, wrong_cert = client(WRONG_CLIENT_CN)
    client_pass = secrets.token_urlsafe(18)
    wrong_pass = secrets.token_urlsafe(18)

    cps_key = _key()
    cps_name = _name(CPS_CA_CN)
    cps = _build(cps_name, cps_key, cps_name, cps_key, ca=True, now=now, days=days).sign(cps_key, sha)
    ps_key = _key()
    ps = (
        _build(_ps_name(ps_national_id), ps_key, cps_name, cps_key, ca=False, now=now, days=days)
        .add_extension(_leaf_usage(signing=True), critical=True)
        .sign(cps_key, sha)
    )

    return SandboxPki(
        directory=directory,
        root_ca=write_file(directory / "root-ca.pem", certs_pem(root)),
        org_ca=write_file(directory / "org-ca.pem", certs_pem(org)),
        server_cert=write_file(directory / "server.pem", certs_pem(server, org)),
        server_key=write_file(directory / "server.key", key_pem(server_key), private=True),
        client_p12=p12("insi-auto", client_key, client_cert, client_pass),
        client_passphrase=client_pass,
        client_emitter=emitter,
        wrong_client_p12=p12("insi-test-mauvais", wrong_key, wrong_cert, wrong_pass),
        wrong_client_passphrase=wrong_pass,
        cps_ca=write_file(directory / "cps-ca.pem", certs_pem(cps)),
        ps_cert=write_file(directory / "ps.pem", certs_pem(ps)),
        ps_key=write_file(directory / "ps.key", key_pem(ps_key), private=True),
        ps_national_id=ps_national_id,
    )
