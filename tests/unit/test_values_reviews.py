"""Reading AccessReview objects into reviews (gatepass.api.values): only those made for this very request count."""

from __future__ import annotations

from gatepass.api import values


def review_body(uid_label: str | None = None, **spec) -> dict:
    labels = {"gatepass.dev/request": "bob-dba"}
    if uid_label is not None:
        labels["gatepass.dev/request-uid"] = uid_label
    return {"metadata": {"name": "bob-dba-alice", "creationTimestamp": "2026-11-24T09:31:00Z", "labels": labels},
            "spec": {"request": "bob-dba", "decision": "Approve", "reason": "ok",
                     "reviewer": {"username": "alice", "groups": ["dba-leads"]}, **spec}}


def test_a_review_made_for_this_request_counts():
    review = values.review(review_body("uid-2"), "uid-2")
    assert review is not None and review.reviewer.username == "alice" and review.via == "AccessReview"


def test_a_review_made_for_an_earlier_request_of_the_same_name_does_not():
    assert values.review(review_body("uid-1"), "uid-2") is None


def test_a_review_without_the_label_or_read_without_a_uid_is_taken_as_it_is():
    assert values.review(review_body(None), "uid-2") is not None
    assert values.review(review_body("uid-1")) is not None


def test_how_it_came_is_read_from_the_spec():
    operator = {"username": "system:serviceaccount:gatepass-system:gatepass-operator"}
    slack = values.review(review_body("u", slackUser="U0ALICE", submitter=operator), "u")
    assert (slack.via, slack.submitter) == ("Slack", operator["username"])
    rule = values.review(review_body("u", rule="short-oncall", reviewer={"username": "gatepass:rules"}), "u")
    assert (rule.via, rule.reviewer.username) == ("Rule", "gatepass:rules")
