"""A stand-in signer for the CLI's credential tests: a CA that issues what the CSR asks, as the real one does."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class CA:
    """A throwaway certificate authority."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])

    def sign(self, csr_pem: bytes, now: datetime, seconds: int) -> bytes:
        """A client certificate for the CSR's subject and key, from ``now`` for ``seconds``."""
        from cryptography.hazmat.primitives import serialization

        csr = x509.load_pem_x509_csr(csr_pem)
        cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.name)
                .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(seconds=seconds))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(self.key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM)


def approved(obj: dict, message: str = "ok") -> dict:
    out = {**obj, "status": {"conditions": [{"type": "Approved", "status": "True", "reason": "GatepassGrant",
                                             "message": message}]}}
    return out


def issued(obj: dict, certificate: bytes) -> dict:
    out = approved(obj)
    out["status"]["certificate"] = base64.b64encode(certificate).decode()
    return out


def denied(obj: dict, message: str, reason: str = "WrongCommonName") -> dict:
    return {**obj, "status": {"conditions": [{"type": "Denied", "status": "True", "reason": reason,
                                              "message": message}]}}


def signer(ca: CA, now: datetime | None = None):
    """What the cluster does with each filed CSR: approve it, then issue its certificate."""

    def sign(obj: dict) -> list:
        csr_pem = base64.b64decode(obj["spec"]["request"])
        moment = now or datetime.now(timezone.utc)
        cert = ca.sign(csr_pem, moment, obj["spec"]["expirationSeconds"])
        return [("MODIFIED", approved(obj)), ("MODIFIED", issued(obj, cert))]

    return sign
