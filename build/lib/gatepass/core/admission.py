"""Who an AccessReview speaks for: the caller, or — only when the operator itself submits it — a
policy rule's system reviewer or the Kubernetes user a Slack user is mapped to.

The admission webhook calls these with what the API server authenticated; the
answer is either the identities to record or one line saying why the review is
refused. Nothing here reads the cluster.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .lifecycle import TERMINAL, State
from .policy import review_errors
from .types import RULES_REVIEWER, Identity, Policy, Request


@dataclass(frozen=True)
class Author:
    """The reviewer a review counts for, and who submitted it when that is somebody else."""

    reviewer: Identity
    submitter: Identity | None = None


def review_author(
    caller: Identity,
    operator: str,
    *,
    rule: str | None = None,
    slack_user: str | None = None,
    rules: Collection[str] = (),
    slack_users: Mapping[str, Identity] | None = None,
    policy: str = "",
) -> Author | str:
    """The Author of a review created by ``caller``, or why it is refused.

    ``operator`` is the operator's own username; ``rules`` the rule names and
    ``slack_users`` the Slack-user mapping of the governing policy ``policy``.
    """
    if rule and slack_user:
        return "an AccessReview cannot come from both a rule and Slack"
    if not rule and not slack_user:
        if caller.username == RULES_REVIEWER:
            return f"{RULES_REVIEWER} reviews only through policy rules"
        return Author(caller)
    field = "spec.rule" if rule else "spec.slackUser"
    if caller.username != operator:
        return f"{field} may be set only by the Gatepass operator, not by {caller.username}"
    if rule:
        if rule not in rules:
            return f"AccessPolicy {policy or '(none)'} has no rule {rule}"
        return Author(Identity(RULES_REVIEWER), submitter=caller)
    mapped = (slack_users or {}).get(slack_user or "")
    if mapped is None:
        return f"Slack user {slack_user} is not mapped to a reviewer in AccessPolicy {policy or '(none)'}"
    if mapped.username == RULES_REVIEWER:
        return f"Slack user {slack_user} is mapped to {RULES_REVIEWER}, which reviews only through policy rules"
    return Author(mapped, submitter=caller)


def slack_mapping(entries: object) -> dict[str, Identity]:
    """AccessPolicy spec.slackUsers (camelCase JSON) as Slack user ID -> Kubernetes identity."""
    mapping: dict[str, Identity] = {}
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, Mapping) and entry.get("slackUser") and entry.get("username"):
            mapping[str(entry["slackUser"])] = Identity(
                username=str(entry["username"]), groups=frozenset(entry.get("groups") or ())
            )
    return mapping


def review_refusal(request: Request, state: State, reviewer: Identity, policy: Policy | None, *,
                   already_reviewed: bool, by_rule: bool = False) -> str | None:
    """Why ``reviewer`` may not review ``request`` (in ``state``) now, in one line; None when they may.
    The same for an annotation, an AccessReview, a Slack click and a rule (which the policy itself makes,
    so its reviewer need not be one of the policy's)."""
    if state is not State.Pending:
        return f"AccessRequest {request.name} is {state}; reviews are accepted only while it is {State.Pending}"
    if already_reviewed:
        return f"{reviewer.username} has already reviewed AccessRequest {request.name}"
    if by_rule:
        return None
    return "; ".join(review_errors(policy, request, reviewer)) or None


def revoke_refusal(name: str, state: State, *, may_revoke: bool, caller: str) -> str | None:
    """Why ``caller`` may not revoke request ``name`` (in ``state``); None when they may. ``may_revoke``:
    they are its requester or submitter, or RBAC grants them the ``revoke`` verb on it."""
    if state in TERMINAL:
        return f"AccessRequest {name} is already {state}"
    if not may_revoke:
        return f"{caller} may not revoke AccessRequest {name}: only its requester or an administrator may"
    return None


def own_request(caller: str, requester: str | None, submitter: str | None) -> bool:
    """Whether ``caller`` asked for the request or filed it (a pipeline withdraws what it filed)."""
    return bool(caller) and caller in (requester, submitter)


def replaced_identity_warning(field: str, written: object, stamped: Mapping | None) -> str | None:
    """The admission warning for a client-written identity in ``field`` (spec.requester, spec.submitter,
    spec.reviewer) that admission replaced with ``stamped`` (None: removed); None when the client wrote none
    or wrote exactly what is recorded."""
    if written is None or written == stamped:
        return None
    who = written.get("username") if isinstance(written, Mapping) else None
    said = f"{who!r}" if isinstance(who, str) and who else "what the client wrote"
    kept = (stamped or {}).get("username")
    if not kept:
        return f"{field} is set by admission, not by clients: {said} was removed"
    if who == kept:
        said = f"what was written for {who!r}"
    return (f"{field} is set by admission, not by clients: {said} was replaced by {kept!r}, "
            "as the API server authenticated")


def restored_warning(what: str, keys: Collection[str]) -> str | None:
    """The admission warning for ``keys`` that admission put back as they were stored (or dropped, when new):
    ``what`` says whose they are, e.g. "review ledger annotations"."""
    if not keys:
        return None
    listed = ", ".join(sorted(keys))
    return f"{what} are written only by admission; the change to {listed} was undone"
