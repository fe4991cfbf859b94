"""The admission webhook's serving certificate, without cert-manager.

The operator keeps a CA and a serving certificate in one Secret of its
namespace (``gatepass-webhook-tls``, shipped empty with the manifests). At
start-up each replica reads it; if it is empty, unreadable, for other host
names or close to expiry, the replica generates a new pair and writes it with
the resourceVersion it read, so when replicas race one wins and the others use
its pair. The CA goes into the caBundle of the two webhook configurations named
``gatepass.dev``, which are checked again every minute and repaired if a
deployment tool replaced them.

With cert-manager (or any other issuer) the certificate files are mounted and
passed with --webhook-cert/--webhook-key instead, and none of this runs.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gatepass.controller.metrics import ERRORS
from gatepass.kube.errors import ApiException
from gatepass.kube.http import path_of
from gatepass.webhooks import config

from . import pki

logger = logging.getLogger("gatepass.certificates")

CA_VALIDITY = datetime.timedelta(days=3650)
CERT_VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=30)  # a serving certificate this close to expiry is replaced
CA_KEY = "ca.crt"


@dataclass(frozen=True)
class Bundle:
    ca: bytes  # PEM
    cert: bytes  # PEM
    key: bytes  # PEM
    ca_key: bytes = b""  # PEM; kept so that renewing the serving certificate keeps the caBundle

    @property
    def ca_bundle(self) -> str:
        """The CA as the caBundle of a webhook configuration wants it."""
        return base64.b64encode(self.ca).decode()

    def to_secret_data(self) -> dict[str, str]:
        return {CA_KEY: self.ca_bundle, "tls.crt": base64.b64encode(self.cert).decode(),
                "tls.key": base64.b64encode(self.key).decode(), "ca.key": base64.b64encode(self.ca_key).decode()}

    @classmethod
    def from_secret_data(cls, data: dict[str, str] | None) -> "Bundle | None":
        data = data or {}
        try:
            parts = [base64.b64decode(data[key]) for key in (CA_KEY, "tls.crt", "tls.key")]
            ca_key = base64.b64decode(data.get("ca.key") or "")
        except (KeyError, ValueError, TypeError):
            return None
        return cls(*parts, ca_key=ca_key)

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = folder / "tls.crt", folder / "tls.key"
        cert.write_bytes(self.cert)
        key.touch(mode=0o600)
        key.write_bytes(self.key)
        return cert, key


def service_hosts(service: str, namespace: str) -> list[str]:
    """The names the API server may use for the webhook Service."""
    return [f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local", f"{service}.{namespace}",
            service]


# --- generating and checking ------------------------------------------------------------------------


def generate(hosts: list[str], now: datetime.datetime, ca: tuple[bytes, bytes] | None = None) -> Bundle:
    """A serving certificate for ``hosts``, signed by ``ca`` (PEM cert, PEM key) or by a new CA."""
    if ca is None:
        ca_cert, ca_key = pki.make_ca("gatepass-webhook-ca", now, CA_VALIDITY)
    else:
        ca_cert, ca_key = pki.load(*ca)
    cert, key = pki.issue(ca_cert, ca_key, hosts[0], pki.SERVER, now, CERT_VALIDITY, hosts=hosts)
    return Bundle(pki.cert_pem(ca_cert), pki.cert_pem(cert), pki.key_pem(key), pki.key_pem(ca_key))


def problems(bundle: Bundle | None, hosts: list[str], now: datetime.datetime,
             renew_before: datetime.timedelta = RENEW_BEFORE) -> list[str]:
    """Why ``bundle`` can't serve ``hosts`` for a while longer; empty when it can."""
    if bundle is None:
        return ["there is no certificate"]
    try:
        ca = x509.load_pem_x509_certificate(bundle.ca)
        cert = x509.load_pem_x509_certificate(bundle.cert)
        key = serialization.load_pem_private_key(bundle.key, None)
    except ValueError as error:
        return [f"the certificate does not parse: {error}"]
    found = _pair_problems(ca, cert, key)
    missing = [host for host in hosts if host not in _names(cert)]
    if missing:
        found.append(f"the certificate is not for {', '.join(missing)}")
    if cert.not_valid_after_utc - renew_before <= now:
        found.append(f"the certificate expires at {cert.not_valid_after_utc.isoformat()}")
    if ca.not_valid_after_utc - renew_before <= now:
        found.append(f"the CA expires at {ca.not_valid_after_utc.isoformat()}")
    return found


def _pair_problems(ca: x509.Certificate, cert: x509.Certificate, key) -> list[str]:
    """Whether the key belongs to the certificate and the CA signed it."""
    found = []
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        found.append("the key does not belong to the certificate")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception) as error:  # InvalidSignature has no message
        found.append(f"the certificate is not signed by the CA ({type(error).__name__})")
    return found


def _names(cert: x509.Certificate) -> set[str]:
    """The DNS names and IP addresses the certificate is for."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n) for n in sans.get_values_for_type(x509.DNSName)} | {
        str(n) for n in sans.get_values_for_type(x509.IPAddress)}


def reusable_ca(bundle: Bundle | None, now: datetime.datetime) -> tuple[bytes, bytes] | None:
    """The old CA and its key, if they are sound and outlive a new serving certificate:
    renewing with them keeps the caBundle, so replicas still serving the old certificate
    stay trusted."""
    if bundle is None or not bundle.ca_key:
        return None
    try:
        ca = x509.load_pem_x509_certificate(bundle.ca)
        key = serialization.load_pem_private_key(bundle.ca_key, None)
    except (ValueError, TypeError):
        return None
    if key.public_key().public_numbers() != ca.public_key().public_numbers():
        return None
    if ca.not_valid_after_utc <= now + CERT_VALIDITY + RENEW_BEFORE:
        return None
    return bundle.ca, bundle.ca_key


# --- the cluster --------------------------------------------------------------------------------------


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class WebhookCertificates:
    """Keeps the shared Secret, the local certificate files and the caBundles in step."""

    def __init__(self, client: Any, namespace: str, secret: str, hosts: list[str],
                 folder: Path, configuration: str = config.NAME, clock: Callable[[], datetime.datetime] = _utcnow):
        """``client``: the process's (gatepass.process.connection), whose ``async_http`` sends the calls."""
        self.http = client.async_http
        self.namespace, self.secret, self.hosts, self.folder = namespace, secret, hosts, folder
        self.configuration, self.clock = configuration, clock
        self.bundle: Bundle | None = None

    async def ensure(self) -> tuple[Path, Path]:
        """Makes sure the Secret holds a usable pair, writes it to files and returns (cert, key)."""
        self.bundle = await self._ensure_secret()
        return self.bundle.write(self.folder)

    def _secrets(self, name: str = "") -> str:
        path = path_of("api", "v1", "namespaces", self.namespace, "secrets")
        return path + path_of(name) if name else path

    async def _ensure_secret(self) -> Bundle:
        for _ in range(5):
            secret = await self._read_secret()
            bundle = Bundle.from_secret_data(secret.get("data") if secret is not None else None)
            found = problems(bundle, self.hosts, self.clock())
            if not found:
                return bundle
            fresh = generate(self.hosts, self.clock(), reusable_ca(bundle, self.clock()))
            body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": self.secret, "namespace": self.namespace,
                                 "labels": {"app.kubernetes.io/name": "gatepass"}},
                    "data": fresh.to_secret_data()}
            try:
                if secret is None:
                    await self.http.request("POST", self._secrets(), body)
                else:
                    meta = secret.get("metadata") or {}
                    body["metadata"] = {**body["metadata"], "resourceVersion": meta.get("resourceVersion"),
                                        "labels": meta.get("labels") or {},
                                        "annotations": meta.get("annotations") or {}}
                    await self.http.request("PUT", self._secrets(self.secret), body)
            except ApiException as error:
                if error.status in (409, 422):  # another replica wrote it first: use theirs
                    continue
                raise
            logger.info("Wrote a new webhook certificate for %s into Secret %s/%s (%s)",
                        ", ".join(self.hosts), self.namespace, self.secret, "; ".join(found))
            return fresh
        raise RuntimeError(f"could not settle the webhook certificate in Secret {self.namespace}/{self.secret}")

    async def _read_secret(self) -> dict | None:
        try:
            return await self.http.request("GET", self._secrets(self.secret))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def inject(self) -> int:
        """Puts the CA into every webhook of both configurations; returns how many were changed."""
        if self.bundle is None:
            return 0
        return await self._inject(self.bundle.ca_bundle)

    async def _inject(self, ca_bundle: str) -> int:
        changed = 0
        for plural in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
            path = path_of("apis", "admissionregistration.k8s.io", "v1", plural, self.configuration)
            try:
                current = await self.http.request("GET", path)
            except ApiException as error:
                if error.status == 404:
                    continue
                raise
            stale = [hook["name"] for hook in current.get("webhooks") or ()
                     if (hook.get("clientConfig") or {}).get("caBundle") != ca_bundle]
            if not stale:
                continue
            body = {"webhooks": [{"name": name, "clientConfig": {"caBundle": ca_bundle}} for name in stale]}
            await self.http.request("PATCH", path, body, content_type="application/strategic-merge-patch+json")
            logger.info("Set the caBundle of %s %s (%s)", current.get("kind") or "webhook configuration",
                        self.configuration, ", ".join(stale))
            changed += len(stale)
        return changed

    async def maintain(self, interval: float, on_renewed: Callable[[], None]) -> None:
        """Every ``interval`` seconds: repair the caBundles; when the certificate this replica
        serves is close to expiry, renew it and call ``on_renewed`` (which restarts the replica)."""
        while True:
            try:
                await self.inject()
                if self.bundle is not None and problems(self.bundle, self.hosts, self.clock()):
                    served = self.bundle
                    await self.ensure()
                    await self.inject()
                    if self.bundle != served:
                        logger.warning("The webhook certificate was renewed; restarting to serve it")
                        on_renewed()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                ERRORS.labels("certificates").inc()
                logger.warning("Could not check the webhook certificate: %s", error)
            await asyncio.sleep(interval)
