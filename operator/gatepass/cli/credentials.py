"""A grant's own credential on the user's machine: the key, the CSR, the files, the ExecCredential.

In the ``certificate`` and ``token`` credential modes a grant is not bound to the user but to the grant's
group (a client certificate whose O is that group) or to a per-grant ServiceAccount (its token). This module
holds what `kubectl access login` and `kubectl access credential` build from plain values:

- the private key and the certificate signing request (the key is made here and never leaves the machine);
- the CertificateSigningRequest object filed as the user, and where one stands (``csr_progress``);
- where the key and certificate live: ``<kubeconfig's dir>/gatepass/<context>/<request>.{key,crt}``, mode
  0600, written atomically;
- the kubeconfig user that runs the exec credential plugin, and the ExecCredential it prints.

No API calls here: ``login`` makes them.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from gatepass.core.credentials import CLIENT_SIGNER, CLIENT_USAGES, CSR_REQUEST_LABEL
from gatepass.core.timestamps import format_time

from .errors import CliError

#: The executable kubectl runs for a grant's context: this plugin (what `kubectl access` runs).
PLUGIN = "kubectl-access"
#: The exec credential API the written context speaks (kubectl and this plugin both read it).
EXEC_API_VERSION = "client.authentication.k8s.io/v1"
EXEC_API_VERSIONS = (EXEC_API_VERSION, "client.authentication.k8s.io/v1beta1")
CSR_API_VERSION = "certificates.k8s.io/v1"
#: A cached certificate this close to its NotAfter is renewed rather than handed to kubectl.
RENEW_BEFORE_SECONDS = 10
#: Longest CommonName a certificate may carry, in UTF-8 bytes (RFC 5280's ub-common-name, as cryptography checks it).
MAX_COMMON_NAME = 64
#: Where, under the kubeconfig's directory, the grants' keys and certificates are kept.
FOLDER = "gatepass"


def context_name(username: str, request: str) -> str:
    """The kubeconfig context (and user) of a grant: ``bob@bob-dba-7xk2q``."""
    return f"{username}@{request}"


# -- the key and the signing request -----------------------------------------------------------


def new_key_and_csr(username: str, group: str) -> tuple[bytes, bytes]:
    """A new private key (PEM, PKCS#8) and a CSR signed with it for CN=username, O=group."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    if not 1 <= len(username.encode()) <= MAX_COMMON_NAME:
        raise CliError(f"the username {username!r} does not fit a certificate's CommonName "
                       f"(1 to {MAX_COMMON_NAME} bytes); ask for a policy with credentials: token")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, username),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, group)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, csr.public_bytes(serialization.Encoding.PEM)


def csr_prefix(request: str) -> str:
    """The CSR's generateName: ``gatepass-<request>-`` (the API server adds five characters)."""
    return f"gatepass-{request}-"[:248]


def csr_body(request: str, csr_pem: bytes, seconds: int) -> dict:
    """The CertificateSigningRequest to file, as the user, for the grant of ``request``: the client signer,
    client auth only, ``seconds`` long. Its label names the request for people; the operator decides from the
    CSR itself (who filed it, its CN and its O)."""
    return {
        "apiVersion": CSR_API_VERSION,
        "kind": "CertificateSigningRequest",
        "metadata": {"generateName": csr_prefix(request), "labels": {CSR_REQUEST_LABEL: request}},
        "spec": {
            "request": base64.b64encode(csr_pem).decode(),
            "signerName": CLIENT_SIGNER,
            "usages": list(CLIENT_USAGES),
            "expirationSeconds": int(seconds),
        },
    }


@dataclass(frozen=True)
class CsrProgress:
    """Where a filed CSR stands for someone waiting on it."""

    line: str
    certificate: bytes = b""  # PEM, once issued
    refused: str = ""  # the one line saying why it was denied or failed
    stuck: str = ""  # while waiting: what to look at if it never comes


def csr_progress(obj: Mapping) -> CsrProgress:
    """The CSR's state: issued (its certificate), denied or failed (why), or still waiting (for what)."""
    name = f"CertificateSigningRequest {(obj.get('metadata') or {}).get('name', '')}"
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or () if c.get("status") == "True"}
    for kind in ("Denied", "Failed"):
        if kind in conditions:
            said = conditions[kind].get("message") or conditions[kind].get("reason") or "no reason given"
            verb = "was denied" if kind == "Denied" else "failed"
            return CsrProgress(f"{name} {verb}", refused=f"{name} {verb}: {said}")
    if status.get("certificate"):
        try:
            pem = base64.b64decode(status["certificate"])
        except ValueError:
            return CsrProgress(f"{name} has a certificate that is not base64", refused=f"{name}: bad certificate")
        return CsrProgress(f"{name} was issued", certificate=pem)
    if "Approved" in conditions:
        return CsrProgress(f"{name} is Approved: waiting for the signer",
                           stuck=f"does the cluster sign {CLIENT_SIGNER} certificates? (EKS does not: use a "
                                 "policy with credentials: token)")
    return CsrProgress(f"{name} is Pending: waiting for the operator to approve it",
                       stuck="is the Gatepass operator running?")


def not_after(cert_pem: bytes) -> datetime:
    """The certificate's NotAfter (UTC); CliError if it is not a certificate."""
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
    except ValueError:
        raise CliError("the certificate is not a PEM certificate") from None


def organizations(cert_pem: bytes) -> tuple[str, ...]:
    """The certificate's subject O values (the groups the API server will see); () if unreadable."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        subject = x509.load_pem_x509_certificate(cert_pem).subject
    except ValueError:
        return ()
    return tuple(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


# -- the files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Files:
    """Where one grant's key and certificate are kept."""

    directory: Path
    key: Path
    certificate: Path


def files_for(kubeconfig_file: str, context: str, request: str) -> Files:
    """``<dir of kubeconfig_file>/gatepass/<context>/<request>.key|.crt`` (the context quoted for a file name)."""
    directory = Path(os.path.abspath(kubeconfig_file)).parent / FOLDER / quote(context, safe="@._-")
    name = quote(request, safe="._-")
    return Files(directory, directory / f"{name}.key", directory / f"{name}.crt")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically (a reader sees the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def cached(files: Files, now: datetime) -> tuple[bytes, bytes, datetime] | None:
    """The kept key, certificate and NotAfter, if both files are there and the certificate is not about to
    expire; None otherwise."""
    try:
        key, cert = files.key.read_bytes(), files.certificate.read_bytes()
    except OSError:
        return None
    try:
        until = not_after(cert)
    except CliError:
        return None
    if (until - now).total_seconds() <= RENEW_BEFORE_SECONDS:
        return None
    return key, cert, until


# -- the kubeconfig user and the ExecCredential --------------------------------------------------


def plugin_args(request: str, kubeconfig: str, context: str) -> list[str]:
    """The arguments of the exec plugin: which grant, and which kubeconfig and context are the user's own."""
    return ["credential", request, f"--kubeconfig={kubeconfig}", f"--context={context}"]


def exec_user(request: str, kubeconfig: str, context: str) -> dict:
    """The kubeconfig ``user`` of a grant's context: kubectl runs ``kubectl-access credential``."""
    return {"exec": {
        "apiVersion": EXEC_API_VERSION,
        "command": PLUGIN,
        "args": plugin_args(request, kubeconfig, context),
        "interactiveMode": "Never",
        "provideClusterInfo": False,
        "installHint": "kubectl-access is the Gatepass kubectl plugin: install the gatepass package and put "
                       "its kubectl-access on PATH",
    }}


def is_grant_user(user: Mapping | None) -> bool:
    """Whether a kubeconfig user runs this plugin's credential command (a grant's own context)."""
    config = (user or {}).get("exec") if isinstance(user, Mapping) else None
    if not isinstance(config, Mapping):
        return False
    args: Sequence = config.get("args") or ()
    return os.path.basename(str(config.get("command") or "")) == PLUGIN and list(args)[:1] == ["credential"]


def exec_version(info: str | None) -> str:
    """The apiVersion to answer in: the one in ``$KUBERNETES_EXEC_INFO``, else v1."""
    if not info:
        return EXEC_API_VERSION
    import json

    try:
        version = str(json.loads(info).get("apiVersion") or EXEC_API_VERSION)
    except (ValueError, AttributeError):
        return EXEC_API_VERSION
    if version not in EXEC_API_VERSIONS:
        raise CliError(f'the exec credential API "{version}" is not supported (use {EXEC_API_VERSION})')
    return version


def exec_credential(version: str, expires: datetime, *, certificate: bytes = b"", key: bytes = b"",
                    token: str = "") -> dict:
    """The ExecCredential kubectl reads: a client certificate and key, or a token, until ``expires``."""
    status: dict = {"expirationTimestamp": format_time(expires.astimezone(timezone.utc))}
    if token:
        status["token"] = token
    else:
        status["clientCertificateData"] = certificate.decode()
        status["clientKeyData"] = key.decode()
    return {"apiVersion": version, "kind": "ExecCredential", "status": status}
