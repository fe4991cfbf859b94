"""Counting reviews against a policy: who counts, and is the request decided.

Rules, in the order they are applied:
  1. reviews are taken in time order (ties broken by source, then name, then reviewer);
  2. a review made at or after `deadline` (the request's requestExpiresAt) is ignored;
  3. a review by the requester, or by whoever filed the request on their behalf
     (its submitter), is ignored (nobody approves access they asked for);
  4. a review by the system reviewer gatepass:rules counts only when a policy rule
     made it (via "Rule"); a rule review is not subject to rule 5, since no policy
     lists gatepass:rules among its reviewers;
  5. a review by someone who is not a reviewer of the policy is ignored;
  6. of the remaining reviews, each reviewer's first one counts and later ones are
     ignored: a reviewer cannot change their mind. (An ignored review does not use
     up the reviewer's turn, so a review made before someone became a reviewer
     does not block their later one.) For gatepass:rules this means one rule
     review per request. Whether a reviewer has reviewed is has_reviewed, which
     admission asks too.
Then: a counted rule review decides outright (Deny: Denied, Approve: Approved),
whatever the other reviews say; else Denied when the counted denials reach
policy.denials (checked first), else Approved when every threshold is met, else
Pending. A rule review counts as an approval or a denial in the totals, but not
toward thresholds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from .lifecycle import State
from .timestamps import format_time
from .types import RULES_REVIEWER, Identity, Policy, Review, Via


class Outcome(enum.StrEnum):
    """What the reviews decide: the request's state the tally leads to."""

    Pending = State.Pending.value
    Approved = State.Approved.value
    Denied = State.Denied.value


@dataclass(frozen=True)
class ThresholdCount:
    name: str
    approvals: int  # counted approvals that qualify for this threshold
    required: int
    approvers: tuple[str, ...] = ()  # who gave them, in review order

    @property
    def met(self) -> bool:
        return self.approvals >= self.required


@dataclass(frozen=True)
class IgnoredReview:
    review: Review
    reason: str


@dataclass(frozen=True)
class Tally:
    outcome: Outcome
    approvals: int
    denials: int
    denials_required: int
    thresholds: tuple[ThresholdCount, ...]
    counted: tuple[Review, ...]
    ignored: tuple[IgnoredReview, ...]
    rule: Review | None = None  # the counted rule review, which decided the outcome

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(r.reviewer.username for r in self.counted if r.decision == "Approve")

    @property
    def deniers(self) -> tuple[str, ...]:
        return tuple(r.reviewer.username for r in self.counted if r.decision == "Deny")

    def approvals_summary(self) -> str:
        """'leads: 1 of 2 approvals; ops: 0 of 1 approvals'."""
        return "; ".join(f"{t.name}: {t.approvals} of {t.required} approvals" for t in self.thresholds)

    def denials_summary(self) -> str:
        """'0 of 1 denials'."""
        return f"{self.denials} of {self.denials_required} denials"


def is_rule_review(review: Review) -> bool:
    """Made by a policy rule: via "Rule", by the system reviewer gatepass:rules."""
    return review.via is Via.RULE and review.reviewer.username == RULES_REVIEWER


def review_order(review: Review) -> tuple:
    return (review.time, review.via, review.review, review.reviewer.username)


def has_reviewed(username: str, reviews: Iterable[Review]) -> bool:
    """Whether ``username`` has a review among ``reviews``: the one answer to "has this reviewer already
    reviewed?". The tally asks it of the reviews it has counted so far (rule 6); admission asks it of every
    review recorded for the request (the ledger and the AccessReviews made for it) and refuses another."""
    return any(review.reviewer.username == username for review in reviews)


def _ignored_because(review: Review, policy: Policy, requester: Identity, submitter: Identity | None,
                     deadline: datetime | None, counted: Iterable[Review]) -> str | None:
    """Why `review` is not counted (rules 2 to 6), or None when it counts."""
    name = review.reviewer.username
    by_rule = is_rule_review(review)
    if deadline is not None and review.time >= deadline:
        return f"made after the request timed out at {format_time(deadline)}"
    if name == requester.username:
        return f"{name} may not review own request"
    if submitter is not None and name == submitter.username:
        return f"{name} may not review a request it filed"
    if name == RULES_REVIEWER and not by_rule:
        return f"{name} reviews only through policy rules"
    if not by_rule and not policy.reviewers.contains(review.reviewer):
        return f"{name} is not a reviewer under policy {policy.name}"
    if has_reviewed(name, counted):
        return f"only the first review by {name} counts"
    return None


def _outcome(policy: Policy, rule: Review | None, denials: int, thresholds: Iterable[ThresholdCount]) -> Outcome:
    if rule is not None:
        return Outcome.Denied if rule.decision == "Deny" else Outcome.Approved
    if denials >= policy.denials:
        return Outcome.Denied
    if all(t.met for t in thresholds):
        return Outcome.Approved
    return Outcome.Pending


def _threshold_count(threshold, approving: list[Review]) -> ThresholdCount:
    """How many of the counted approvals (a rule's aside) qualify for ``threshold``, and whose they are."""
    qualifying = tuple(r.reviewer.username for r in approving if threshold.counts(r.reviewer))
    return ThresholdCount(threshold.name, len(qualifying), threshold.approvals, qualifying)


def tally(
    policy: Policy,
    requester: Identity,
    reviews: Iterable[Review],
    *,
    deadline: datetime | None = None,
    submitter: Identity | None = None,
) -> Tally:
    """Count `reviews` of `requester`'s request (filed by `submitter`, if not by the requester) under `policy`."""
    counted: list[Review] = []
    ignored: list[IgnoredReview] = []
    for review in sorted(reviews, key=review_order):
        reason = _ignored_because(review, policy, requester, submitter, deadline, counted)
        if reason is None:
            counted.append(review)
        else:
            ignored.append(IgnoredReview(review, reason))

    rule = next((r for r in counted if is_rule_review(r)), None)
    approving = [r for r in counted if r.decision == "Approve"]
    denials = len(counted) - len(approving)
    thresholds = tuple(_threshold_count(t, [r for r in approving if r is not rule]) for t in policy.effective_thresholds)
    return Tally(
        outcome=_outcome(policy, rule, denials, thresholds),
        approvals=len(approving),
        denials=denials,
        denials_required=policy.denials,
        thresholds=thresholds,
        counted=tuple(counted),
        ignored=tuple(ignored),
        rule=rule,
    )
