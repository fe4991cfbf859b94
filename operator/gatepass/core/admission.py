"""Who an AccessReview speaks for: the caller, or — only when the operator itself submits it — a
policy rule's system reviewer or the Kubernetes user a Slack user is mapped to.

The admission webhook calls these with what the API server authenticated; the
answer is either the identities to record or one line saying why the review is
refused. Nothing here reads the cluster.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .types import RULES_REVIEWER, Identity


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
