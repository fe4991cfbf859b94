"""Objects into core values (gatepass.api.values): every field, the defaults, and what cannot be read."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from gatepass.api import AccessPolicySpec, AccessRequestSpec, InvalidObject, UserInfo, values
from gatepass.core.durations import format_duration
from gatepass.core.types import (DEFAULT_DURATION, DEFAULT_MAX_START_DELAY, Identity, Policy, RequestableRole, Rule,
                                 Subjects, Threshold)

CREATED = "2026-11-24T09:30:00Z"


def request_body(**spec) -> dict:
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
            "metadata": {"name": "bob-dba", "uid": "u-1", "generation": 2, "creationTimestamp": CREATED,
                         "resourceVersion": "7", "labels": {"team": "payments", "app": "db"},
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "2h", "reason": "INC-1",
                     "reviewers": ["alice"], "startTime": "2026-11-24T12:00:00+02:00",
                     "requester": {"username": "bob", "uid": "ub", "groups": ["developers"]}, **spec},
            "status": {"state": "Pending", "policy": "payments", "reviews": [{"not": "a review record"}]}}


def policy_body(**spec) -> dict:
    return {"metadata": {"name": "payments"},
            "spec": {"requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
                     "roles": [{"name": "dba", "clusterRole": "gatepass-dba", "namespaces": ["payments"]}], **spec}}


def test_a_request_reads_every_field_and_ignores_the_status():
    request = values.request(request_body(submitter={"username": "system:serviceaccount:ci:deployer"}))
    assert (request.name, request.uid, request.generation) == ("bob-dba", "u-1", 2)
    assert request.requester == Identity("bob", frozenset({"developers"}), "ub")
    assert request.submitter == Identity("system:serviceaccount:ci:deployer")
    assert (request.roles, request.namespaces, request.reason) == (("dba",), ("payments",), "INC-1")
    assert request.duration == timedelta(hours=2) and request.suggested_reviewers == ("alice",)
    assert request.created == datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
    assert request.start_time == datetime(2026, 11, 24, 10, tzinfo=timezone.utc)
    assert request.start_time.tzinfo is timezone.utc
    assert request.labels == (("app", "db"), ("team", "payments"))


def test_a_request_takes_the_defaults_of_its_model():
    body = request_body()
    for key in ("duration", "namespaces", "reason", "reviewers", "startTime", "requester"):
        del body["spec"][key]
    del body["metadata"]["generation"], body["metadata"]["creationTimestamp"], body["metadata"]["labels"]
    request = values.request(body)
    assert request.duration == DEFAULT_DURATION
    assert AccessRequestSpec.model_fields["duration"].default == format_duration(DEFAULT_DURATION)
    assert request.cluster_wide and request.reason == "" and request.suggested_reviewers == ()
    assert request.requester == Identity("") and request.submitter is None
    assert request.generation == 1 and request.labels == ()
    assert request.created == datetime(1970, 1, 1, tzinfo=timezone.utc)  # not stored yet


def test_admission_names_the_requester_and_a_name_still_to_be_generated():
    body = request_body(submitter={"username": "someone-else"})
    body["metadata"] = {"generateName": "bob-dba-"}
    carol = Identity("carol", frozenset({"contractors"}))
    request = values.request(body, requester=carol, submitter=None)
    assert request.name == "bob-dba-" and request.requester == carol and request.submitter is None


@pytest.mark.parametrize("change, message", [
    (lambda b: b["spec"].update(duration="1d"),
     'AccessRequest "bob-dba" is invalid: spec.duration: invalid duration "1d": unknown unit "d"'),
    (lambda b: b["spec"].update(roles="dba"), 'AccessRequest "bob-dba" is invalid: spec.roles must be a list'),
    (lambda b: b.pop("spec"), 'AccessRequest "bob-dba" is invalid: spec is required'),
    (lambda b: b.update(kind="AccessReview"),
     'AccessRequest "bob-dba" is invalid: kind is "AccessReview", expected \'AccessRequest\''),
])
def test_a_request_that_does_not_read_is_a_one_line_value_error(change, message):
    body = request_body()
    change(body)
    with pytest.raises(InvalidObject) as raised:
        values.request(body)
    assert isinstance(raised.value, ValueError) and "\n" not in str(raised.value)
    assert str(raised.value).startswith(message)


def test_a_policy_reads_every_field():
    policy = values.policy(policy_body(
        roles=[{"name": "dba", "role": "db-admin", "namespaces": ["payments", "billing"]},
               {"name": "view", "clusterRole": "view", "clusterWide": True}],
        thresholds=[{"name": "leads", "approvals": 2, "from": {"groups": ["dba-leads"]}},
                    {"name": "any", "approvals": 1}],
        denials=2, maxDuration="8h", requestTTL="30m", maxStartDelay="24h", requireReason=False,
        trustedSubmitters={"users": ["system:serviceaccount:ci:deployer"]},
        rules=[{"name": "night", "decision": "Deny", "expression": "false", "reason": "not at night"}],
    ))
    assert policy == Policy(
        name="payments",
        requesters=Subjects.of(groups=["developers"]),
        roles=(RequestableRole("dba", "Role", "db-admin", ("payments", "billing")),
               RequestableRole("view", "ClusterRole", "view", (), cluster_wide=True)),
        reviewers=Subjects.of(users=["alice"]),
        thresholds=(Threshold("leads", 2, Subjects.of(groups=["dba-leads"])), Threshold("any", 1)),
        denials=2, max_duration=timedelta(hours=8), request_ttl=timedelta(minutes=30),
        max_start_delay=timedelta(hours=24), require_reason=False,
        trusted_submitters=Subjects.of(users=["system:serviceaccount:ci:deployer"]),
        rules=(Rule("night", "Deny", "false", "not at night"),),
    )


def test_a_policy_takes_the_defaults_of_its_model():
    policy = values.policy(policy_body())
    assert policy.roles == (RequestableRole("dba", "ClusterRole", "gatepass-dba", ("payments",)),)
    assert policy.max_duration == policy.request_ttl == DEFAULT_DURATION
    assert policy.max_start_delay == DEFAULT_MAX_START_DELAY
    assert (policy.denials, policy.require_reason, policy.thresholds, policy.rules) == (1, True, (), ())
    assert policy.trusted_submitters == Subjects()
    fields = AccessPolicySpec.model_fields
    assert fields["max_duration"].default == fields["request_ttl"].default == format_duration(DEFAULT_DURATION)


def test_a_policy_that_does_not_read_says_so_in_one_line():
    with pytest.raises(ValueError, match=r'^AccessPolicy "payments" is invalid: spec.roles\[0\]: '):
        values.policy(policy_body(roles=[{"name": "dba"}]))


def test_a_review_that_does_not_read_as_one_is_none():
    body = {"metadata": {"name": "r", "creationTimestamp": CREATED},
            "spec": {"request": "bob-dba", "decision": "Maybe", "reviewer": {"username": "alice"}}}
    assert values.review(body) is None
    body["spec"]["decision"] = "Deny"
    assert values.review(body).decision == "Deny"
    del body["spec"]["reviewer"]
    assert values.review(body) is None  # not stamped by admission


def test_identity_reads_user_info_in_either_form():
    assert values.identity(None) == values.identity({}) == Identity("")
    info = {"username": "alice", "uid": "ua", "groups": ["b", "a"], "extra": {"x": ["y"]}}
    assert values.identity(info) == Identity("alice", frozenset({"a", "b"}), "ua")
    assert values.identity(UserInfo.model_validate(info)) == values.identity(info)


def test_the_recorded_policy_of_a_request():
    assert values.policy_name(request_body()) == "payments"
    assert values.policy_name({"metadata": {"name": "x"}}) is None


def test_reading_identities_does_not_build_the_models():
    code = ("import sys; from gatepass.api import values; values.identity({'username': 'a'}); "
            "print(any(m.startswith('gatepass.api.') and m != 'gatepass.api.values' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
