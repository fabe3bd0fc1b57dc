"""A throwaway test PKI for the MSSanté stand-ins (embedded sandbox mailbox, Postfix/Dovecot in tests).

Self-made, valid a few days, marked `VIGIE SANDBOX`; the names mimic IGC-Santé's test ones (the only CA
an MSSanté operator accepts, Ref#2 ECO.1.1.10):
- `TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS` (one self-signed CA here) issues the mail server's
  certificate (DNS `localhost` only: a client connecting to `127.0.0.1` sees a name mismatch, which
  the tests use) and the application mailbox's client certificate (CN = the mailbox address), exported
  as PKCS#12 with a random passphrase;
- a rogue CA issues a look-alike client certificate, and the real CA an expired one: both must be refused.

Private keys and PKCS#12 files are 0600 in a 0700 directory.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sandbox.insi.pki import certs_pem, key_pem, write_file

SANDBOX_ORG = "VIGIE SANDBOX - certificats de test jetables"
CA_CN = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
ROGUE_CA_CN = "AC INCONNUE"
SERVER_NAME = "localhost"


@dataclass(frozen=True)
class ClientCert:
    p12: Path
    passphrase: str
    cert_pem: Path
    key_pem: Path  # unencrypted, 0600 (for servers' test tooling; the agent reads only the PKCS#12)


@dataclass(frozen=True)
class MailPki:
    directory: Path
    ca: Path  # PEM of the CA the servers trust and the client pins
    server_cert: Path  # leaf + CA
    server_key: Path
    app_client: ClientCert  # the application mailbox's certificate
    rogue_client: ClientCert  # same subject, issued by an unknown CA
    expired_client: ClientCert  # issued by the real CA, expired yesterday


def _name(cn: str, org: str = SANDBOX_ORG) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, start: dt.datetime, end: dt.datetime,
          usage: x509.ObjectIdentifier | None = None, dns: str | None = None) -> x509.Certificate:
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    if usage is not None:
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if dns is not None:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def generate_mail_pki(directory: Path, *, app_mailbox: str, days: int = 7) -> MailPki:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(CA_CN)
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True, start=start, end=end)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue_name = _name(ROGUE_CA_CN, "Inconnu")
    rogue = _cert(rogue_name, rogue_key, rogue_name, rogue_key, ca=True, start=start, end=end)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _cert(_name(SERVER_NAME), server_key, ca_name, ca_key, ca=False, start=start, end=end,
                   usage=ExtendedKeyUsageOID.SERVER_AUTH, dns=SERVER_NAME)

    def client(stem: str, issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey,
               c_start: dt.datetime, c_end: dt.datetime) -> ClientCert:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(_name(app_mailbox), key, issuer.subject, issuer_key, ca=False, start=c_start, end=c_end,
                     usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        passphrase = secrets.token_urlsafe(18)
        data = pkcs12.serialize_key_and_certificates(stem.encode(), key, cert, [issuer],
                                                     serialization.BestAvailableEncryption(passphrase.encode()))
        return ClientCert(p12=write_file(directory / f"{stem}.p12", data, private=True), passphrase=passphrase,
                          cert_pem=write_file(directory / f"{stem}.pem", certs_pem(cert)),
                          key_pem=write_file(directory / f"{stem}.key", key_pem(key), private=True))

    return MailPki(
        directory=directory,
        ca=write_file(directory / "ca.pem", certs_pem(ca)),
        server_cert=write_file(directory / "server.pem", certs_pem(server, ca)),
        server_key=write_file(directory / "server.key", key_pem(server_key), private=True),
        app_client=client("app", ca, ca_key, start, end),
        rogue_client=client("rogue", rogue, rogue_key, start, end),
        expired_client=client("expired", ca, ca_key, now - dt.timedelta(days=3), now - dt.timedelta(days=1)),
    )
