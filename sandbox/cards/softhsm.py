"""A SoftHSM2 token playing a CPS card's PKCS#11 side (hardware.md B5, recipe verified here).

The token gets the sandbox PS key and certificate (sandbox/insi/pki.py, chained to its test CPS CA) with
CPS-like CKA_IDs: `…20` for the authentication pair. SoftHSM reads `SOFTHSM2_CONF` when the module is
initialised, so the environment variable must be set before the first load in the process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

SOFTHSM_CANDIDATES = (Path("/usr/lib/softhsm/libsofthsm2.so"),
                      Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
                      Path("/usr/local/lib/softhsm/libsofthsm2.so"))
AUTH_KEY_ID = bytes.fromhex("0220")
SO_PIN = "12345678"


def softhsm_module() -> Path | None:
    return next((p for p in SOFTHSM_CANDIDATES if p.exists()), None)


def softhsm_missing() -> str | None:
    if softhsm_module() is None or not shutil.which("softhsm2-util"):
        return "softhsm2 not installed"
    if not shutil.which("pkcs11-tool"):
        return "opensc (pkcs11-tool) not installed"
    return None


@dataclass(frozen=True)
class SoftToken:
    conf: Path  # SOFTHSM2_CONF
    module: Path
    label: str
    pin: str
    cert_der: bytes
    key_id: bytes = AUTH_KEY_ID


def create_cps_token(root: Path, key_pem: Path, cert_pem: Path, *, label: str = "CPS-TEST",
                     pin: str = "1234") -> SoftToken:
    module = softhsm_module()
    assert module is not None
    tokens = root / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}

    def run(*args: str) -> None:
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=30)

    run("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", pin)
    key = serialization.load_pem_private_key(key_pem.read_bytes(), password=None)
    p8 = root / "auth.p8"
    p8.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    p8.chmod(0o600)
    run("softhsm2-util", "--import", str(p8), "--token", label, "--label", "CPS auth", "--id",
        AUTH_KEY_ID.hex(), "--pin", pin)
    p8.unlink()
    cert_der = x509.load_pem_x509_certificate(cert_pem.read_bytes()).public_bytes(serialization.Encoding.DER)
    der_path = root / "auth.der"
    der_path.write_bytes(cert_der)
    run("pkcs11-tool", "--module", str(module), "--token-label", label, "--login", "--pin", pin,
        "--write-object", str(der_path), "--type", "cert", "--id", AUTH_KEY_ID.hex(), "--label", "CPS auth")
    return SoftToken(conf=conf, module=module, label=label, pin=pin, cert_der=cert_der)
