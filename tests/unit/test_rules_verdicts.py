"""Which rule decides, when rules are due, and the rule review's name and spec."""

from __future__ import annotations

import itertools
import re

import pytest

from gatepass.core.lifecycle import State
from gatepass.core.reconcile import decide
from gatepass.core.types import RULES_REVIEWER, Identity, Rule
from gatepass.rules import Failure, Verdict, choose, due, review_name, review_spec

from .core_factories import BOB, approve, at, dba_policy, dba_request, deny, person, two_leads_policy

RESULTS = (True, False, "boom")  # holds, does not hold, fails


def rules_for(decisions: tuple[str, ...]) -> tuple[Rule, ...]:
    return tuple(Rule(f"r{i}", decision, f"expression {i}") for i, decision in enumerate(decisions))


def expected(rules: tuple[Rule, ...], results: dict[str, object]) -> tuple[Rule | None, Rule | None]:
    """(deciding rule, withheld Approve rule), straight from the documented semantics."""
    denies = [r for r in rules if r.decision == "Deny"]
    approves = [r for r in rules if r.decision == "Approve"]
    first_deny = next((r for r in denies if results[r.name] is True), None)
    if first_deny is not None:
        return first_deny, None
    first_approve = next((r for r in approves if results[r.name] is True), None)
    if any(results[r.name] == "boom" for r in denies):
        return None, first_approve
    return first_approve, None


CASES = [
    (decisions, outcome)
    for n in range(0, 4)
    for decisions in itertools.product(("Approve", "Deny"), repeat=n)
    for outcome in itertools.product(RESULTS, repeat=n)
]


@pytest.mark.parametrize("decisions, outcome", CASES,
                         ids=[",".join(f"{d}={o}" for d, o in zip(*case)) or "none" for case in CASES])
def test_choose_over_every_combination(decisions, outcome):
    rules = rules_for(decisions)
    results = {rule.name: result for rule, result in zip(rules, outcome)}
    calls: list[str] = []

    def holds(rule: Rule):
        calls.append(rule.name)
        return results[rule.name]

    verdict = choose(rules, holds)
    rule, withheld = expected(rules, results)
    assert (verdict.rule, verdict.withheld) == (rule, withheld)
    # Each rule is evaluated at most once, Deny rules before Approve rules, and nothing after the deciding one.
    assert len(calls) == len(set(calls))
    order = [r.name for r in rules if r.decision == "Deny"] + [r.name for r in rules if r.decision == "Approve"]
    assert calls == order[:len(calls)]
    decided_by = verdict.rule or verdict.withheld
    if decided_by is not None:
        assert calls[-1] == decided_by.name
    else:
        assert calls == order
    by_name = {r.name: r for r in rules}
    assert verdict.failures == tuple(Failure(by_name[name], "boom") for name in calls if results[name] == "boom")


def test_a_deny_rule_wins_over_an_earlier_approve_rule():
    rules = (Rule("short", "Approve", "a"), Rule("no-prod", "Deny", "d"))
    assert choose(rules, lambda rule: True) == Verdict(rules[1])


def test_no_rules_decide_nothing():
    assert choose((), lambda rule: True) == Verdict()


# ---------------------------------------------------------------------- due
RULES = (Rule("short", "Approve", "true"),)
RULE_REVIEW = approve(Identity(RULES_REVIEWER), at(5), via="Rule", review="bob-dba-rule")


def is_due(policy=None, reviews=(), state=State.Pending, revoked=False, now=None, **request):
    policy = policy or dba_policy(rules=RULES)
    return due(dba_request(**request), policy, reviews, state=state, revoked=revoked, now=now or at(10))


def test_rules_are_due_for_a_pending_request():
    assert is_due()
    assert is_due(reviews=[deny("alice", at(5))], policy=dba_policy(rules=RULES, denials=2))
    assert is_due(reviews=[approve("alice", at(5))], policy=two_leads_policy(rules=RULES))


@pytest.mark.parametrize("why, kwargs", [
    ("no rules", dict(policy=dba_policy())),
    ("approved", dict(state=State.Approved)),
    ("denied", dict(state=State.Denied)),
    ("expired", dict(state=State.Expired)),
    ("revoked", dict(revoked=True)),
    ("a rule review exists", dict(reviews=[RULE_REVIEW])),
    ("a rule review by someone else exists", dict(reviews=[approve("mallory", at(5), via="Rule")])),
    ("past the review deadline", dict(now=at(hours=1))),
    ("already approved by the reviewers", dict(reviews=[approve("alice", at(5))])),
    ("already denied by the reviewers", dict(reviews=[deny("alice", at(5))])),
])
def test_rules_are_not_due(why, kwargs):
    assert not is_due(**kwargs), why


# ------------------------------------------------------------------ the review
def test_the_review_is_named_after_the_request():
    assert review_name("bob-dba") == "bob-dba-rule"
    assert review_name("a" * 248) == "a" * 248 + "-rule"


@pytest.mark.parametrize("request_name", ["a" * 249, "a" * 253, "a" * 240 + "." + "b" * 12, "x-" * 126 + "y"])
def test_a_long_request_name_is_shortened_with_a_hash(request_name):
    name = review_name(request_name)
    assert len(name) <= 253 and name.endswith("-rule")
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name)
    assert name == review_name(request_name)
    assert name != review_name(request_name[:-1] + "z")


def test_the_review_spec_names_the_rule():
    rule = Rule("short-oncall", "Approve", "true", "on call, short")
    assert review_spec("bob-dba", rule) == {"request": "bob-dba", "decision": "Approve",
                                            "reason": "rule short-oncall: on call, short", "rule": "short-oncall"}
    assert review_spec("bob-dba", Rule("no-prod", "Deny", "true"))["reason"] == "rule no-prod"
    assert len(review_spec("r", Rule("long", "Deny", "true", "x" * 4096))["reason"]) == 4096


# --------------------------------------------------- the core, with a rule review
@pytest.mark.parametrize("decision, state, condition", [
    ("Approve", "Approved", "Approved by gatepass:rules"),
    ("Deny", "Denied", "Denied by gatepass:rules"),
])
def test_a_rule_review_decides_the_request(decision, state, condition):
    review = approve if decision == "Approve" else deny
    rule_review = review(Identity(RULES_REVIEWER), at(1), "rule r: why", via="Rule", review="bob-dba-rule",
                         submitter="system:serviceaccount:gatepass-system:gatepass-operator")
    plan = decide(dba_request(requester=BOB), two_leads_policy(rules=RULES), [rule_review], None, None, [], at(2))
    assert plan.state.value == state
    [record] = plan.status["reviews"]
    assert (record["reviewer"], record["via"], record["review"], record["decision"]) == (
        RULES_REVIEWER, "Rule", "bob-dba-rule", decision)
    assert any(c["type"] == state and c["status"] == "True" and c["message"] == condition
               for c in plan.conditions)
    if decision == "Approve":
        assert plan.bindings_to_apply and plan.status["expiresAt"] == "2026-03-01T11:00:02Z"
    assert any(e.reason == "Reviewed" and "by policy rule" in e.message for e in plan.events)


def test_a_human_named_like_the_system_reviewer_decides_nothing():
    impostor = approve(person(RULES_REVIEWER, "dba-leads"), at(1))
    assert decide(dba_request(), dba_policy(), [impostor], None, None, [], at(2)).state.value == "Pending"
