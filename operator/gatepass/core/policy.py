"""Which AccessPolicy governs a request, and who may review it.

Every check returns a list of one-line messages, empty when all is well, so a
webhook can show every problem at once instead of the first one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from .durations import format_duration
from .lifecycle import State, state_of
from .resources import bound_errors
from .timestamps import floor_second, format_time
from .types import Identity, Policy, Request

# Every authenticated user has this group; naming it in messages adds only noise.
_IMPLICIT_GROUPS = frozenset({"system:authenticated"})

#: Who status.revokedBy names when a grant's policy withdrew it (see withdrawal).
POLICY_WITHDRAWAL = "gatepass:policy"


@dataclass(frozen=True)
class Selection:
    """The policy that allows a request (None when none does) and why not."""

    policy: Policy | None
    errors: list[str] = field(default_factory=list)


def request_expires_at(policy: Policy, created: datetime) -> datetime:
    """When a request made at ``created`` stops waiting for reviews under ``policy`` (its request TTL)."""
    return floor_second(created + policy.request_ttl)


def who(identity: Identity) -> str:
    """'bob or groups [developers]', for messages."""
    groups = sorted(identity.groups - _IMPLICIT_GROUPS)
    return f"{identity.username} or groups [{', '.join(groups)}]" if groups else identity.username


def request_errors(request: Request, policy: Policy) -> list[str]:
    """Everything `policy` does not allow about `request`; empty means it is allowed."""
    errors: list[str] = []
    if not policy.requesters.contains(request.requester):
        errors.append(f"{who(request.requester)} may not request under AccessPolicy {policy.name}")
    submitter = request.submitter
    if submitter is not None and not policy.trusted_submitters.contains(submitter):
        errors.append(
            f"{submitter.username} may not file requests on behalf of {request.requester.username} under "
            f"AccessPolicy {policy.name}: it is not one of its trustedSubmitters"
        )
    for name in request.roles:
        role = policy.role(name)
        if role is None:
            errors.append(f'AccessPolicy {policy.name} does not offer role "{name}"')
        elif request.cluster_wide:
            if not role.bindable_cluster_wide:
                errors.append(
                    f'role "{name}" may not be bound cluster-wide under AccessPolicy {policy.name}; '
                    "name the namespaces"
                )
        else:
            allowed = ", ".join(role.namespaces) or "none"
            errors.extend(
                f'role "{name}" may not be bound in namespace "{namespace}" under '
                f"AccessPolicy {policy.name} (allowed: {allowed})"
                for namespace in request.namespaces
                if namespace not in role.namespaces
            )
    if request.resources:
        errors.extend(bound_errors(policy.name, policy.resources, request.resources))
    if request.duration <= timedelta(0):
        errors.append(f"duration {format_duration(request.duration)} must be positive")
    elif request.duration > policy.max_duration:
        errors.append(
            f"duration {format_duration(request.duration)} is longer than the "
            f"{format_duration(policy.max_duration)} AccessPolicy {policy.name} allows"
        )
    if request.start_time is not None and request.start_time - request.created > policy.max_start_delay:
        errors.append(
            f"startTime {format_time(request.start_time)} is further ahead than the "
            f"{format_duration(policy.max_start_delay)} after the request is made that AccessPolicy "
            f"{policy.name} allows (maxStartDelay)"
        )
    if policy.require_reason and not request.reason.strip():
        errors.append(f"AccessPolicy {policy.name} requires a reason")
    return errors


def evaluate_request(request: Request, policies: Iterable[Policy]) -> Selection:
    """The first policy by name that allows everything about `request`.

    When none does, the errors explain it from the requester's point of view:
    a role nobody offers them, roles no single policy offers together, or else
    what each policy that offers all the roles objects to.
    """
    ordered = sorted(policies, key=lambda p: p.name)
    for policy in ordered:
        if not request_errors(request, policy):
            return Selection(policy, [])

    user = request.requester.username
    mine = [p for p in ordered if p.requesters.contains(request.requester)]
    if not mine and not request.roles:
        return Selection(None, [f"{user} may not request resources: no AccessPolicy names {who(request.requester)} "
                                "as a requester"])
    unoffered = [name for name in request.roles if not any(p.role(name) for p in mine)]
    if unoffered:
        return Selection(None, [
            f'{user} may not request role "{name}": no AccessPolicy offers it to {who(request.requester)}'
            for name in unoffered
        ])
    complete = [p for p in mine if all(p.role(name) for name in request.roles)]
    if request.resources:  # only policies that bound resource requests at all can allow some
        bounding = [p for p in complete if p.resources]
        if not bounding and complete:
            return Selection(None, [f"{user} may not request resources{' with these roles' if request.roles else ''}: "
                                    f"no AccessPolicy bounds resource requests for {who(request.requester)}"])
        complete = bounding
    if not complete:
        roles = ", ".join(f'"{name}"' for name in request.roles)
        return Selection(None, [
            f"{user} may not request roles {roles} together: no single AccessPolicy offers them all; "
            "request them separately"
        ])
    return Selection(None, [error for p in complete for error in request_errors(request, p)])


def review_errors(policy: Policy | None, request: Request, reviewer: Identity) -> list[str]:
    """Why `reviewer` may not review `request`; empty when they may."""
    errors: list[str] = []
    if reviewer.username == request.requester.username:
        errors.append(f"{reviewer.username} may not review own request")
    elif request.submitter is not None and reviewer.username == request.submitter.username:
        errors.append(f"{reviewer.username} may not review a request it filed")
    if policy is None:
        errors.append(f"no AccessPolicy governs request {request.name}")
    elif not policy.reviewers.contains(reviewer):
        errors.append(f"{reviewer.username} is not a reviewer under policy {policy.name}")
    return errors


def governing_policy(request: Request, policies: Iterable[Policy], status: Mapping[str, Any]) -> Policy | None:
    """The policy to decide `request` under, given its current `status`: the one question admission, the
    reconciler, the plugin and the Slack buttons all ask here.

    The policy a request is decided under is recorded once, in status.policy, and kept:
    - Once Approved: that policy, whether or not it still allows the request, and None when it is gone. A
      grant starts and goes on only under the policy whose reviewers approved it, never under another that
      happens to allow the same request (whose reviewers never saw it); policy.withdrawal ends it.
    - Otherwise: the recorded policy while it exists and still allows the request, so a policy added later
      (before it by name, say) never takes a request over from under its reviewers. When it is gone or no
      longer allows the request, and before one is recorded: the first by name that allows it, as
      evaluate_request says (None when none does).
    """
    policies = list(policies)
    named = status.get("policy")
    recorded = next((policy for policy in policies if policy.name == named), None) if named else None
    if state_of(status) is State.Approved:
        return recorded
    if recorded is not None and not request_errors(request, recorded):
        return recorded
    return evaluate_request(request, policies).policy


def withdrawal(request: Request, policy: Policy | None, approved_under: str) -> str | None:
    """Why the policy an Approved `request` was approved under (`approved_under`; `policy`
    is that policy as it is now, None when it is gone) no longer allows its access, in one
    line; None when it still does.

    A grant is withdrawn, whether it has started or not, when its policy is deleted (or
    renamed), or no longer allows what was granted: the requester, the filing trusted
    submitter, a role, a namespace, or the duration (request_errors). A reason is about
    the filing, not the access: a policy that comes to require one ends no grant.
    Access that has not started never starts under a policy that no longer allows it,
    and live access ends, as an administrator who deletes or narrows a policy expects.
    An edit that still allows the grant (another reviewer, a longer maxDuration, a role
    bound to another ClusterRole) changes nothing: the grant keeps the bindings fixed at
    approval. The policy is absent only between a deletion and a re-creation (kubectl
    delete and apply, replace --force, a GitOps tool that recreates it): that withdraws
    its grants like any deletion. kubectl apply, server-side apply and GitOps syncs
    update a policy in place and withdraw only what the new version no longer allows.
    """
    if policy is None or policy.name != approved_under:
        return f"AccessPolicy {approved_under} no longer exists"
    errors = request_errors(request, replace(policy, require_reason=False))
    return f"AccessPolicy {approved_under} no longer allows it: {'; '.join(errors)}" if errors else None
