"""What an AccessPolicy says that can never work, found at admission before it is stored.

check_policy() looks at a policy and at the facts the webhook read from the cluster
(which of the namespaces, ClusterRoles and Roles it names exist) and returns
Findings: one-line errors and warnings.

  * Errors refuse the policy. They are what nothing outside the policy can fix: an
    approval threshold (or the denials count) that more reviewers than can ever count
    would have to reach, a threshold whose `from` names nobody who is a reviewer, or
    one that every requester's own requests fall short of (nobody reviews their own
    request; when only some named requesters are stuck, it is a warning). Only what
    is countable is counted: users listed by name. A group's members are not known
    to Kubernetes, so wherever a group could supply reviewers nothing is guessed and
    nothing is refused. With an Approve (Deny) rule, which can still decide, an
    unreachable threshold (denials count) is a warning.
  * Warnings accept the policy and are shown by kubectl ("Warning: ..."): a
    ClusterRole, namespace or Role the policy names that does not exist yet.
    Refusing those would break GitOps ordering: Argo CD, Flux and
    `kubectl apply -f dir/` apply a policy together with (or before) the roles and
    namespaces it names, and they may also be created or deleted later. A request
    for such a role is refused nothing at admission; it cannot be granted until the
    role and namespace exist.

Pure: the webhook reads the facts and passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .types import RULES_REVIEWER, Policy, Subjects, Threshold


@dataclass(frozen=True)
class ClusterFacts:
    """What exists, as the webhook read it. None: it could not be read, and nothing is said about it.

    ``cluster_roles``: the existing ones among those the policy names; ``roles``: for each Role name the
    policy names, the namespaces a Role of that name exists in.
    """

    namespaces: frozenset[str] | None = None
    cluster_roles: frozenset[str] | None = None
    roles: Mapping[str, frozenset[str]] | None = None


@dataclass(frozen=True)
class Findings:
    """errors: why the policy is refused; warnings: what it is accepted with. Each is one line."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def check_policy(policy: Policy, facts: ClusterFacts) -> Findings:
    """Everything about ``policy`` that can never work (errors) or cannot work yet (warnings)."""
    errors: list[str] = []
    warnings: list[str] = []
    approve_rules = any(rule.decision == "Approve" for rule in policy.rules)
    deny_rules = any(rule.decision == "Deny" for rule in policy.rules)

    for threshold in policy.thresholds:
        problem = threshold_problem(policy.reviewers, threshold)
        fatal = problem is not None
        if problem is None:
            problem, fatal = own_requests_problem(policy, threshold.from_, threshold.approvals,
                                                  f'threshold "{threshold.name}" can never be met')
        if problem is None:
            continue
        if approve_rules:
            warnings.append(f"{problem}; only the policy's Approve rules can approve its requests")
        else:
            (errors if fatal else warnings).append(problem)
    problem = denials_problem(policy.reviewers, policy.denials)
    fatal = problem is not None
    if problem is None:
        problem, fatal = own_requests_problem(policy, None, policy.denials,
                                              f"denials {policy.denials} can never be reached")
    if problem is not None:
        if deny_rules:
            warnings.append(f"{problem}; only the policy's Deny rules can deny its requests")
        else:
            (errors if fatal else warnings).append(problem)

    warnings.extend(missing(policy, facts))
    return Findings(tuple(errors), tuple(warnings))


def eligible(reviewers: Subjects, from_: Subjects | None) -> frozenset[str] | None:
    """The users whose approvals can count toward a threshold with ``from_``, when that is known by name;
    None when a group could supply more (its members are not known). The system reviewer of policy rules
    is never one: a rule's review does not count toward thresholds."""
    known: frozenset[str] | None = None
    if not reviewers.groups:
        known = reviewers.users
    if from_ is not None and not from_.groups:
        known = from_.users if known is None else known & from_.users
    return None if known is None else known - {RULES_REVIEWER}


def threshold_problem(reviewers: Subjects, threshold: Threshold) -> str | None:
    """Why ``threshold`` can never be met by the policy's ``reviewers``, or None when it can (or may)."""
    users = eligible(reviewers, threshold.from_)
    if users is None:
        return None
    if not users and threshold.from_ is not None:
        return (f'threshold "{threshold.name}" can never be met: none of the users and groups in its from '
                "is a reviewer")
    if len(users) < threshold.approvals:
        return (f'threshold "{threshold.name}" needs {_count(threshold.approvals, "approval")} but at most '
                f"{_count(len(users), 'reviewer')} can give one ({_listed(users)})")
    return None


def own_requests_problem(policy: Policy, from_: Subjects | None, needed: int, what: str) -> tuple[str | None, bool]:
    """(why ``needed`` reviews can never be given on some requesters' requests, fatal): nobody reviews
    their own request, so a requester named among the few who could review leaves one too few for their
    own. Fatal when that holds for every requester (all named as users); else a warning."""
    users = eligible(policy.reviewers, from_)
    if users is None:
        return None, False
    stuck = sorted(name for name in policy.requesters.users if len(users - {name}) < needed)
    if not stuck:
        return None, False
    fatal = not policy.requesters.groups and set(stuck) == policy.requesters.users
    return f"{what} for requests by {', '.join(stuck)}: nobody reviews their own request", fatal


def denials_problem(reviewers: Subjects, denials: int) -> str | None:
    """Why ``denials`` denials can never be reached by ``reviewers``, or None when they can (or may)."""
    users = eligible(reviewers, None)
    if users is None or len(users) >= denials:
        return None
    return (f"denials {denials} can never be reached: at most {_count(len(users), 'reviewer')} can deny "
            f"({_listed(users)})")


def _listed(users: frozenset[str]) -> str:
    return ", ".join(sorted(users)) or "nobody"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def missing(policy: Policy, facts: ClusterFacts) -> list[str]:
    """A warning for each ClusterRole, namespace and Role the policy names that does not exist."""
    by_namespace: dict[str, list[str]] = {}
    by_cluster_role: dict[str, list[str]] = {}
    for role in policy.roles:
        for namespace in role.namespaces:
            by_namespace.setdefault(namespace, []).append(role.name)
        if role.kind == "ClusterRole":
            by_cluster_role.setdefault(role.role_name, []).append(role.name)
    warnings = [*_missing_named("namespace", by_namespace, facts.namespaces, " there"),
                *_missing_named("ClusterRole", by_cluster_role, facts.cluster_roles, ""),
                *_missing_roles(policy, facts)]
    return warnings + _missing_bounds(policy, facts, set(by_namespace), set(by_cluster_role))


def _missing_bounds(policy: Policy, facts: ClusterFacts, namespaces_said: set[str],
                    cluster_roles_said: set[str]) -> list[str]:
    """A warning for each bounding ClusterRole of resource requests, and namespace of a bound, that does not
    exist (one already warned about for a role is not said again)."""
    warnings: list[str] = []
    bounds = [bound.cluster_role for bound in policy.resources if bound.cluster_role not in cluster_roles_said]
    if facts.cluster_roles is None:
        warnings += _unread("ClusterRoles", bounds)
    else:
        warnings += [f'ClusterRole "{name}" does not exist: nothing can be requested within it until it is '
                     "created" for name in sorted(set(bounds)) if name not in facts.cluster_roles]
    namespaces = [ns for bound in policy.resources for ns in bound.namespaces if ns not in namespaces_said]
    if facts.namespaces is None:
        warnings += _unread("namespaces", namespaces)
    else:
        warnings += [f'namespace "{ns}" does not exist: no resource can be granted there until it is created'
                     for ns in sorted(set(namespaces)) if ns not in facts.namespaces]
    return warnings


def _unread(what: str, named: object) -> list[str]:
    """The warning for names the policy has that could not be checked (none when it names none)."""
    return [f"could not check which of the {what} the policy names exist"] if named else []


def _missing_named(kind: str, offering: dict[str, list[str]], existing: frozenset[str] | None,
                   where: str) -> list[str]:
    """A warning for each ``kind`` (namespace, ClusterRole) in ``offering`` that is not ``existing``, naming the
    roles of the policy that need it."""
    if existing is None:
        return _unread(f"{kind}s", offering)
    return [f'{kind} "{name}" does not exist: {_names(offering[name])} cannot be granted{where} until it is '
            "created" for name in sorted(offering) if name not in existing]


def _missing_roles(policy: Policy, facts: ClusterFacts) -> list[str]:
    roles = [role for role in policy.roles if role.kind == "Role"]
    if facts.roles is None:
        return _unread("Roles", roles)
    warnings: list[str] = []
    for role in roles:
        have = facts.roles.get(role.role_name, frozenset())
        # A namespace that does not exist is warned about once, by _missing_namespaces.
        absent = [ns for ns in role.namespaces if ns not in have
                  and (facts.namespaces is None or ns in facts.namespaces)]
        if absent:
            where = ", ".join(f'"{ns}"' for ns in absent)
            warnings.append(f'Role "{role.role_name}" does not exist in namespace{"s" if len(absent) > 1 else ""} '
                            f'{where}: role "{role.name}" cannot be granted there until it is created')
    return warnings


def _names(names) -> str:
    ordered = sorted(set(names))
    if len(ordered) == 1:
        return f'role "{ordered[0]}"'
    return "roles " + ", ".join(f'"{name}"' for name in ordered)


def needed_reads(policy: Policy) -> tuple[frozenset[str], frozenset[str]]:
    """(ClusterRole names, Role names) the policy binds or bounds resource requests with: what the webhook
    reads to check they exist."""
    cluster_roles = frozenset(role.role_name for role in policy.roles if role.kind == "ClusterRole")
    cluster_roles |= frozenset(bound.cluster_role for bound in policy.resources)
    roles = frozenset(role.role_name for role in policy.roles if role.kind == "Role")
    return cluster_roles, roles

