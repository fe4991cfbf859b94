"""The operator's side of policy rules: one rule review per request, failures reported once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from kubernetes.client import ApiException

from gatepass.controller.rulereviews import RuleReviews
from gatepass.controller.store import Store
from gatepass.core.types import RULES_REVIEWER, Rule

from .core_factories import at, dba_policy, dba_request, person

ONCALL = Rule("short-oncall", "Approve", "request.duration <= duration('1h') && 'oncall' in user.groups", "on call")
NO_BILLING = Rule("no-billing", "Deny", "'billing' in request.namespaces", "billing is audited")
BROKEN = Rule("broken", "Deny", "request.labels['risk'] == 'high'")
DAVE = person("dave", "developers", "oncall")
OPERATOR = "system:serviceaccount:gatepass-system:gatepass-operator"


class FakeKube:
    """Creates reviews as admission and the API server would (reviewer stamped, a creation time)."""

    def __init__(self, fail: ApiException | None = None) -> None:
        self.created: list[dict] = []
        self.events: list[tuple[str, str, bool]] = []
        self.fail = fail

    async def create_review(self, manifest):
        if self.fail is not None:
            raise self.fail
        if any(m["metadata"]["name"] == manifest["metadata"]["name"] for m in self.created):
            raise ApiException(status=409, reason="AlreadyExists")
        self.created.append(manifest)
        return {**manifest,
                "metadata": {**manifest["metadata"], "creationTimestamp": "2026-03-01T10:00:01Z"},
                "spec": {**manifest["spec"], "reviewer": {"username": RULES_REVIEWER, "groups": []},
                         "submitter": {"username": OPERATOR}}}

    async def event(self, body, reason, message, now, warning=False):
        self.events.append((reason, message, warning))


def body(name="dave-dba", uid="u1", state=None, annotations=None):
    meta = {"name": name, "uid": uid, "annotations": annotations or {}}
    return {"metadata": meta, "spec": {}, "status": {"state": state} if state else {}}


def run(kube, reviewer=None, *, request=None, policy=None, reviews=(), obj=None, now=None):
    reviewer = reviewer or RuleReviews(kube, Store())
    request = request or dba_request(name="dave-dba", uid="u1", requester=DAVE, duration=timedelta(minutes=30))
    policy = policy or dba_policy(rules=(NO_BILLING, ONCALL))
    return asyncio.run(reviewer.review(obj or body(), request, policy, list(reviews), now or at(1)))


def test_a_rule_that_holds_is_recorded_as_a_review_by_gatepass_rules():
    kube = FakeKube()
    store = Store()
    [review] = run(kube, RuleReviews(kube, store))
    assert kube.created == [{
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessReview",
        "metadata": {"name": "dave-dba-rule", "labels": {"gatepass.dev/request": "dave-dba"}},
        "spec": {"request": "dave-dba", "decision": "Approve", "reason": "rule short-oncall: on call",
                 "rule": "short-oncall"},
    }]
    assert (review.reviewer.username, review.decision, review.via, review.submitter) == (
        RULES_REVIEWER, "Approve", "Rule", OPERATOR)
    assert "dave-dba-rule" in store.reviews["dave-dba"]


def test_deny_rules_come_first():
    kube = FakeKube()
    request = dba_request(name="dave-dba", uid="u1", requester=DAVE, namespaces=("billing",),
                          duration=timedelta(minutes=30))
    [review] = run(kube, request=request)
    assert review.decision == "Deny" and kube.created[0]["spec"]["rule"] == "no-billing"


def test_nothing_is_created_when_no_rule_holds_and_it_is_not_asked_again():
    kube = FakeKube()
    reviewer = RuleReviews(kube, Store())
    long = dba_request(name="dave-dba", uid="u1", requester=DAVE, duration=timedelta(hours=4))
    calls = []
    evaluate = reviewer.evaluator.verdict
    reviewer.evaluator.verdict = lambda rules, request: calls.append(1) or evaluate(rules, request)
    assert run(kube, reviewer, request=long) == []
    assert run(kube, reviewer, request=long) == []
    assert calls == [1] and kube.created == []
    # Its labels changed: the rules read them, so they are asked again.
    assert run(kube, reviewer, request=replace(long, labels=(("team", "x"),))) == []
    assert calls == [1, 1]


@pytest.mark.parametrize("why, kwargs", [
    ("not Pending", dict(obj=body(state="Approved"))),
    ("revoked", dict(obj=body(annotations={
        "gatepass.dev/revoked-by": '{"user": "dave", "reason": "", "time": "2026-03-01T10:00:00Z"}'}))),
    ("past its deadline", dict(now=at(hours=2))),
    ("no policy rules", dict(policy=dba_policy())),
])
def test_nothing_is_evaluated_when_rules_are_not_due(why, kwargs):
    kube = FakeKube()
    assert run(kube, **kwargs) == [], why
    assert kube.created == []


def test_a_review_that_exists_already_counts_as_done():
    kube = FakeKube()
    run(kube)
    assert run(kube) == []  # a fresh operator, say: 409, and the watch brings the review
    assert len(kube.created) == 1


def test_a_failing_rule_is_reported_once_and_withholds_approval():
    kube = FakeKube()
    reviewer = RuleReviews(kube, Store())
    policy = dba_policy(rules=(BROKEN, ONCALL))
    for obj in (body(), body(annotations={"x": "y"})):
        assert run(kube, reviewer, policy=policy, obj=obj) == []
    assert kube.created == []
    assert [(reason, warning) for reason, _, warning in kube.events] == [("RuleFailed", True)] * 2
    assert kube.events[0][1] == "Rule broken of AccessPolicy demo-dba counts as not holding: no such key: risk"
    assert kube.events[1][1].startswith("Rule short-oncall of AccessPolicy demo-dba holds but was not applied")


def test_a_refused_review_is_reported_once_and_raised_for_a_retry():
    refusal = ApiException(status=403, reason="Forbidden")
    refusal.body = '{"message": "admission webhook denied the request: spec.rule may be set only by the operator"}'
    kube = FakeKube(fail=refusal)
    reviewer = RuleReviews(kube, Store())
    for _ in range(2):
        with pytest.raises(ApiException):
            run(kube, reviewer)
    [(reason, message, warning)] = kube.events
    assert message == ("Could not record rule short-oncall of AccessPolicy demo-dba (Approve) as AccessReview "
                       "dave-dba-rule: admission webhook denied the request: spec.rule may be set only by the "
                       "operator. Retrying.")
