"""Admission's decisions: who a review counts for, and whether a review or a revocation may be made now."""

from __future__ import annotations

import pytest

from gatepass.core.admission import (Author, own_request, review_author, review_refusal, revoke_refusal,
                                     slack_mapping)
from gatepass.core.lifecycle import State
from gatepass.core.types import RULES_REVIEWER, Identity

from .core_factories import BOB, dba_policy, dba_request, person

OPERATOR = "system:serviceaccount:gatepass-system:gatepass-operator"
ME = Identity(OPERATOR, frozenset({"system:serviceaccounts"}))
ALICE = Identity("alice", frozenset({"dba-leads"}))
MAPPING = {"U0ALICE": ALICE}


def test_a_plain_review_is_the_callers():
    assert review_author(ALICE, OPERATOR) == Author(ALICE)
    # ...and so is one the operator makes without a rule or a Slack user
    assert review_author(ME, OPERATOR) == Author(ME)


@pytest.mark.parametrize("field", ["rule", "slack_user"])
def test_only_the_operator_may_speak_for_a_rule_or_a_slack_user(field):
    answer = review_author(ALICE, OPERATOR, **{field: "x"}, rules=["x"], slack_users={"x": ALICE})
    assert isinstance(answer, str)
    assert "only by the Gatepass operator, not by alice" in answer


def test_a_rule_review_is_the_system_reviewers_submitted_by_the_operator():
    answer = review_author(ME, OPERATOR, rule="short-oncall", rules=["short-oncall"], policy="p")
    assert answer == Author(Identity(RULES_REVIEWER), submitter=ME)


def test_a_rule_the_policy_does_not_have_is_refused():
    answer = review_author(ME, OPERATOR, rule="made-up", rules=["short-oncall"], policy="demo")
    assert answer == "AccessPolicy demo has no rule made-up"


def test_a_mapped_slack_user_reviews_as_the_mapped_identity():
    answer = review_author(ME, OPERATOR, slack_user="U0ALICE", slack_users=MAPPING, policy="demo")
    assert answer == Author(ALICE, submitter=ME)


@pytest.mark.parametrize("mapping", [MAPPING, {}, None])
def test_an_unmapped_slack_user_is_refused(mapping):
    answer = review_author(ME, OPERATOR, slack_user="U0MALLORY", slack_users=mapping, policy="demo")
    assert answer == "Slack user U0MALLORY is not mapped to a reviewer in AccessPolicy demo"


def test_a_review_cannot_claim_both_sources():
    answer = review_author(ME, OPERATOR, rule="r", slack_user="U0ALICE", rules=["r"], slack_users=MAPPING)
    assert answer == "an AccessReview cannot come from both a rule and Slack"


def test_slack_mapping_reads_the_policy_entries_and_skips_incomplete_ones():
    entries = [
        {"slackUser": "U0ALICE", "username": "alice", "groups": ["dba-leads"]},
        {"slackUser": "U0IVAN", "username": "ivan"},
        {"slackUser": "U0NOBODY"},
        "not a mapping",
    ]
    assert slack_mapping(entries) == {
        "U0ALICE": ALICE,
        "U0IVAN": Identity("ivan"),
    }
    assert slack_mapping(None) == {}


def test_nobody_reviews_as_the_rules_reviewer_but_a_rule():
    impostor = Identity(RULES_REVIEWER)
    assert review_author(impostor, OPERATOR) == "gatepass:rules reviews only through policy rules"
    answer = review_author(ME, OPERATOR, slack_user="U0X", slack_users={"U0X": impostor}, policy="demo")
    assert answer == "Slack user U0X is mapped to gatepass:rules, which reviews only through policy rules"


# -- may this review or revocation be made now ---------------------------------------------------------------

STATES = list(State)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("already", [False, True])
@pytest.mark.parametrize("by_rule", [False, True])
def test_a_review_is_taken_only_while_pending_and_once(state, already, by_rule):
    reviewer = Identity(RULES_REVIEWER) if by_rule else ALICE
    refusal = review_refusal(dba_request(), state, reviewer, dba_policy(), already_reviewed=already, by_rule=by_rule)
    if state is not State.Pending:
        assert refusal == f"AccessRequest bob-dba is {state.value}; reviews are accepted only while it is Pending"
    elif already:
        assert refusal == f"{reviewer.username} has already reviewed AccessRequest bob-dba"
    else:
        assert refusal is None


def test_a_pending_review_is_held_to_the_policy():
    policy, request = dba_policy(), dba_request()
    assert review_refusal(request, State.Pending, person("bob", "dba-leads"), policy, already_reviewed=False) == \
        "bob may not review own request"
    assert review_refusal(request, State.Pending, person("mallory"), policy, already_reviewed=False) == \
        "mallory is not a reviewer under policy demo-dba"
    assert review_refusal(request, State.Pending, person("ivan"), None, already_reviewed=False) == \
        "no AccessPolicy governs request bob-dba"
    # a rule is the policy's own decision: its reviewer need not be one of the policy's
    assert review_refusal(request, State.Pending, Identity(RULES_REVIEWER), policy, already_reviewed=False,
                          by_rule=True) is None


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("may", [False, True])
def test_a_revocation_needs_a_live_request_and_the_right(state, may):
    refusal = revoke_refusal("bob-dba", state, may_revoke=may, caller="carol")
    if state in (State.Denied, State.Expired, State.Revoked):
        assert refusal == f"AccessRequest bob-dba is already {state.value}"
    elif not may:
        assert refusal == "carol may not revoke AccessRequest bob-dba: only its requester or an administrator may"
    else:
        assert refusal is None


def test_own_request_is_the_requesters_or_the_submitters():
    assert own_request(BOB.username, "bob", None)
    assert own_request("ci", "bob", "ci")
    assert not own_request("carol", "bob", "ci")
    assert not own_request("", None, None)
