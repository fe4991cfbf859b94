"""Audit events: what happened to a request, in the past tense, naming who and what.

The handlers publish these as Kubernetes Events on the AccessRequest
(`reason` is the Event's reason, `type` Normal or Warning), and the core
records each in the request's status.history (gatepass.core.reconcile), which
whoever may read the request can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from .conditions import BLOCKED_REASONS
from .durations import format_duration
from .grants import BindBlock, BindingRef
from .policy import POLICY_WITHDRAWAL
from .tally import Tally
from .timestamps import format_time
from .types import Request, Review, Revocation, Via


@dataclass(frozen=True)
class AuditEvent:
    # Reviewed, Approved, Denied, Granted, Expired, Revoked, Restored, Removed,
    # or why an approved grant is not bound (conditions.BLOCKED_REASONS)
    reason: str
    message: str
    type: str = "Normal"  # Normal | Warning
    # For a change that happens at most once in a request's life (its approval, its grant, each reviewer's
    # review...): what names that occurrence. The Event is named from it, so posting it again after a crash
    # finds the one already posted instead of adding a second. Empty for what may recur (Restored, Removed).
    once: str = ""
    # Who did it, when a person (or the policy) did: the reviewer, whoever revoked. Empty: the operator did,
    # as the outcome of what the message names.
    by: str = ""


def access(request: Request) -> str:
    """'dba in payments', 'dba, reader in payments, billing', 'view cluster-wide', and each resource rule
    as it describes itself: 'get pods/log db-1 in payments', 'dba in payments and get pods/log db-1 in
    payments'."""
    said = [ask.describe() for ask in request.resources]
    if request.roles:
        roles = ", ".join(request.roles)
        said.insert(0, f"{roles} in {', '.join(request.namespaces)}" if request.namespaces
                    else f"{roles} cluster-wide")
    return " and ".join(said)


def _whose(request: Request) -> str:
    return f"{request.requester.username}'s"


def _filed(request: Request) -> str:
    """' (filed by ci on bob's behalf)' for a request a trusted submitter filed, else ''."""
    if request.submitter is None:
        return ""
    return f" (filed by {request.submitter.username} on {request.requester.username}'s behalf)"


def _deleted(refs: Iterable[BindingRef]) -> str:
    refs = list(refs)
    return f"; deleted {', '.join(str(ref) for ref in refs)}" if refs else ""


def requested(request: Request) -> AuditEvent:
    """The request was made: the first entry of its history (not an Event: the API server records the
    creation itself)."""
    duration = format_duration(request.duration)
    said = f': "{request.reason}"' if request.reason else ""
    return AuditEvent("Requested", f"{request.requester.username} requested {access(request)} "
                                   f"for {duration}{_filed(request)}{said}", once="Requested",
                      by=request.submitter.username if request.submitter else request.requester.username)


def reviewed(request: Request, review: Review) -> AuditEvent:
    verb = "approved" if review.decision == "Approve" else "denied"
    if review.via is Via.SLACK:
        via = f"via Slack, AccessReview {review.review} submitted by {review.submitter or 'the operator'}"
    elif review.via is Via.RULE:
        via = f"by policy rule, AccessReview {review.review}"
    elif review.review:
        via = f"via AccessReview {review.review}"
    else:
        via = f"via {review.via}"
    said = f': "{review.reason}"' if review.reason else ""
    return AuditEvent("Reviewed", f"{review.reviewer.username} {verb} {_whose(request)} request "
                                  f"for {access(request)} ({via}){said}",
                       once=f"Reviewed/{review.reviewer.username}", by=review.reviewer.username)


def approved(request: Request, tally: Tally) -> AuditEvent:
    return AuditEvent("Approved", f"Approved {_whose(request)} request for {access(request)} "
                                  f"(approvals: {', '.join(tally.approvers)}){_filed(request)}", once="Approved")


def denied_by_reviewers(request: Request, tally: Tally) -> AuditEvent:
    return AuditEvent("Denied", f"Denied {_whose(request)} request for {access(request)} "
                                f"(denials: {', '.join(tally.deniers)})", once="Denied")


def denied_without_policy(request: Request, errors: list[str]) -> AuditEvent:
    why = f" ({'; '.join(errors)})" if errors else ""
    return AuditEvent("Denied", f"Denied {_whose(request)} request for {access(request)}: "
                                f"no AccessPolicy allows it any more{why}", "Warning", once="Denied")


def granted(request: Request, expires_at: datetime) -> AuditEvent:
    return AuditEvent("Granted", f"Granted {access(request)} to {request.requester.username} "
                                 f"until {format_time(expires_at)}{_filed(request)}", once="Granted")


def access_expired(request: Request, expires_at: datetime, deleted: Iterable[BindingRef]) -> AuditEvent:
    return AuditEvent("Expired", f"Expired {_whose(request)} access to {access(request)} "
                                 f"at {format_time(expires_at)}{_deleted(deleted)}", once="Expired")


def request_timed_out(request: Request, deadline: datetime) -> AuditEvent:
    return AuditEvent("Expired", f"Expired {_whose(request)} request for {access(request)}: "
                                 f"no decision before {format_time(deadline)}", once="Expired")


def revoked(request: Request, revocation: Revocation, was_approved: bool,
            deleted: Iterable[BindingRef]) -> AuditEvent:
    what = "access to" if was_approved else "request for"
    said = f': "{revocation.reason}"' if revocation.reason else ""
    return AuditEvent("Revoked", f"{revocation.by} revoked {_whose(request)} {what} "
                                 f"{access(request)}{said}{_deleted(deleted)}", once="Revoked",
                       by=revocation.by)


def withdrawn(request: Request, why: str, was_live: bool, deleted: Iterable[BindingRef]) -> AuditEvent:
    """The policy of an approved grant withdrew it (core.policy.withdrawal): live access ended, or
    access that had not started never will."""
    what = "access to" if was_live else "approved request for"
    before = "" if was_live else " before it started"
    return AuditEvent("Revoked", f"Withdrew {_whose(request)} {what} {access(request)}{before}: "
                                 f"{why}{_deleted(deleted)}", "Warning", once="Revoked", by=POLICY_WITHDRAWAL)


def restored(ref: BindingRef, user: str, changes: list[str]) -> AuditEvent:
    if not changes:
        return AuditEvent("Restored", f"Recreated {ref} for {user}: it had been deleted", "Warning")
    return AuditEvent("Restored", f"Re-applied {ref} for {user}: its {', '.join(changes)} "
                                  "had been changed", "Warning")


def removed(ref: BindingRef, why: str) -> AuditEvent:
    return AuditEvent("Removed", f"Deleted {ref}: {why}", "Warning")


def not_granted(request: Request, blocks: Iterable[BindBlock]) -> tuple[AuditEvent, ...]:
    """One Warning per cause (reason) keeping the grant's bindings from being made, in the order of
    conditions.BLOCKED_REASONS, each naming what is missing or forbidden."""
    messages: dict[str, dict[str, None]] = {reason: {} for reason in BLOCKED_REASONS}
    for block in blocks:
        messages[block.reason].setdefault(block.message, None)
    return tuple(
        AuditEvent(reason, f"Could not grant {access(request)} to {request.requester.username}: "
                           f"{'; '.join(found)}; nothing is bound until it can be", "Warning")
        for reason, found in messages.items() if found
    )
