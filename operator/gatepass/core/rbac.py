"""Which requestable role would allow an API request the server refused.

Kubernetes RBAC, as far as Gatepass needs it: a rule allows a request when its
verbs, API groups, resources (with ``*`` and ``*/subresource``) and resource
names all match, or, for a non-resource URL, when a path matches. A role bound
with a RoleBinding counts only in that namespace and never for non-resource
URLs; a ClusterRoleBinding counts everywhere.

``suggest_roles`` takes the refused requests, the caller, the policies and the
rules of the roles they offer (as read by the caller: None when they could not
be read) and says which requestable roles the caller could ask for, and where,
so that every refused request would be allowed. It reads nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .access import Access
from .types import Identity, Policy, RequestableRole, RoleKind

ALL = "*"


@dataclass(frozen=True)
class Rule:
    """One RBAC PolicyRule. Empty sets match nothing, as in Kubernetes."""

    verbs: frozenset[str]
    api_groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    resource_names: frozenset[str] = frozenset()
    non_resource_urls: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        verbs: Iterable[str],
        api_groups: Iterable[str] = (),
        resources: Iterable[str] = (),
        resource_names: Iterable[str] = (),
        non_resource_urls: Iterable[str] = (),
    ) -> Rule:
        return cls(
            frozenset(verbs),
            frozenset(api_groups),
            frozenset(resources),
            frozenset(resource_names),
            frozenset(non_resource_urls),
        )


def _resource_matches(rule: Rule, access: Access) -> bool:
    _, _, subresource = access.resource.partition("/")
    for resource in rule.resources:
        if resource == ALL or resource == access.resource:
            return True
        if subresource and resource == f"{ALL}/{subresource}":
            return True
    return False


def _path_matches(rule: Rule, path: str) -> bool:
    for url in rule.non_resource_urls:
        if url == ALL or url == path:
            return True
        if url.endswith(ALL) and path.startswith(url[:-1]):
            return True
    return False


def rule_allows(rule: Rule, access: Access) -> bool:
    """Whether this one rule allows ``access`` (wherever the rule applies)."""
    if ALL not in rule.verbs and access.verb not in rule.verbs:
        return False
    if not access.is_resource:
        return _path_matches(rule, access.path)
    if ALL not in rule.api_groups and access.api_group not in rule.api_groups:
        return False
    if not _resource_matches(rule, access):
        return False
    return not rule.resource_names or access.name in rule.resource_names


def rules_allow(rules: Iterable[Rule], access: Access, *, cluster_binding: bool = False) -> bool:
    """Whether any of ``rules`` allows ``access``; non-resource URLs only through a ClusterRoleBinding."""
    if not access.is_resource and not cluster_binding:
        return False
    return any(rule_allows(rule, access) for rule in rules)


@dataclass(frozen=True)
class RoleKey:
    """Where a requestable role's rules live: a ClusterRole, or a Role in one namespace."""

    kind: RoleKind
    name: str
    namespace: str = ""

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Suggestion:
    """Request ``role`` under ``policy`` in ``namespaces`` (empty: cluster-wide)."""

    policy: str
    role: str
    namespaces: tuple[str, ...]

    @property
    def cluster_wide(self) -> bool:
        return not self.namespaces

    def describe(self) -> str:
        where = f"in {', '.join(self.namespaces)}" if self.namespaces else "cluster-wide"
        return f"role {self.role} {where} (AccessPolicy {self.policy})"


@dataclass(frozen=True)
class Finding:
    """Roles that allow every refused request, and roles that might (their rules were unreadable)."""

    allowed: tuple[Suggestion, ...] = ()
    unverified: tuple[Suggestion, ...] = ()
    unreadable: tuple[RoleKey, ...] = ()

    @property
    def best(self) -> Suggestion | None:
        return self.allowed[0] if self.allowed else None


def scope_for(role: RequestableRole, accesses: Sequence[Access]) -> tuple[str, ...] | None:
    """The namespaces to request ``role`` in so its bindings cover ``accesses``.

    () means cluster-wide; None means this role cannot be bound where needed.
    A namespaced binding is preferred; cluster-wide only when something is at
    the cluster scope or the role offers only that.
    """
    if not accesses:
        return None
    namespaces = tuple(sorted({a.namespace for a in accesses if a.namespace}))
    needs_cluster = any(not a.namespace for a in accesses)
    if not needs_cluster and all(ns in role.namespaces for ns in namespaces):
        return namespaces
    if role.bindable_cluster_wide:
        return ()
    return None


def rule_sources(role: RequestableRole, scope: Sequence[str]) -> tuple[RoleKey, ...]:
    """The RBAC objects whose rules a grant of ``role`` in ``scope`` would bind."""
    if role.kind == "ClusterRole":
        return (RoleKey("ClusterRole", role.role_name),)
    return tuple(RoleKey("Role", role.role_name, namespace) for namespace in scope)


def _grant_allows(
    role: RequestableRole,
    scope: tuple[str, ...],
    access: Access,
    rules: Mapping[RoleKey, Sequence[Rule] | None],
) -> bool | None:
    """Whether granting ``role`` in ``scope`` allows ``access``; None when the rules are unknown."""
    if role.kind == "ClusterRole":
        key = RoleKey("ClusterRole", role.role_name)
    else:
        key = RoleKey("Role", role.role_name, access.namespace)
    found = rules.get(key)
    if found is None:
        return None
    return rules_allow(found, access, cluster_binding=not scope)


def _offered(identity: Identity, policies: Iterable[Policy], accesses: Sequence[Access]):
    for policy in sorted(policies, key=lambda p: p.name):
        if not policy.requesters.contains(identity):
            continue
        for role in policy.roles:
            scope = scope_for(role, accesses)
            if scope is not None:
                yield policy, role, scope


def roles_to_read(identity: Identity, policies: Iterable[Policy], accesses: Sequence[Access]) -> tuple[RoleKey, ...]:
    """The ClusterRoles and Roles whose rules ``suggest_roles`` needs, in a stable order."""
    keys: dict[RoleKey, None] = {}
    for _, role, scope in _offered(identity, policies, accesses):
        for key in rule_sources(role, scope):
            keys.setdefault(key, None)
    return tuple(keys)


def suggest_roles(
    accesses: Sequence[Access],
    identity: Identity,
    policies: Iterable[Policy],
    rules: Mapping[RoleKey, Sequence[Rule] | None],
) -> Finding:
    """Requestable roles that would allow every one of ``accesses`` for ``identity``.

    Only policies naming the identity as a requester count. Namespaced grants
    come before cluster-wide ones, then policies in name order, then roles in
    the policy's order. A role whose rules are missing from ``rules`` (or None)
    is reported as unverified instead of guessed at.
    """
    allowed: list[Suggestion] = []
    unverified: list[Suggestion] = []
    unreadable: dict[RoleKey, None] = {}
    for policy, role, scope in _offered(identity, policies, accesses):
        verdicts = [_grant_allows(role, scope, access, rules) for access in accesses]
        suggestion = Suggestion(policy.name, role.name, scope)
        if all(verdicts):
            allowed.append(suggestion)
        elif False not in verdicts:
            unverified.append(suggestion)
            for key in rule_sources(role, scope):
                if rules.get(key) is None:
                    unreadable.setdefault(key, None)
    allowed.sort(key=lambda s: s.cluster_wide)
    unverified.sort(key=lambda s: s.cluster_wide)
    return Finding(tuple(allowed), tuple(unverified), tuple(unreadable))


def offer_of(
    name: str, accesses: Sequence[Access], identity: Identity, policies: Iterable[Policy]
) -> Suggestion | None:
    """Where to request the role called ``name`` to cover ``accesses``: the first policy that can."""
    for policy, role, scope in _offered(identity, policies, accesses):
        if role.name == name:
            return Suggestion(policy.name, role.name, scope)
    return None


def rule_from_api(rule: Mapping) -> Rule:
    """An RBAC rule as the API returns it (camelCase keys)."""
    return Rule.of(
        rule.get("verbs") or (),
        rule.get("apiGroups") or (),
        rule.get("resources") or (),
        rule.get("resourceNames") or (),
        rule.get("nonResourceURLs") or (),
    )
