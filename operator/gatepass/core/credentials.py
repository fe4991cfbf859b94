"""Short-lived credentials bound to a grant: the modes, the grant's group, the lifetime, and which
CertificateSigningRequests the operator approves.

A policy's `credentials` mode says what a grant's bindings name as their subject:

* `user` (the default): the requester, as before. Access ends when the operator deletes the bindings.
* `certificate`: only the grant's group, `gatepass:grant:<request uid>`. The requester files a CSR for a
  client certificate with exactly that group as its O; the operator approves it only for a live grant, and
  the certificate expires on its own at NotAfter, so access ends even if the operator is down then.
* `token`: a ServiceAccount made for the grant. Its token (a TokenRequest) expires on its own; the
  operator keeps it in a Secret that only the requester may read.

Either way the lifetime of the credential is `lifetime_seconds`: the later of now + 600 s (the API's
minimum) and the grant's expiresAt, never more (and at most MAX_LIFETIME_SECONDS; the client asks again).

The decision on a CSR (`csr_verdict`) is pure: the operator reads the CSR and the request into CsrFacts
and GrantFacts at the edge. CSRs of other signers, or without a gatepass:grant: group, are not ours
(`is_ours`) and are left alone, never denied.
"""

from __future__ import annotations

import enum
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from .access import Access
from .names import API_VERSION, KEY_PREFIX
from .timestamps import format_time


class CredentialMode(enum.StrEnum):
    """What a grant's bindings name as their subject, and so which credential carries the access."""

    USER = "user"
    CERTIFICATE = "certificate"
    TOKEN = "token"


DEFAULT_MODE = CredentialMode.USER

#: The group a certificate-mode grant is bound to is this prefix and the request's metadata.uid.
GRANT_GROUP_PREFIX = "gatepass:grant:"
#: The signer of client certificates the API server trusts.
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
#: The usages a grant's CSR asks for, exactly (the signer requires "client auth" and allows no more).
CLIENT_USAGES: tuple[str, ...] = ("client auth",)
#: The shortest lifetime the API allows a CSR's certificate and a TokenRequest's token (10 minutes).
MIN_LIFETIME_SECONDS = 600
#: The longest credential the operator hands out; a longer grant's client asks again when it expires. The
#: ValidatingAdmissionPolicy on the operator's approvals allows no more than this.
MAX_LIFETIME_SECONDS = 24 * 3600
#: A CSR asks for `lifetime_seconds` when it is filed; by the time the operator decides, the grant has a
#: few seconds less to run. A CSR may ask for this many seconds more than the lifetime at the decision.
EXPIRATION_SLACK_SECONDS = 30

#: The CSR's label and annotation naming the request (display only: the operator decides from the CSR).
CSR_REQUEST_LABEL = f"{KEY_PREFIX}request"
CSR_NAMESPACE_ANNOTATION = f"{KEY_PREFIX}request-namespace"
#: On a token-mode grant's ServiceAccount, Secret, Role and RoleBinding: the request (its label value).
CREDENTIAL_LABEL = f"{KEY_PREFIX}credential-for"
#: The key of the token, and of its expiry (RFC 3339), in a token-mode grant's Secret.
TOKEN_KEY = "token"
TOKEN_EXPIRY_KEY = "expirationTimestamp"

#: Where token-mode grants' ServiceAccounts and Secrets are made unless the operator is told otherwise
#: (AccessRequests are cluster-scoped). A namespace of their own: the operator's rights on Secrets there
#: reach no other Secret.
DEFAULT_CREDENTIALS_NAMESPACE = "gatepass-credentials"

_NAME_PREFIX = "gatepass-grant-"
_HASH_LEN = 10


def grant_group(uid: str) -> str:
    """`gatepass:grant:<uid>`: the group of a certificate-mode grant of the request with metadata.uid `uid`."""
    if not uid:
        raise ValueError("a grant group needs the request's uid")
    return f"{GRANT_GROUP_PREFIX}{uid}"


def grant_uid(group: str) -> str | None:
    """The request uid a grant group names, or None when `group` is not one."""
    if group.startswith(GRANT_GROUP_PREFIX) and len(group) > len(GRANT_GROUP_PREFIX):
        return group[len(GRANT_GROUP_PREFIX):]
    return None


def lifetime_seconds(expires_at: datetime, now: datetime) -> int:
    """How long a credential for a grant ending at `expires_at` may live, asked at `now`: the later of now +
    MIN_LIFETIME_SECONDS and expiresAt (whole seconds, rounded up), capped at MAX_LIFETIME_SECONDS."""
    remaining = math.ceil((expires_at - now).total_seconds())
    return min(MAX_LIFETIME_SECONDS, max(MIN_LIFETIME_SECONDS, remaining))


def mode_of(value: object) -> CredentialMode:
    """The mode a recorded value names; anything else (absent, unknown) is `user`."""
    try:
        return CredentialMode(value)
    except ValueError:
        return DEFAULT_MODE


# -- what a grant records, and what its bindings name ---------------------------------------------


def credential_name(uid: str) -> str:
    """The name of a token-mode grant's ServiceAccount, Secret, Role and RoleBinding: unique per request."""
    return _NAME_PREFIX + hashlib.sha256(uid.encode()).hexdigest()[:_HASH_LEN]


def credential_record(mode: CredentialMode | str, uid: str, namespace: str) -> dict[str, Any] | None:
    """status.credential for a grant made in `mode` for the request with `uid` (None in `user` mode).
    `namespace` is where a token-mode grant's ServiceAccount and Secret live (the operator's)."""
    mode = CredentialMode(mode)
    if mode is CredentialMode.USER:
        return None
    if mode is CredentialMode.CERTIFICATE:
        return {"mode": mode.value, "group": grant_group(uid)}
    name = credential_name(uid)
    return {"mode": mode.value, "namespace": namespace, "serviceAccount": name, "secret": name}


@dataclass(frozen=True)
class Subject:
    """The one subject of a grant's bindings."""

    kind: str  # User | Group | ServiceAccount
    name: str
    namespace: str = ""  # a ServiceAccount's

    def manifest(self, rbac_group: str) -> dict[str, str]:
        if self.kind == "ServiceAccount":
            return {"kind": self.kind, "name": self.name, "namespace": self.namespace}
        return {"kind": self.kind, "apiGroup": rbac_group, "name": self.name}

    def __str__(self) -> str:
        if self.kind == "User":
            return self.name
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def grant_subject(record: Mapping[str, Any] | None, user: str) -> Subject:
    """Who a grant's bindings name, from its status.credential `record`: the group of a certificate-mode
    grant, the ServiceAccount of a token-mode one, else the requester `user`."""
    record = record if isinstance(record, Mapping) else {}
    mode = mode_of(record.get("mode"))
    if mode is CredentialMode.CERTIFICATE and record.get("group"):
        return Subject("Group", str(record["group"]))
    if mode is CredentialMode.TOKEN and record.get("serviceAccount") and record.get("namespace"):
        return Subject("ServiceAccount", str(record["serviceAccount"]), str(record["namespace"]))
    return Subject("User", user)


# -- which CSRs are approved ---------------------------------------------------------------------


@dataclass(frozen=True)
class CsrFacts:
    """What the operator read from a CertificateSigningRequest (spec.request parsed at the edge)."""

    name: str
    signer: str
    filer: str  # spec.username: who filed it, as the API server authenticated them
    common_name: str
    organizations: tuple[str, ...]
    usages: tuple[str, ...]
    expiration_seconds: int | None


@dataclass(frozen=True)
class GrantFacts:
    """What the operator read about the request a CSR names, from its status."""

    name: str
    uid: str
    requester: str
    mode: CredentialMode
    granted: bool  # the Granted condition is True (bindings in place)
    ended: str  # "" while not ended, else the state it ended in (Denied, Expired, Revoked)
    granted_at: datetime | None
    expires_at: datetime | None


#: The reason of the CSR's Approved condition.
APPROVED_REASON = "GatepassGrant"
# The reasons of its Denied condition, each with a one-line message.
NO_SUCH_REQUEST = "NoSuchRequest"
NOT_REQUESTER = "NotRequester"
WRONG_COMMON_NAME = "WrongCommonName"
WRONG_GROUPS = "WrongGroups"
WRONG_USAGES = "WrongUsages"
NOT_CERTIFICATE_MODE = "NotCertificateMode"
NOT_GRANTED = "NotGranted"
NO_EXPIRATION = "NoExpiration"
TOO_LONG = "TooLong"


@dataclass(frozen=True)
class Verdict:
    """What to do with a CSR: approve it, or deny it; `reason` and `message` go on its condition."""

    approve: bool
    reason: str
    message: str


def is_ours(signer: str, organizations: tuple[str, ...] | list[str]) -> bool:
    """Whether a CSR is for a grant: the client signer, and some O a grant group. Others are not ours."""
    return signer == CLIENT_SIGNER and any(grant_uid(org) is not None for org in organizations)


def requested_uid(csr: CsrFacts) -> str | None:
    """The uid of the request the CSR's first grant group names."""
    return next((uid for uid in map(grant_uid, csr.organizations) if uid is not None), None)


def _deny(reason: str, message: str) -> Verdict:
    return Verdict(False, reason, message)


def csr_verdict(csr: CsrFacts, grant: GrantFacts | None, now: datetime) -> Verdict:
    """Approve `csr` only for the live certificate-mode grant it names, to that grant's requester, for no
    longer than the grant's credential lifetime; else deny it, saying why in one line. `grant` is the request
    whose uid the CSR's grant group names (None: there is none). Assumes is_ours(csr)."""
    uid = requested_uid(csr)
    if grant is None or uid is None or grant.uid != uid:
        return _deny(NO_SUCH_REQUEST, f"no AccessRequest has uid {uid}")
    if csr.filer != grant.requester:
        return _deny(NOT_REQUESTER, f"filed by {csr.filer}, not by {grant.requester}, the requester of "
                                    f"AccessRequest {grant.name}")
    if csr.common_name != grant.requester:
        return _deny(WRONG_COMMON_NAME, f"CN {csr.common_name} is not the requester {grant.requester}")
    group = grant_group(grant.uid)
    if tuple(csr.organizations) != (group,):
        return _deny(WRONG_GROUPS, f"O must be exactly [{group}], not [{', '.join(csr.organizations)}]")
    if tuple(sorted(csr.usages)) != tuple(sorted(CLIENT_USAGES)):
        return _deny(WRONG_USAGES, f"usages must be exactly [{', '.join(CLIENT_USAGES)}], "
                                   f"not [{', '.join(csr.usages)}]")
    if grant.ended:
        return _deny(NOT_GRANTED, f"AccessRequest {grant.name} is {grant.ended}")
    if grant.expires_at is not None and now >= grant.expires_at:
        return _deny(NOT_GRANTED, f"AccessRequest {grant.name} ended at {format_time(grant.expires_at)}")
    if not grant.granted or grant.expires_at is None or grant.granted_at is None or now < grant.granted_at:
        return _deny(NOT_GRANTED, f"AccessRequest {grant.name} is not granted now")
    if grant.mode is not CredentialMode.CERTIFICATE:
        return _deny(NOT_CERTIFICATE_MODE, f"AccessRequest {grant.name} was granted with credentials "
                                           f"{grant.mode.value}, not {CredentialMode.CERTIFICATE.value}")
    if csr.expiration_seconds is None:
        return _deny(NO_EXPIRATION, f"spec.expirationSeconds must be set (at most "
                                    f"{lifetime_seconds(grant.expires_at, now)})")
    allowed = lifetime_seconds(grant.expires_at, now)
    # The slack never takes a CSR past the longest credential (what the admission policy lets through).
    if csr.expiration_seconds > min(allowed + EXPIRATION_SLACK_SECONDS, MAX_LIFETIME_SECONDS):
        return _deny(TOO_LONG, f"expirationSeconds {csr.expiration_seconds} is more than the grant's "
                               f"{allowed} (AccessRequest {grant.name} ends at {format_time(grant.expires_at)})")
    return Verdict(True, APPROVED_REASON, f"Client certificate of {grant.requester} for AccessRequest "
                                          f"{grant.name}, until {format_time(grant.expires_at)} at the latest")


# -- a token-mode grant's objects ----------------------------------------------------------------


def _metadata(name: str, namespace: str, request_label: str, request_name: str, request_uid: str) -> dict:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {CREDENTIAL_LABEL: request_label},
        "ownerReferences": [{"apiVersion": API_VERSION, "kind": "AccessRequest", "name": request_name,
                             "uid": request_uid, "controller": True, "blockOwnerDeletion": False}],
    }


def token_objects(record: Mapping[str, Any], requester: str, request_label: str, request_name: str,
                  request_uid: str) -> list[dict[str, Any]]:
    """The ServiceAccount, the Role and the RoleBinding a token-mode grant (status.credential `record`) has
    besides its Secret: the Role lets `requester` get that one Secret, and nothing else. In creation order."""
    namespace, name, secret = record["namespace"], record["serviceAccount"], record["secret"]

    def meta(object_name: str) -> dict:
        return _metadata(object_name, namespace, request_label, request_name, request_uid)

    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(secret),
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(secret),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": secret},
         "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": requester}]},
    ]


def token_request(expires_at: datetime, now: datetime) -> dict[str, Any]:
    """The TokenRequest for a token-mode grant ending at `expires_at`, made at `now`."""
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": lifetime_seconds(expires_at, now)}}


def token_secret(record: Mapping[str, Any], token: str, expiration: str, request_label: str,
                 request_name: str, request_uid: str) -> dict[str, Any]:
    """The Secret holding a token-mode grant's token and its expiry (`expiration`, RFC 3339)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _metadata(record["secret"], record["namespace"], request_label, request_name,
                                  request_uid),
            "stringData": {TOKEN_KEY: token, TOKEN_EXPIRY_KEY: expiration}}


# -- whether the operator can carry a mode out (said at policy admission) ----------------------------


def required_rights(mode: CredentialMode | str, namespace: str) -> tuple[Access, ...]:
    """What the operator must hold to carry out grants in `mode` (`namespace`: its credentials namespace)."""
    mode = CredentialMode(mode)
    if mode is CredentialMode.CERTIFICATE:
        return (Access("update", "certificatesigningrequests/approval", "certificates.k8s.io"),
                Access("approve", "signers", "certificates.k8s.io", name=CLIENT_SIGNER))
    if mode is CredentialMode.TOKEN:
        return (Access("create", "serviceaccounts", namespace=namespace),
                Access("create", "serviceaccounts/token", namespace=namespace),
                Access("create", "secrets", namespace=namespace),
                Access("get", "secrets", namespace=namespace),
                Access("create", "roles", "rbac.authorization.k8s.io", namespace=namespace))
    return ()


def mode_warning(mode: CredentialMode | str, missing: tuple[Access, ...] | list[Access]) -> str | None:
    """The one line a policy of `mode` is accepted with when the operator lacks `missing` (None: it lacks
    nothing). Its grants are still made; only their credential cannot be."""
    if not missing:
        return None
    mode = CredentialMode(mode)
    lacks = ", ".join(right.describe() for right in missing)
    if mode is CredentialMode.CERTIFICATE:
        return (f"credentials {mode.value}: the operator may not {lacks}; grants will be made but no certificate "
                f"approved for them until it may (manifests/rbac/certificates_role.yaml)")
    return (f"credentials {mode.value}: the operator may not {lacks}; grants will be made but no token made for "
            f"them until it may (manifests/credentials/, or the chart's credentials.tokens)")
