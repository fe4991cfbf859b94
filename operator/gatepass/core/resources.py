"""Resource requests: the RBAC rules a request asks for, and whether a policy's bound allows them.

A request may ask for rules instead of (or beside) whole roles: ``get`` on ``pods/log`` named ``db-1`` in
``payments``. Each asked rule is an ``Ask``; every surface that shows one (the plugin, the Web UI,
notifications, Events, the audit trail, ``kubectl get``) says it with ``Ask.describe()``.

A policy bounds what may be asked with ``Bound``s: the rules of a ClusterRole, in some namespaces or
cluster-wide. ``exceeding`` is the subset check: an ask is allowed when every API request it would allow
(each verb, on each name, or on any name when it names none) is one some rule of the bound allows, as
gatepass.core.rbac matches rules (one answer to "does this rule allow that?"; not restated here). So
wildcards only pass where the bound has them: ``*`` verbs, resources (``pods/*``, ``*/log``) or API
groups in an ask need the same or wider in the bound, and an ask naming no object needs a bound rule
with no resourceNames.

A bound that is a clusterWide entry bounds asks in every namespace and cluster-scoped asks (granted with
a ClusterRole and a ClusterRoleBinding); a namespaced entry bounds asks in its namespaces only.
Non-resource URLs (``/metrics``) cannot be asked for: their rules work only cluster-wide, on every path
prefix, and are not what resource requests are for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .rbac import ALL, Access, Rule, rule_from_api, rules_allow
from .types import Policy

#: Bounds on the lists of a resource request (they keep the API server's CEL cost estimate small).
MAX_ASKS = 16
MAX_ASK_VERBS = 8
MAX_ASK_NAMES = 16
MAX_BOUNDS = 32

#: What describe() says for an ask that names no object.
ANY_NAME = "(any name)"
#: Where a cluster-scoped ask applies.
CLUSTER_WIDE = "cluster-wide"


@dataclass(frozen=True)
class Ask:
    """One requested rule: ``verbs`` on ``resource`` (and ``subresource``) in ``api_group``, named ``names``
    (empty: any name) in ``namespace`` (empty: cluster-scoped, bound cluster-wide)."""

    resource: str
    verbs: tuple[str, ...]
    api_group: str = ""
    subresource: str = ""
    namespace: str = ""
    names: tuple[str, ...] = ()

    @property
    def full_resource(self) -> str:
        """'pods/log', 'pods', 'pods/*': the resource as an RBAC rule names it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    @property
    def cluster_scoped(self) -> bool:
        return not self.namespace

    @property
    def where(self) -> str:
        return f"in {self.namespace}" if self.namespace else CLUSTER_WIDE

    def what(self) -> str:
        """'get pods/log db-1', 'get,list deployments.apps (any name)': the ask without where."""
        resource = self.full_resource
        if self.api_group:
            base, slash, sub = resource.partition("/")
            resource = f"{base}.{self.api_group}{slash}{sub}"
        names = ",".join(self.names) if self.names else ANY_NAME
        return f"{','.join(self.verbs)} {resource} {names}"

    def describe(self) -> str:
        """'get pods/log db-1 in payments', 'list nodes (any name) cluster-wide'."""
        return f"{self.what()} {self.where}"

    @property
    def rule(self) -> Rule:
        """The RBAC rule that grants exactly this ask."""
        return Rule.of(self.verbs, (self.api_group,), (self.full_resource,), self.names)

    def accesses(self) -> tuple[Access, ...]:
        """Every API request this ask allows, one per verb and name ('' for any name)."""
        return tuple(Access(verb=verb, resource=self.full_resource, api_group=self.api_group,
                            namespace=self.namespace, name=name)
                     for verb in self.verbs for name in (self.names or ("",)))

    def as_map(self) -> dict[str, Any]:
        """The ask with the API's keys (apiGroup, resource, subresource, namespace, names, verbs): what CEL
        rules and notification payloads see. Absent keys are empty."""
        return {"apiGroup": self.api_group, "resource": self.resource, "subresource": self.subresource,
                "namespace": self.namespace, "names": list(self.names), "verbs": list(self.verbs)}


@dataclass(frozen=True)
class Bound:
    """A policy's spec.resources entry: the rules of ClusterRole ``cluster_role`` bound what may be asked in
    ``namespaces`` (or anywhere, and cluster-scoped, when ``cluster_wide``).

    ``rules`` are the ClusterRole's as read from the cluster: None until they are read (the policy object
    alone does not say them), () when it has none; ``exists`` is False when it was found missing.
    """

    cluster_role: str
    namespaces: tuple[str, ...] = ()
    cluster_wide: bool = False
    rules: tuple[Rule, ...] | None = None
    exists: bool = True

    def covers(self, namespace: str) -> bool:
        """Whether this entry bounds asks in ``namespace`` ('' for a cluster-scoped ask)."""
        return self.cluster_wide or (bool(namespace) and namespace in self.namespaces)


def bounds_for(bounds: Iterable[Bound], namespace: str) -> tuple[Bound, ...]:
    """The entries of a policy that bound asks in ``namespace`` ('' for a cluster-scoped ask)."""
    return tuple(bound for bound in bounds if bound.covers(namespace))


def refusal(ask: Ask) -> str | None:
    """What makes ``ask`` one that can never be granted, whatever the bound; None when nothing does."""
    if not ask.resource:
        return f"{ask.describe()}: name a resource"
    if ask.resource.startswith("/"):
        return f"{ask.describe()}: non-resource URLs cannot be requested; name a resource"
    if "/" in ask.resource:
        return f"{ask.describe()}: name the subresource in subresource, not in resource"
    if "/" in ask.subresource:
        return f"{ask.describe()}: a subresource has no '/'"
    if not ask.verbs or any(not verb for verb in ask.verbs):
        return f"{ask.describe()}: name at least one verb"
    if any(not name or name == ALL for name in ask.names):
        return f"{ask.describe()}: names are object names ('*' is not one; name none for any name)"
    return None


def exceeding(bound_rules: Sequence[Rule], asked: Iterable[Ask]) -> list[str]:
    """One line for each ask in ``asked`` that ``bound_rules`` do not wholly allow, naming the ask and what
    of it exceeds; empty when every ask is within the bound.

    Wherever the rules apply (which namespaces is the caller's question, see ``bounds_for``), each verb on
    each name of an ask (any name, when it names none) must be allowed by some rule.
    """
    rules = tuple(bound_rules)
    lines: list[str] = []
    for ask in asked:
        refused = refusal(ask)
        if refused is not None:
            lines.append(refused)
            continue
        over = [access for access in ask.accesses()
                if not rules_allow(rules, access, cluster_binding=ask.cluster_scoped)]
        if not over:
            continue
        verbs = list(dict.fromkeys(access.verb for access in over))
        names = list(dict.fromkeys(access.name or ANY_NAME for access in over))
        exceeds = replace(ask, verbs=tuple(verbs), names=tuple(a for a in names if a != ANY_NAME))
        lines.append(f"{ask.describe()} exceeds the bound: {exceeds.what()} is not allowed")
    return lines


def bound_errors(policy_name: str, bounds: Sequence[Bound], asked: Iterable[Ask]) -> list[str]:
    """Why a policy with these ``bounds`` does not allow ``asked``: an ask where no entry bounds asks, or
    (when the entries' rules are known) one its bound's rules do not allow. Entries whose rules are not
    known yet (None) are not judged: the caller that can read them (admission, the operator) passes them in.
    """
    errors: list[str] = []
    for ask in asked:
        refused = refusal(ask)
        if refused is not None:
            errors.append(refused)
            continue
        governing = bounds_for(bounds, ask.namespace)
        if not governing:
            errors.append(f"{ask.describe()}: AccessPolicy {policy_name} allows no resource requests "
                          f"{ask.where}")
            continue
        if any(bound.rules is None for bound in governing):
            continue
        rules = tuple(rule for bound in governing for rule in bound.rules or ())
        for line in exceeding(rules, (ask,)):
            roles = ", ".join(bound.cluster_role + ("" if bound.exists else " (which does not exist)")
                              for bound in governing)
            errors.append(f"{line} by ClusterRole {roles} (AccessPolicy {policy_name})")
    return errors


def with_rules(bounds: Sequence[Bound], rules: Mapping[str, Sequence[Rule] | None]) -> tuple[Bound, ...]:
    """``bounds`` with their ClusterRoles' rules filled in from ``rules`` (by ClusterRole name; None: it does
    not exist). A name missing from ``rules`` is left unknown."""
    filled = []
    for bound in bounds:
        if bound.cluster_role not in rules:
            filled.append(bound)
            continue
        found = rules[bound.cluster_role]
        filled.append(replace(bound, rules=tuple(found) if found is not None else (), exists=found is not None))
    return tuple(filled)


def cluster_roles(bounds: Iterable[Bound]) -> frozenset[str]:
    """The ClusterRoles whose rules ``bounds`` need."""
    return frozenset(bound.cluster_role for bound in bounds)


def bounding_roles(policies: Iterable[Policy]) -> frozenset[str]:
    """The ClusterRoles whose rules bound resource requests under any of ``policies``."""
    return frozenset(name for policy in policies for name in cluster_roles(policy.resources))


def bounded(policies: Iterable[Policy], read: Mapping[str, Sequence[Mapping[str, Any]] | None]) -> list[Policy]:
    """``policies`` with their bounds' rules filled in from ClusterRoles as the API returned them (``read``,
    by name: the rules, or None for one that does not exist): what admission and the operator decide
    resource requests with."""
    rules = {name: None if found is None else tuple(rule_from_api(rule) for rule in found)
             for name, found in read.items()}
    return [replace(policy, resources=with_rules(policy.resources, rules)) if policy.resources else policy
            for policy in policies]


#: At most this many of a bound's permissions are checked at policy admission (one access review each).
MAX_BOUND_CHECKS = 64


def bound_accesses(bound: Bound) -> tuple[Access, ...]:
    """The API requests a bound's rules allow where it applies (each namespace, or cluster-wide): what the
    operator must hold itself to grant anything within it. Empty until its rules are known."""
    places = ("",) if bound.cluster_wide else bound.namespaces
    found: dict[Access, None] = {}
    for rule in bound.rules or ():
        for namespace in places:
            for group in sorted(rule.api_groups):
                for resource in sorted(rule.resources):
                    for verb in sorted(rule.verbs):
                        for name in sorted(rule.resource_names) or ("",):
                            found.setdefault(Access(verb=verb, resource=resource, api_group=group,
                                                    namespace=namespace, name=name), None)
    return tuple(found)


def bound_warnings(bounds: Sequence[Bound], held: Mapping[Access, bool]) -> list[str]:
    """One line per bound of a policy within which the operator does not hold everything (``held``: what the
    access reviews said; what is missing from it is not judged). Requests within it are approved but not
    granted until an administrator binds the operator to its ClusterRole."""
    lines = []
    for bound in bounds:
        missing = [access for access in bound_accesses(bound) if held.get(access) is False]
        if not missing:
            continue
        shown = ", ".join(access.describe() for access in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        lines.append(f'resources within ClusterRole "{bound.cluster_role}": the operator does not hold {shown}{more} '
                     "itself; requests for them will be approved but not granted until an administrator binds the "
                     "operator to that ClusterRole (the Helm chart's resourceBounds value)")
    return lines


def scopes(asked: Iterable[Ask]) -> tuple[str, ...]:
    """The namespaces of ``asked`` in first-seen order, '' (cluster-wide) where an ask is cluster-scoped: one
    per-grant Role (or the one ClusterRole) and its binding each."""
    return tuple(dict.fromkeys(ask.namespace for ask in asked))


def role_rules(asked: Iterable[Ask], namespace: str) -> tuple[Rule, ...]:
    """The rules of the per-grant Role in ``namespace`` ('' : the per-grant ClusterRole): exactly the asks
    there, in order, without repeats."""
    return tuple(dict.fromkeys(ask.rule for ask in asked if ask.namespace == namespace))


def rule_manifest(rule: Rule) -> dict[str, Any]:
    """An RBAC PolicyRule as the API takes it (camelCase keys, sorted lists; empty lists left out but
    apiGroups, which the API server requires for a resource rule)."""
    manifest: dict[str, Any] = {"apiGroups": sorted(rule.api_groups)}
    if rule.resources:
        manifest["resources"] = sorted(rule.resources)
    if rule.resource_names:
        manifest["resourceNames"] = sorted(rule.resource_names)
    if rule.non_resource_urls:
        manifest["nonResourceURLs"] = sorted(rule.non_resource_urls)
    manifest["verbs"] = sorted(rule.verbs)
    return manifest


def summary(asked: Sequence[Ask], limit: int) -> str:
    """The asks on one line for ``kubectl get``: 'get pods/log db-1 in payments; +2 more' within ``limit``
    characters."""
    lines = [ask.describe() for ask in asked]
    joined = "; ".join(lines)
    if len(joined) <= limit:
        return joined
    shown: list[str] = []
    for index, line in enumerate(lines):
        rest = f"; +{len(lines) - index} more"
        if len("; ".join([*shown, line])) + len(rest) > limit:
            if not shown:
                return f"{line[:max(limit - len(rest) - 1, 0)]}…{rest}"
            return "; ".join(shown) + rest
        shown.append(line)
    return "; ".join(shown)
