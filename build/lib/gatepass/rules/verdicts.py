"""Which rule decides a request, whether it is time to ask, and the review a rule makes. No CEL here.

Rules are applied in two passes over the policy's list: first the Deny rules,
in order, and the first that holds denies; then the Approve rules, in order,
and the first that holds approves. A rule whose expression fails (an error at
run time, or a value that is not a bool) does not hold and is reported. While
a Deny rule fails, no Approve rule is applied: the approval that a broken
Deny rule might have stopped is left to the human reviewers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gatepass.core.lifecycle import State
from gatepass.core.tally import Outcome, tally
from gatepass.core.timestamps import floor_second
from gatepass.core.types import MAX_REASON_LENGTH, Policy, Request, Review, Rule

MAX_NAME = 253  # an object name (DNS subdomain)
SUFFIX = "-rule"


@dataclass(frozen=True)
class Failure:
    """A rule whose expression gave no bool, and why."""

    rule: Rule
    error: str


@dataclass(frozen=True)
class Verdict:
    """What a policy's rules say about a request."""

    rule: Rule | None = None  # the rule that decides it; None: no rule does
    failures: tuple[Failure, ...] = ()
    withheld: Rule | None = None  # an Approve rule that held but was not applied, because a Deny rule failed


def choose(rules: Iterable[Rule], holds: Callable[[Rule], bool | str]) -> Verdict:
    """The deciding rule. `holds(rule)` is True, False or why the rule's expression gave
    neither; it is called at most once per rule, and not for rules after the deciding one."""
    steps = choosing(rules)
    try:
        rule = next(steps)
        while True:
            rule = steps.send(holds(rule))
    except StopIteration as done:
        return done.value


def choosing(rules: Iterable[Rule]) -> Generator[Rule, bool | str, Verdict]:
    """choose() for callers that evaluate the rules their own way (in a worker thread, awaiting it):
    it yields the rule to evaluate next, is sent what that rule gave (True, False or why neither),
    and returns the verdict."""
    rules = tuple(rules)
    failures: list[Failure] = []
    for decision in ("Deny", "Approve"):
        for rule in (r for r in rules if r.decision == decision):
            result = yield rule
            if isinstance(result, str):
                failures.append(Failure(rule, result))
            elif result is True:
                if decision == "Approve" and any(f.rule.decision == "Deny" for f in failures):
                    return Verdict(None, tuple(failures), withheld=rule)
                return Verdict(rule, tuple(failures))
    return Verdict(None, tuple(failures))


def is_rule_review(review: Review) -> bool:
    """Any review made for a rule (spec.rule set), whoever it is recorded as."""
    return review.via == "Rule"


def due(request: Request, policy: Policy, reviews: Iterable[Review], *, state: State, revoked: bool,
        now: datetime) -> bool:
    """Whether `policy`'s rules are to be evaluated for `request` now: it has rules, the request is
    Pending and not withdrawn, has no rule review yet, is not past its review deadline, and the
    reviews so far have not decided it."""
    reviews = tuple(reviews)
    if not policy.rules or state is not State.Pending or revoked:
        return False
    if any(is_rule_review(review) for review in reviews):
        return False
    deadline = floor_second(request.created + policy.request_ttl)
    if now >= deadline:
        return False
    return tally(policy, request.requester, reviews, deadline=deadline).outcome is Outcome.Pending


def review_name(request: str) -> str:
    """The rule review's name for `request`: the same every time, so creating it twice
    fails the second time (AlreadyExists) instead of reviewing twice."""
    name = request + SUFFIX
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(request.encode()).hexdigest()[:10]
    keep = MAX_NAME - len(SUFFIX) - len(digest) - 1
    return f"{request[:keep].rstrip('.-')}-{digest}{SUFFIX}"


def review_spec(request: str, rule: Rule) -> dict[str, Any]:
    """The spec of the AccessReview that records `rule`'s decision on `request`. The admission
    webhook fills in the reviewer (gatepass:rules) and the submitter (the operator)."""
    reason = f"rule {rule.name}: {rule.reason}" if rule.reason else f"rule {rule.name}"
    return {"request": request, "decision": rule.decision, "reason": reason[:MAX_REASON_LENGTH], "rule": rule.name}
