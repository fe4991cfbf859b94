"""Counting reviews: who counts, thresholds, denials first, one review per reviewer."""

from __future__ import annotations

import pytest

from gatepass.core.tally import Outcome, tally
from gatepass.core.types import RULES_REVIEWER, Identity, Subjects, Threshold

from .core_factories import BOB, approve, at, dba_policy, deny, person, two_leads_policy

ALICE = person("alice")
IVAN = person("ivan")
LEAD1 = person("lena", "dba-leads")
LEAD2 = person("luis", "dba-leads")


def test_no_reviews_is_pending_with_the_default_threshold():
    result = tally(dba_policy(), BOB, [])
    assert result.outcome is Outcome.Pending
    assert (result.approvals, result.denials) == (0, 0)
    assert [(t.name, t.approvals, t.required, t.met) for t in result.thresholds] == [("default", 0, 1, False)]
    assert result.counted == () and result.ignored == ()
    assert result.approvals_summary() == "default: 0 of 1 approvals"
    assert result.denials_summary() == "0 of 1 denials"


def test_one_approval_from_any_reviewer_approves_without_thresholds():
    result = tally(dba_policy(), BOB, [approve(ALICE, at(10))])
    assert result.outcome is Outcome.Approved
    assert result.approvals == 1
    assert result.approvers == ("alice",)


def test_a_reviewer_by_group_counts():
    assert tally(dba_policy(), BOB, [approve(LEAD1, at(10))]).outcome is Outcome.Approved


def test_one_denial_denies_by_default():
    result = tally(dba_policy(), BOB, [deny(ALICE, at(10))])
    assert result.outcome is Outcome.Denied
    assert result.deniers == ("alice",)
    assert result.denials_summary() == "1 of 1 denials"


def test_denials_are_checked_before_approvals():
    policy = dba_policy(denials=1)
    result = tally(policy, BOB, [approve(ALICE, at(10)), deny(IVAN, at(20))])
    assert result.outcome is Outcome.Denied
    assert (result.approvals, result.denials) == (1, 1)


def test_more_denials_needed_when_the_policy_says_so():
    policy = dba_policy(denials=2, thresholds=(Threshold("many", 3),))
    one = tally(policy, BOB, [deny(ALICE, at(10))])
    assert one.outcome is Outcome.Pending
    two = tally(policy, BOB, [deny(ALICE, at(10)), deny(IVAN, at(20))])
    assert two.outcome is Outcome.Denied


def test_self_review_is_ignored():
    bob_as_reviewer = person("bob", "dba-leads")
    result = tally(dba_policy(), BOB, [approve(bob_as_reviewer, at(10))])
    assert result.outcome is Outcome.Pending
    assert result.counted == ()
    assert [i.reason for i in result.ignored] == ["bob may not review own request"]


def test_self_denial_is_ignored_too():
    result = tally(dba_policy(), BOB, [deny(person("bob", "dba-leads"), at(10))])
    assert result.outcome is Outcome.Pending
    assert result.denials == 0


def test_the_submitter_of_a_request_filed_for_someone_else_does_not_count():
    pipeline = person("ci-bot", "dba-leads")  # even a reviewer of the policy, by group
    result = tally(dba_policy(), BOB, [approve(pipeline, at(10))], submitter=pipeline)
    assert result.outcome is Outcome.Pending and result.counted == ()
    assert [i.reason for i in result.ignored] == ["ci-bot may not review a request it filed"]
    assert tally(dba_policy(), BOB, [approve(pipeline, at(10))]).outcome is Outcome.Approved


def test_non_reviewers_are_ignored():
    result = tally(dba_policy(), BOB, [approve("carol", at(10)), deny("mallory", at(11))])
    assert result.outcome is Outcome.Pending
    assert [i.reason for i in result.ignored] == [
        "carol is not a reviewer under policy demo-dba",
        "mallory is not a reviewer under policy demo-dba",
    ]


def test_only_the_first_review_of_a_reviewer_counts_by_time():
    # given out of order: the earlier denial is the one that counts
    reviews = [approve(ALICE, at(20)), deny(ALICE, at(10))]
    result = tally(dba_policy(denials=2, thresholds=(Threshold("two", 2),)), BOB, reviews)
    assert [r.decision for r in result.counted] == ["Deny"]
    assert [(i.review.decision, i.reason) for i in result.ignored] == [
        ("Approve", "only the first review by alice counts")]
    assert (result.approvals, result.denials) == (0, 1)


def test_a_reviewer_cannot_approve_twice_to_meet_a_threshold():
    policy = dba_policy(thresholds=(Threshold("two", 2),))
    result = tally(policy, BOB, [approve(ALICE, at(10)), approve(ALICE, at(20), via="AccessReview", review="r2")])
    assert result.outcome is Outcome.Pending
    assert result.approvals == 1


def test_an_ignored_review_does_not_use_up_the_reviewers_turn():
    # carol was not a reviewer when she first reviewed; later she is (via a group)
    carol_before = person("carol")
    carol_after = person("carol", "dba-leads")
    result = tally(dba_policy(), BOB, [approve(carol_before, at(10)), approve(carol_after, at(20))])
    assert result.outcome is Outcome.Approved
    assert result.counted[0].time == at(20)


def test_threshold_from_counts_only_those_reviewers():
    policy = two_leads_policy()
    partial = tally(policy, BOB, [approve(ALICE, at(1)), approve(LEAD1, at(2))])
    assert partial.outcome is Outcome.Pending
    assert partial.approvals == 2  # alice counts as a reviewer, not toward "leads"
    assert [(t.name, t.approvals, t.required) for t in partial.thresholds] == [("leads", 1, 2)]
    assert partial.thresholds[0].approvers == (LEAD1.username,)  # whose approvals qualify, not alice's
    assert partial.approvals_summary() == "leads: 1 of 2 approvals"
    done = tally(policy, BOB, [approve(ALICE, at(1)), approve(LEAD2, at(3)), approve(LEAD1, at(2))])
    assert done.outcome is Outcome.Approved
    assert done.thresholds[0].approvers == (LEAD1.username, LEAD2.username)  # in review order


def test_threshold_from_people_who_are_not_reviewers_never_counts_them():
    policy = dba_policy(thresholds=(Threshold("outsiders", 1, Subjects.of(users=["carol"])),))
    result = tally(policy, BOB, [approve("carol", at(1)), approve(ALICE, at(2))])
    assert result.outcome is Outcome.Pending
    assert result.thresholds[0].approvals == 0


def test_every_threshold_must_be_met():
    policy = dba_policy(thresholds=(
        Threshold("leads", 1, Subjects.of(groups=["dba-leads"])),
        Threshold("alice", 1, Subjects.of(users=["alice"])),
    ))
    assert tally(policy, BOB, [approve(LEAD1, at(1))]).outcome is Outcome.Pending
    assert tally(policy, BOB, [approve(ALICE, at(1))]).outcome is Outcome.Pending
    both = tally(policy, BOB, [approve(LEAD1, at(1)), approve(ALICE, at(2))])
    assert both.outcome is Outcome.Approved
    assert both.approvals_summary() == "leads: 1 of 1 approvals; alice: 1 of 1 approvals"


def test_one_approval_may_count_toward_several_thresholds():
    policy = dba_policy(thresholds=(
        Threshold("leads", 1, Subjects.of(groups=["dba-leads"])),
        Threshold("any", 1),
    ))
    assert tally(policy, BOB, [approve(LEAD1, at(1))]).outcome is Outcome.Approved


def test_denials_do_not_count_toward_thresholds():
    policy = dba_policy(denials=3, thresholds=(Threshold("two", 2),))
    result = tally(policy, BOB, [deny(ALICE, at(1)), approve(IVAN, at(2))])
    assert result.thresholds[0].approvals == 1
    assert result.outcome is Outcome.Pending


def test_reviews_at_or_after_the_deadline_are_ignored():
    result = tally(dba_policy(), BOB, [approve(ALICE, at(60)), approve(IVAN, at(59))], deadline=at(60))
    assert [r.reviewer.username for r in result.counted] == ["ivan"]
    assert result.ignored[0].reason == "made after the request timed out at 2026-03-01T10:01:00Z"
    late_only = tally(dba_policy(), BOB, [approve(ALICE, at(60))], deadline=at(60))
    assert late_only.outcome is Outcome.Pending


def test_order_is_deterministic_for_reviews_at_the_same_time():
    a = approve(ALICE, at(5), via="annotation")
    b = deny(ALICE, at(5), via="AccessReview", review="r1")
    for reviews in ([a, b], [b, a]):
        result = tally(dba_policy(denials=2, thresholds=(Threshold("two", 2),)), BOB, reviews)
        assert result.counted == (b,)


def test_counted_reviews_are_in_time_order():
    reviews = [approve(IVAN, at(30)), approve(LEAD1, at(10)), approve(ALICE, at(20))]
    result = tally(dba_policy(thresholds=(Threshold("three", 3),)), BOB, reviews)
    assert [r.reviewer.username for r in result.counted] == ["lena", "alice", "ivan"]
    assert result.outcome is Outcome.Approved


def test_accepts_any_iterable_of_reviews():
    assert tally(dba_policy(), BOB, iter([approve(ALICE, at(1))])).outcome is Outcome.Approved


@pytest.mark.parametrize("approvals", [0, -1])
def test_a_threshold_of_no_approvals_is_refused(approvals):
    with pytest.raises(ValueError, match="at least 1"):
        Threshold("none", approvals)


def test_a_policy_denying_on_zero_denials_is_refused():
    with pytest.raises(ValueError, match="denials must be at least 1"):
        dba_policy(denials=0)


# ------------------------------------------------------------- rule reviews
RULES = Identity(RULES_REVIEWER)


def by_rule(decision: str, when, review: str = "bob-dba-rule"):
    make = approve if decision == "Approve" else deny
    return make(RULES, when, "rule r: why", via="Rule", review=review)


HUMANS = {
    "none": [],
    "one approval": [approve(LEAD1, at(1))],
    "thresholds met": [approve(LEAD1, at(1)), approve(LEAD2, at(2))],
    "one denial": [deny(LEAD1, at(1))],
    "denials reached": [deny(LEAD1, at(1)), deny(LEAD2, at(2))],
    "both": [approve(LEAD1, at(1)), deny(LEAD2, at(2)), deny(ALICE, at(3))],
}


@pytest.mark.parametrize("humans", HUMANS, ids=list(HUMANS))
@pytest.mark.parametrize("decision, outcome", [("Approve", Outcome.Approved), ("Deny", Outcome.Denied)])
@pytest.mark.parametrize("when", [0.5, 30], ids=["before the humans", "after the humans"])
def test_a_rule_review_decides_outright(humans, decision, outcome, when):
    """gatepass:rules is no reviewer of the policy, yet its review counts and decides,
    whatever the humans said and whatever the thresholds and denials need."""
    policy = two_leads_policy(denials=2)
    result = tally(policy, BOB, HUMANS[humans] + [by_rule(decision, at(when))])
    assert result.outcome is outcome
    assert result.rule is not None and result.rule.decision == decision
    assert RULES_REVIEWER in (result.approvers if decision == "Approve" else result.deniers)


def test_a_rule_review_counts_in_the_totals_but_not_toward_thresholds():
    result = tally(two_leads_policy(), BOB, [approve(LEAD1, at(1)), by_rule("Approve", at(2))])
    assert (result.approvals, result.denials) == (2, 0)
    assert result.approvals_summary() == "leads: 1 of 2 approvals"
    assert result.approvers == ("lena", RULES_REVIEWER)


def test_only_the_first_rule_review_counts():
    result = tally(dba_policy(), BOB, [by_rule("Deny", at(2)), by_rule("Approve", at(1), review="other")])
    assert result.outcome is Outcome.Approved
    assert [(i.review.decision, i.reason) for i in result.ignored] == [
        ("Deny", f"only the first review by {RULES_REVIEWER} counts")]


def test_a_rule_review_after_the_deadline_is_ignored():
    result = tally(dba_policy(), BOB, [by_rule("Approve", at(60))], deadline=at(60))
    assert result.outcome is Outcome.Pending and result.rule is None
    assert result.ignored[0].reason.startswith("made after the request timed out")


def test_nobody_else_reviews_as_the_system_reviewer():
    """A user who happens to be called gatepass:rules, even a reviewer, is not a rule."""
    impostor = person(RULES_REVIEWER, "dba-leads")
    result = tally(dba_policy(), BOB, [approve(impostor, at(1)), approve(impostor, at(2), via="AccessReview")])
    assert result.outcome is Outcome.Pending and result.counted == ()
    assert {i.reason for i in result.ignored} == {f"{RULES_REVIEWER} reviews only through policy rules"}


def test_a_rule_review_recorded_for_someone_else_is_an_ordinary_review():
    result = tally(dba_policy(), BOB, [approve("mallory", at(1), via="Rule"), deny(LEAD1, at(2), via="Rule")])
    assert result.rule is None
    assert [i.reason for i in result.ignored] == ["mallory is not a reviewer under policy demo-dba"]
    assert result.outcome is Outcome.Denied  # lena's own denial, counted as hers
