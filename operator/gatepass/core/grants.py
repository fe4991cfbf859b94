"""The RoleBindings and ClusterRoleBindings a request gets, as plain dicts.

Names are deterministic, so the operator finds and repairs its own bindings
after a restart or a hand edit: "gatepass-<request name>-<8 hex>", where the
hex is a hash of the request's uid (its name if it has none), the role and the
namespace. Each binding carries the labels below and an ownerReference to the
AccessRequest.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .types import Policy, Request

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"
OWNER_API_VERSION = "gatepass.dev/v1alpha1"
OWNER_KIND = "AccessRequest"
MANAGED_LABEL = "gatepass.dev/managed"
REQUEST_LABEL = "gatepass.dev/request"
#: On an AccessReview, the UID of the request it was made for (set by admission; see gatepass.core.admission).
REQUEST_UID_LABEL = "gatepass.dev/request-uid"
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")

_NAME_PREFIX = "gatepass-"
_MAX_NAME = 63
_HASH_LEN = 8
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BindingRef:
    """Where a binding lives; namespace is "" for a ClusterRoleBinding."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class Binding:
    """One binding of `role_kind/role_name` to `user`."""

    kind: str  # RoleBinding | ClusterRoleBinding
    namespace: str  # "" for a ClusterRoleBinding
    name: str
    role_kind: str  # ClusterRole | Role
    role_name: str
    user: str

    @property
    def ref(self) -> BindingRef:
        return BindingRef(self.kind, self.namespace, self.name)


def binding_name(request: Request, role: str, namespace: str) -> str:
    """'gatepass-<request name, cut to fit>-<8 hex>': a DNS label of at most 63 characters."""
    seed = "\x00".join((request.uid or request.name, role, namespace))
    digest = hashlib.sha256(seed.encode()).hexdigest()[:_HASH_LEN]
    room = _MAX_NAME - len(_NAME_PREFIX) - 1 - _HASH_LEN
    stem = _NOT_DNS.sub("-", request.name.lower())[:room].strip("-")
    return f"{_NAME_PREFIX}{stem}-{digest}" if stem else f"{_NAME_PREFIX}{digest}"


def request_label(request_name: str) -> str:
    """The gatepass.dev/request label value: the name, or a cut+hash when it is not a valid label."""
    if len(request_name) <= _MAX_NAME and not _NOT_LABEL.search(request_name):
        return request_name
    digest = hashlib.sha256(request_name.encode()).hexdigest()[:_HASH_LEN]
    stem = _NOT_LABEL.sub("-", request_name)[: _MAX_NAME - 1 - _HASH_LEN].strip("-_.")
    return f"{stem}-{digest}" if stem else digest


def desired_bindings(request: Request, policy: Policy) -> list[Binding]:
    """One binding per requested role and namespace (one ClusterRoleBinding when cluster-wide).

    Assumes `policy` allows the request (see policy.request_errors); a role the
    policy does not offer is a programming error and raises ValueError.
    """
    bindings: list[Binding] = []
    user = request.requester.username
    for name in dict.fromkeys(request.roles):
        role = policy.role(name)
        if role is None:
            raise ValueError(f'AccessPolicy {policy.name} does not offer role "{name}"')
        if request.cluster_wide:
            bindings.append(Binding("ClusterRoleBinding", "", binding_name(request, name, ""),
                                    role.kind, role.role_name, user))
            continue
        for namespace in dict.fromkeys(request.namespaces):
            bindings.append(Binding("RoleBinding", namespace, binding_name(request, name, namespace),
                                    role.kind, role.role_name, user))
    return bindings


def render_binding(binding: Binding, request_name: str, request_uid: str) -> dict[str, Any]:
    """The manifest of `binding`, owned by the AccessRequest `request_name`."""
    metadata: dict[str, Any] = {
        "name": binding.name,
        "labels": {MANAGED_LABEL: "true", REQUEST_LABEL: request_label(request_name)},
        "ownerReferences": [{
            "apiVersion": OWNER_API_VERSION,
            "kind": OWNER_KIND,
            "name": request_name,
            "uid": request_uid,
            "controller": True,
            "blockOwnerDeletion": False,
        }],
    }
    if binding.kind == "RoleBinding":
        metadata["namespace"] = binding.namespace
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": binding.kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": binding.role_kind, "name": binding.role_name},
        "subjects": [{"kind": "User", "apiGroup": RBAC_GROUP, "name": binding.user}],
    }


def binding_record(binding: Binding) -> dict[str, Any]:
    """The status.bindings entry for `binding`: {kind, namespace, name, role: {kind, name}}."""
    record: dict[str, Any] = {"kind": binding.kind}
    if binding.namespace:
        record["namespace"] = binding.namespace
    record["name"] = binding.name
    record["role"] = {"kind": binding.role_kind, "name": binding.role_name}
    return record


def binding_from_record(record: Mapping[str, Any], user: str) -> Binding | None:
    """The Binding a status.bindings entry describes, or None when the entry is unusable."""
    role = record.get("role") or {}
    kind = record.get("kind")
    namespace = record.get("namespace") or ""
    if (kind not in BINDING_KINDS or not record.get("name") or not role.get("name")
            or role.get("kind") not in ("ClusterRole", "Role")
            or (kind == "RoleBinding") != bool(namespace)):
        return None
    return Binding(kind, namespace, record["name"], role["kind"], role["name"], user)


def manifest_ref(manifest: Mapping[str, Any]) -> BindingRef:
    """The BindingRef of a binding manifest as the API server returns it (camelCase JSON)."""
    metadata = manifest.get("metadata") or {}
    namespace = (metadata.get("namespace") or "") if manifest.get("kind") == "RoleBinding" else ""
    return BindingRef(str(manifest.get("kind", "")), namespace, str(metadata.get("name", "")))


def drift(desired: Mapping[str, Any], existing: Mapping[str, Any]) -> list[str]:
    """What about `existing` differs from the `desired` manifest; empty when it matches.

    Only what gives or marks access is compared: roleRef, subjects, our two
    labels and our ownerReference. Fields the API server adds are ignored.
    """
    changes: list[str] = []
    if _role_ref(desired) != _role_ref(existing):
        changes.append("roleRef")
    if _subjects(desired) != _subjects(existing):
        changes.append("subjects")
    want_labels = (desired.get("metadata") or {}).get("labels") or {}
    have_labels = (existing.get("metadata") or {}).get("labels") or {}
    if any(have_labels.get(key) != value for key, value in want_labels.items()):
        changes.append("labels")
    want_owner = ((desired.get("metadata") or {}).get("ownerReferences") or [{}])[0]
    have_owners = (existing.get("metadata") or {}).get("ownerReferences") or []
    if not any(_owner(owner) == _owner(want_owner) for owner in have_owners):
        changes.append("ownerReferences")
    return changes


def _role_ref(manifest: Mapping[str, Any]) -> tuple:
    ref = manifest.get("roleRef") or {}
    return (ref.get("apiGroup", ""), ref.get("kind", ""), ref.get("name", ""))


def _subjects(manifest: Mapping[str, Any]) -> list[tuple]:
    # The API server fills in apiGroup for User and Group subjects when absent.
    def key(subject: Mapping[str, Any]) -> tuple:
        kind = subject.get("kind", "")
        default_group = RBAC_GROUP if kind in ("User", "Group") else ""
        return (kind, subject.get("apiGroup") or default_group, subject.get("name", ""),
                subject.get("namespace", ""))
    return sorted(key(subject) for subject in manifest.get("subjects") or [])


def _owner(owner: Mapping[str, Any]) -> tuple:
    return (owner.get("apiVersion"), owner.get("kind"), owner.get("name"), owner.get("uid"),
            bool(owner.get("controller")))
