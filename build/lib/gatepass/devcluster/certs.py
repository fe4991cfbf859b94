"""Certificates for the local control plane: a CA, serving certificates and client certificates.

Client certificates carry the user in the common name and the groups in the
organisation fields, which is how kube-apiserver authenticates them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gatepass.process import pki

VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def make_ca(common_name: str = "gatepass-dev-ca"):
    cert, key = pki.make_ca(common_name, _now(), VALIDITY)
    return KeyPair(pki.cert_pem(cert), pki.key_pem(key)), key, cert


def serving_cert(ca_key, ca_cert, hosts: list[str]) -> KeyPair:
    cert, key = pki.issue(ca_cert, ca_key, hosts[0], pki.SERVER, _now(), VALIDITY, hosts=hosts)
    return KeyPair(pki.cert_pem(cert), pki.key_pem(key))


def client_cert(ca_key, ca_cert, user: str, groups: list[str]) -> KeyPair:
    cert, key = pki.issue(ca_cert, ca_key, user, pki.CLIENT, _now(), VALIDITY, organizations=groups)
    return KeyPair(pki.cert_pem(cert), pki.key_pem(key))


def service_account_keys() -> KeyPair:
    """An RSA key pair for signing service-account tokens (public key in cert_pem's place)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(public, pki.key_pem(key))
