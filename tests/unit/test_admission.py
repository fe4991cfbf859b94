"""Who an AccessReview counts for: the caller, a rule's system reviewer, or a mapped Slack user."""

from __future__ import annotations

import pytest

from gatepass.core.admission import Author, review_author, slack_mapping
from gatepass.core.types import RULES_REVIEWER, Identity

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
