"""The operator's side of policy rules: one rule review per request, failures reported once."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import replace
from datetime import timedelta

import pytest
from gatepass.kube.errors import ApiException
from urllib3.exceptions import MaxRetryError

from gatepass import rules
from gatepass.controller.rulereviews import RuleReviews
from gatepass.controller.store import Store
from gatepass.core.grants import request_label
from gatepass.core.types import RULES_REVIEWER, Rule

from .core_factories import at, dba_policy, dba_request, person

ONCALL = Rule("short-oncall", "Approve", "request.duration <= duration('1h') && 'oncall' in user.groups", "on call")
NO_BILLING = Rule("no-billing", "Deny", "'billing' in request.namespaces", "billing is audited")
BROKEN = Rule("broken", "Deny", "request.labels['risk'] == 'high'")
DAVE = person("dave", "developers", "oncall")
OPERATOR = "system:serviceaccount:gatepass-system:gatepass-operator"


class FakeKube:
    """Creates reviews as admission and the API server would (reviewer stamped, a creation time)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.created: list[dict] = []  # as stored
        self.events: list[tuple[str, str, bool]] = []
        self.fail = fail
        self.lists = 0

    async def create_review(self, manifest):
        if self.fail is not None:
            raise self.fail
        if any(m["metadata"]["name"] == manifest["metadata"]["name"] for m in self.created):
            raise ApiException(status=409, reason="AlreadyExists")
        stored = {**manifest,
                  "metadata": {**manifest["metadata"], "creationTimestamp": "2026-03-01T10:00:01Z"},
                  "spec": {**manifest["spec"], "reviewer": {"username": RULES_REVIEWER, "groups": []},
                           "submitter": {"username": OPERATOR}}}
        self.created.append(stored)
        return stored

    async def list_reviews(self, request):
        self.lists += 1
        return [r for r in self.created if r["spec"]["request"] == request]

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
    [created] = kube.created
    assert {key: created[key] for key in ("apiVersion", "kind", "spec")} == {
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessReview",
        "spec": {"request": "dave-dba", "decision": "Approve", "reason": "rule short-oncall: on call",
                 "rule": "short-oncall", "reviewer": {"username": RULES_REVIEWER, "groups": []},
                 "submitter": {"username": OPERATOR}},
    }
    # Bound to this request: admission refuses it if dave-dba has been deleted and filed again meanwhile.
    assert created["metadata"]["name"] == "dave-dba-rule"
    assert created["metadata"]["labels"] == {"gatepass.dev/request": "dave-dba", "gatepass.dev/request-uid": "u1"}
    assert (review.reviewer.username, review.decision, review.via, review.submitter) == (
        RULES_REVIEWER, "Approve", "Rule", OPERATOR)
    assert "dave-dba-rule" in store.reviews["dave-dba"]


def test_deny_rules_come_first():
    kube = FakeKube()
    request = dba_request(name="dave-dba", uid="u1", requester=DAVE, namespaces=("billing",),
                          duration=timedelta(minutes=30))
    [review] = run(kube, request=request)
    assert review.decision == "Deny" and kube.created[0]["spec"]["rule"] == "no-billing"


def test_the_request_label_of_a_long_name_is_a_valid_label_value():
    kube = FakeKube()
    name = "dave-" + "x" * 240
    [review] = run(kube, request=dba_request(name=name, uid="u1", requester=DAVE, duration=timedelta(minutes=30)))
    labels = kube.created[0]["metadata"]["labels"]
    assert labels["gatepass.dev/request"] == request_label(name) and len(request_label(name)) <= 63
    assert labels["gatepass.dev/request-uid"] == "u1"
    assert kube.created[0]["spec"]["request"] == name


def counting(calls: list):
    async def verdict(policy_rules, request):
        calls.append(1)
        return await rules.verdict(policy_rules, request)
    return verdict


def test_nothing_is_created_when_no_rule_holds_and_it_is_not_asked_again():
    kube = FakeKube()
    calls = []
    reviewer = RuleReviews(kube, Store(), verdict=counting(calls))
    long = dba_request(name="dave-dba", uid="u1", requester=DAVE, duration=timedelta(hours=4))
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


def test_a_review_made_before_is_read_and_counted():
    kube = FakeKube()
    run(kube)
    store = Store()
    [review] = run(kube, RuleReviews(kube, store))  # a fresh operator, say: 409, and it reads what is there
    assert (review.review, review.via, review.decision) == ("dave-dba-rule", "Rule", "Approve")
    assert "dave-dba-rule" in store.reviews["dave-dba"]
    assert len(kube.created) == 1 and kube.lists == 1 and kube.events == []


def taken(**changes):
    """A FakeKube where dave-dba-rule exists already, as `changes` make it."""
    kube = FakeKube()
    run(kube)
    stored = kube.created[0]
    spec = {**stored["spec"], **changes.pop("spec", {})}
    labels = {**stored["metadata"]["labels"], **changes.pop("labels", {})}
    kube.created[0] = {**stored, "spec": spec, "metadata": {**stored["metadata"], "labels": labels}}
    return kube


@pytest.mark.parametrize("kube, why", [
    (taken(labels={"gatepass.dev/request-uid": "u0"}), "it was made for request UID u0, not u1"),
    (taken(spec={"request": "other"}), "it reviews another request"),
    (taken(spec={"rule": None}), "no rule made it"),
])
def test_a_name_taken_by_another_review_is_reported_and_the_request_goes_on(kube, why):
    reviewer = RuleReviews(kube, Store())
    for _ in range(2):
        assert run(kube, reviewer) == []
    [(reason, message, warning)] = kube.events
    assert (reason, warning) == ("RuleFailed", True)
    assert message == ("Could not record rule short-oncall of AccessPolicy demo-dba (Approve) as AccessReview "
                       f"dave-dba-rule: an AccessReview of that name exists and is not this request's rule review "
                       f"({why})")


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


def api_error(status: int, message: str = "") -> ApiException:
    error = ApiException(status=status, reason="Refused")
    error.body = '{"message": "%s"}' % message if message else ""
    return error


def test_a_refused_review_is_reported_once_and_the_request_goes_on():
    refusal = api_error(403, "admission webhook denied the request: AccessRequest dave-dba is not the request "
                             "this review was made for")
    kube = FakeKube(fail=refusal)
    reviewer = RuleReviews(kube, Store())
    for _ in range(2):
        assert run(kube, reviewer) == []  # no exception: the reconcile decides and writes the status
    [(reason, message, warning)] = kube.events
    assert (reason, warning) == ("RuleFailed", True)
    assert message == ("Could not record rule short-oncall of AccessPolicy demo-dba (Approve) as AccessReview "
                       "dave-dba-rule: admission webhook denied the request: AccessRequest dave-dba is not the "
                       "request this review was made for")
    kube.fail = None  # tried again at the next reconcile, and made once the cause is gone
    assert [r.review for r in run(kube, reviewer)] == ["dave-dba-rule"]


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_a_client_error_gives_no_review_and_no_retry(status):
    kube = FakeKube(fail=api_error(status))
    assert run(kube) == []
    assert kube.events[0][1].endswith(f"as AccessReview dave-dba-rule: {status} Refused")


@pytest.mark.parametrize("error", [api_error(500, "etcdserver: request timed out"), api_error(503), api_error(429),
                                   MaxRetryError(None, "/apis", "connection refused")])
def test_a_transient_error_is_raised_for_a_retry_with_backoff(error):
    kube = FakeKube(fail=error)
    with pytest.raises(type(error)):
        run(kube)
    assert all(message.endswith("Retrying.") for _, message, _ in kube.events)


def test_reading_a_review_made_before_fails_transiently():
    kube = taken()

    async def unavailable(request):
        raise api_error(503)

    kube.list_reviews = unavailable
    with pytest.raises(ApiException):
        run(kube)


def test_a_rule_over_its_time_budget_counts_as_failing():
    kube = FakeKube()
    # Admission refuses this expression now; a policy stored before could have it.
    pairs = Rule("pairs", "Deny", "request.namespaces.all(a, request.namespaces.all(b, a == b || a != b))")
    request = dba_request(name="dave-dba", uid="u1", requester=DAVE, duration=timedelta(minutes=30),
                          namespaces=tuple(f"ns-{i}" for i in range(256)))
    reviewer = RuleReviews(kube, Store(), verdict=functools.partial(rules.verdict, budget=0.1))
    assert run(kube, reviewer, request=request, policy=dba_policy(rules=(pairs, ONCALL))) == []
    assert [message for _, message, _ in kube.events] == [
        "Rule pairs of AccessPolicy demo-dba counts as not holding: evaluation took longer than 0.1 s",
        "Rule short-oncall of AccessPolicy demo-dba holds but was not applied while a Deny rule cannot be "
        "evaluated; the request waits for its reviewers",
    ]


# ------------------------------------------------------------ in the reconcile
class Cluster(FakeKube):
    """Enough of the API for the reconciler: status patches are kept."""

    def __init__(self, fail=None):
        super().__init__(fail)
        self.statuses: list[dict] = []

    async def patch_status(self, plural, name, old, new):
        self.statuses.append(new)
        return None  # as if deleted meanwhile: the reconcile ends there

    async def apply_binding(self, manifest):
        raise AssertionError("nothing is granted while Pending")


class Queue:
    def arm(self, key, when):
        pass


def test_a_refused_rule_review_does_not_stop_the_reconcile():
    from gatepass.controller.reconciler import Reconciler

    kube = Cluster(fail=api_error(403, "admission webhook denied the request"))
    store = Store()
    store.put_policy({"metadata": {"name": "oncall-dba", "resourceVersion": "1"}, "spec": {
        "requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
        "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}], "maxDuration": "8h",
        "rules": [{"name": "short-oncall", "decision": "Approve", "expression": ONCALL.expression}]}}, deleted=False)
    store.put_request({"metadata": {"name": "dave-dba", "uid": "u1", "creationTimestamp": "2026-03-01T10:00:00Z"},
                       "spec": {"requester": {"username": "dave", "groups": ["developers", "oncall"]},
                                "roles": ["dba"], "namespaces": ["payments"], "duration": "30m", "reason": "x"}},
                      deleted=False)
    reconciler = Reconciler(kube, store, Queue(), clock=lambda: at(5))
    asyncio.run(reconciler.request("dave-dba"))
    assert [status["state"] for status in kube.statuses] == ["Pending"]  # the status is written all the same
    assert [reason for reason, _, _ in kube.events] == ["RuleFailed"]
