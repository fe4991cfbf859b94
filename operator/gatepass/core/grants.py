"""The RoleBindings and ClusterRoleBindings a request gets, and the per-grant Roles of its resource rules,
as plain dicts.

Names are deterministic, so the operator finds and repairs its own bindings
after a restart or a hand edit: "gatepass-<request name>-<8 hex>", where the
hex is a hash of the request's uid (its name if it has none), the role and the
namespace. Each binding carries the labels below and an ownerReference to the
AccessRequest.

Before it binds anything, the operator asks whether it can: the namespace and
the role exist, and it holds `bind` on that role there (BindTarget). Holding
the role's permissions, which Kubernetes would accept instead, is not enough,
so a policy can never hand out more than gatepass-operator-bind allows. What
stands in the way is a BindBlock, which the reconciler feeds to decide().

A request's resource rules (gatepass.core.resources) are granted with a Role per namespace holding exactly
the rules asked there (a ClusterRole for the cluster-scoped ones), made for the grant and bound by a
binding of the same name: "gatepass-<request name>-<8 hex>" as above, hashed with RESOURCES_SEED for the
role. Both are labelled and owned like role bindings, and go with them. The operator may create such a
Role only if it holds every permission in it (RBAC's escalation check; it holds no `escalate`), and then
may bind it without `bind` on it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from itertools import product
from typing import Any, Iterable, Mapping

from .names import API_VERSION, KEY_PREFIX
from .conditions import BIND_FORBIDDEN, BLOCKED_REASONS, NAMESPACE_NOT_FOUND, ROLE_NOT_FOUND
from .rbac import Access, Rule
from .resources import role_rules, rule_manifest, scopes
from .types import Policy, Request, RequestableRole

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"
OWNER_API_VERSION = API_VERSION
OWNER_KIND = "AccessRequest"
MANAGED_LABEL = f"{KEY_PREFIX}managed"
REQUEST_LABEL = f"{KEY_PREFIX}request"
#: On an AccessReview, the UID of the request it was made for (set by admission; see gatepass.core.admission).
REQUEST_UID_LABEL = f"{KEY_PREFIX}request-uid"
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
#: The kinds of the per-grant roles of resource requests.
ROLE_OBJECT_KINDS = ("Role", "ClusterRole")
#: Every kind a grant is made of, as the operator keeps them.
GRANT_KINDS = BINDING_KINDS + ROLE_OBJECT_KINDS
NAMESPACED_KINDS = ("RoleBinding", "Role")
#: The Helm chart's value listing the ClusterRoles the operator is bound to, so that it may grant their rules.
RESOURCE_BOUNDS_VALUE = "resourceBounds"
#: What a per-grant role's name is hashed with instead of a role name (no policy's role has this name).
RESOURCES_SEED = "(resources)"
#: The aggregated ClusterRole whose `bind` rules say which roles the operator may grant.
OPERATOR_BIND_ROLE = "gatepass-operator-bind"

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

    @property
    def target(self) -> BindTarget:
        return BindTarget(self.role_kind, self.role_name, self.namespace)


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


def grant_role_name(request: Request, namespace: str) -> str:
    """The name of the per-grant Role of ``request``'s resource rules in ``namespace`` ('': its ClusterRole),
    and of the binding that binds it."""
    return binding_name(request, RESOURCES_SEED, namespace)


@dataclass(frozen=True)
class GrantRole:
    """A Role (``namespace`` set) or ClusterRole made for one grant, holding exactly ``rules``."""

    kind: str  # Role | ClusterRole
    namespace: str
    name: str
    rules: tuple[Rule, ...]

    @property
    def ref(self) -> BindingRef:
        return BindingRef(self.kind, self.namespace, self.name)

    @property
    def binding_ref(self) -> BindingRef:
        """The binding that binds it (of the same name)."""
        return BindingRef("RoleBinding" if self.namespace else "ClusterRoleBinding", self.namespace, self.name)


def grant_roles(request: Request) -> list[GrantRole]:
    """The per-grant Roles of ``request``'s resource rules: one per namespace asked in, in the order of the
    asks, and one ClusterRole for the cluster-scoped ones."""
    return [GrantRole("Role" if namespace else "ClusterRole", namespace, grant_role_name(request, namespace),
                      role_rules(request.resources, namespace))
            for namespace in scopes(request.resources)]


def is_grant_role(request: Request, binding: Binding) -> bool:
    """Whether ``binding`` binds one of ``request``'s per-grant Roles (rather than a role a policy offers)."""
    return (binding.role_kind == ("Role" if binding.namespace else "ClusterRole")
            and binding.role_name == binding.name == grant_role_name(request, binding.namespace))


def role_of(manifest: Mapping[str, Any], request: Request) -> BindingRef | None:
    """The per-grant role of ``request`` a binding manifest binds, when it binds one (as grant_roles names
    them); None for a binding of a role a policy offers."""
    ref, target = manifest_ref(manifest), manifest_target(manifest)
    if ref.kind not in BINDING_KINDS:
        return None
    binding = Binding(ref.kind, ref.namespace, ref.name, target.role_kind, target.role_name, "")
    return BindingRef(target.role_kind, ref.namespace, target.role_name) if is_grant_role(request, binding) else None


def role_binding(role: BindingRef) -> BindingRef:
    """The binding that binds the per-grant ``role`` (it has the role's name)."""
    return BindingRef("RoleBinding" if role.namespace else "ClusterRoleBinding", role.namespace, role.name)


def role_accesses(manifest: Mapping[str, Any]) -> tuple[Access, ...]:
    """Every API request a per-grant role's manifest allows, one per verb, resource and name ('' for any):
    what the operator must hold itself to create it."""
    namespace = manifest_ref(manifest).namespace
    accesses: dict[Access, None] = {}
    for rule in manifest.get("rules") or ():
        for group, resource, verb, name in product(rule.get("apiGroups") or ("",), rule.get("resources") or (),
                                                   rule.get("verbs") or (), rule.get("resourceNames") or ("",)):
            accesses.setdefault(Access(verb=verb, resource=resource, api_group=group, namespace=namespace,
                                       name=name), None)
    return tuple(accesses)


def not_held(role: BindingRef, missing: Iterable[Access]) -> BindBlock:
    """Why the per-grant ``role`` cannot be made: the operator does not hold ``missing`` itself (RBAC lets a
    role be created only by who holds its permissions)."""
    what = ", ".join(access.describe() for access in missing) or "its permissions"
    return BindBlock(BIND_FORBIDDEN,
                     f"the operator may not grant {what}: it does not hold that access itself (an administrator "
                     f"lets it by binding the operator to the AccessPolicy's bounding ClusterRole, e.g. with "
                     f"the Helm chart's {RESOURCE_BOUNDS_VALUE} value)")


def resource_bindings(request: Request) -> list[Binding]:
    """The bindings of ``request``'s per-grant Roles to the requester."""
    user = request.requester.username
    return [Binding(role.binding_ref.kind, role.namespace, role.name, role.kind, role.name, user)
            for role in grant_roles(request)]


def render_grant_role(role: GrantRole, request_name: str, request_uid: str) -> dict[str, Any]:
    """The manifest of ``role``, labelled and owned like a binding of the AccessRequest ``request_name``."""
    metadata = _owned_metadata(role.name, request_name, request_uid)
    if role.namespace:
        metadata["namespace"] = role.namespace
    return {"apiVersion": RBAC_API_VERSION, "kind": role.kind, "metadata": metadata,
            "rules": [rule_manifest(rule) for rule in role.rules]}


def role_drift(desired: Mapping[str, Any], existing: Mapping[str, Any]) -> list[str]:
    """What about the per-grant role ``existing`` differs from the ``desired`` manifest: its rules, our labels
    and our ownerReference (what the API server adds is ignored); empty when it matches."""
    changes = ["rules"] if _rules(desired) != _rules(existing) else []
    return changes + _marks_drift(desired, existing)


def _rules(manifest: Mapping[str, Any]) -> list[tuple]:
    def key(rule: Mapping[str, Any]) -> tuple:
        return tuple(tuple(sorted(rule.get(field) or ())) for field in
                     ("apiGroups", "resources", "resourceNames", "nonResourceURLs", "verbs"))
    return sorted(key(rule) for rule in manifest.get("rules") or () if isinstance(rule, Mapping))


def desired_bindings(request: Request, policy: Policy) -> list[Binding]:
    """One binding per requested role and namespace (one ClusterRoleBinding when cluster-wide), then one per
    per-grant Role of the resource rules (see grant_roles).

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
    return bindings + resource_bindings(request)


def _owned_metadata(name: str, request_name: str, request_uid: str) -> dict[str, Any]:
    return {
        "name": name,
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


def render_binding(binding: Binding, request_name: str, request_uid: str) -> dict[str, Any]:
    """The manifest of `binding`, owned by the AccessRequest `request_name`."""
    metadata = _owned_metadata(binding.name, request_name, request_uid)
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
    namespace = (metadata.get("namespace") or "") if manifest.get("kind") in NAMESPACED_KINDS else ""
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
    return changes + _marks_drift(desired, existing)


def _marks_drift(desired: Mapping[str, Any], existing: Mapping[str, Any]) -> list[str]:
    """Our labels and ownerReference, where ``existing`` lost them."""
    changes: list[str] = []
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


# -- whether a binding can be made ---------------------------------------------------------------


@dataclass(frozen=True)
class BindTarget:
    """A role to be bound, and the namespace of the binding ("" for a ClusterRoleBinding).

    Kubernetes authorizes a binding's creator for exactly this: verb `bind` on
    `resource` (clusterroles or roles) named `role_name`, in `namespace`.
    """

    role_kind: str  # ClusterRole | Role
    role_name: str
    namespace: str = ""

    @property
    def resource(self) -> str:
        return "clusterroles" if self.role_kind == "ClusterRole" else "roles"

    @property
    def where(self) -> str:
        return f"in namespace {self.namespace}" if self.namespace else "cluster-wide"

    def describe(self) -> str:
        """'ClusterRole dba in namespace payments', 'ClusterRole view cluster-wide'."""
        return f"{self.role_kind} {self.role_name} {self.where}"


def manifest_target(manifest: Mapping[str, Any]) -> BindTarget:
    """The BindTarget of a binding manifest (as render_binding makes it)."""
    ref = manifest.get("roleRef") or {}
    return BindTarget(str(ref.get("kind", "")), str(ref.get("name", "")), manifest_ref(manifest).namespace)


def role_targets(role: RequestableRole) -> tuple[BindTarget, ...]:
    """Every place a policy offering `role` may bind it: its namespaces, then cluster-wide if allowed."""
    targets = [BindTarget(role.kind, role.role_name, namespace) for namespace in dict.fromkeys(role.namespaces)]
    if role.bindable_cluster_wide:
        targets.append(BindTarget(role.kind, role.role_name, ""))
    return tuple(targets)


def bind_targets(policy: Policy) -> tuple[BindTarget, ...]:
    """Every place `policy` may bind one of its roles, in the policy's order, without repeats."""
    return tuple(dict.fromkeys(target for role in policy.roles for target in role_targets(role)))


@dataclass(frozen=True)
class BindBlock:
    """Why a binding cannot be made now: `reason` is one of conditions.BLOCKED_REASONS."""

    reason: str
    message: str

    def __post_init__(self) -> None:
        if self.reason not in BLOCKED_REASONS:
            raise ValueError(f"reason must be one of {', '.join(BLOCKED_REASONS)}, not {self.reason!r}")


def _not_bindable(target: BindTarget) -> str:
    return (f"the operator may not bind {target.role_kind} {target.role_name} {target.where} "
            f"(an administrator allows it with a bind rule aggregated into {OPERATOR_BIND_ROLE})")


def _missing(reason: str, target: BindTarget) -> BindBlock:
    if reason == NAMESPACE_NOT_FOUND:
        return BindBlock(reason, f"namespace {target.namespace} does not exist")
    if target.role_kind == "Role":
        return BindBlock(reason, f"Role {target.role_name} does not exist in namespace {target.namespace}")
    return BindBlock(reason, f"ClusterRole {target.role_name} does not exist")


def blocked(target: BindTarget, *, namespace_exists: bool, role_exists: bool, may_bind: bool) -> BindBlock | None:
    """What keeps a binding to `target` from being made, given what the API said; None: it can be made.

    A missing namespace is said first (a Role in it is missing too), then a
    missing role, then a `bind` the operator does not hold. `namespace_exists`
    is ignored for a ClusterRoleBinding.
    """
    if target.namespace and not namespace_exists:
        return _missing(NAMESPACE_NOT_FOUND, target)
    if not role_exists:
        return _missing(ROLE_NOT_FOUND, target)
    if not may_bind:
        return BindBlock(BIND_FORBIDDEN, _not_bindable(target))
    return None


def blocked_by_api_error(target: BindTarget, status: int, kind: str = "") -> BindBlock | None:
    """The BindBlock an API error on creating a binding to `target` means, or None when it is not one
    (a transient error, to retry as such). `kind` is the error's details.kind ("namespaces" when the
    namespace is missing, "clusterroles" or "roles" when the role is)."""
    if status == 403:
        return BindBlock(BIND_FORBIDDEN, _not_bindable(target))
    if status == 404 and kind == "namespaces" and target.namespace:
        return _missing(NAMESPACE_NOT_FOUND, target)
    if status == 404 and kind in ("clusterroles", "roles"):
        return _missing(ROLE_NOT_FOUND, target)
    return None


def first_block(blocks: Iterable[BindBlock]) -> BindBlock | None:
    """The block to name first: by the order of BLOCKED_REASONS, then as given."""
    ordered = sorted(blocks, key=lambda block: BLOCKED_REASONS.index(block.reason))
    return ordered[0] if ordered else None


def bind_warnings(policy: Policy, may_bind: Mapping[BindTarget, bool]) -> list[str]:
    """One line per role of `policy` the operator may not bind somewhere it is offered (targets missing
    from `may_bind` are not judged). Requests for such a role are approved but not granted until an
    administrator lets the operator bind it."""
    lines = []
    for role in policy.roles:
        places = [target for target in role_targets(role) if may_bind.get(target) is False]
        if not places:
            continue
        where = ", ".join(target.namespace or "cluster-wide" for target in places)
        lines.append(f'role "{role.name}": the operator may not bind {role.kind} {role.role_name} ({where}); '
                     f"requests for it will be approved but not granted until an administrator allows it "
                     f"in {OPERATOR_BIND_ROLE}")
    return lines
