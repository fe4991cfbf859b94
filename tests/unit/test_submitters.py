"""Trusted submitters: a policy lets a pipeline file requests on a requester's behalf."""

from __future__ import annotations

from gatepass.core import audit
from gatepass.core.policy import evaluate_request, request_errors, review_errors
from gatepass.core.tally import tally
from gatepass.core.types import Subjects

from .core_factories import BOB, dba_policy, dba_request, person

PIPELINE = person("system:serviceaccount:ci:deployer", "system:serviceaccounts", "system:serviceaccounts:ci")
TRUSTING = dba_policy(trusted_submitters=Subjects.of(users=[PIPELINE.username]))


def test_a_trusted_submitter_files_for_a_requester_the_policy_allows():
    request = dba_request(submitter=PIPELINE)
    assert request_errors(request, TRUSTING) == []
    assert evaluate_request(request, [TRUSTING]).policy == TRUSTING


def test_a_submitter_the_policy_does_not_trust_is_refused():
    request = dba_request(submitter=PIPELINE)
    [error] = request_errors(request, dba_policy())
    assert error == ("system:serviceaccount:ci:deployer may not file requests on behalf of bob under "
                     "AccessPolicy demo-dba: it is not one of its trustedSubmitters")
    assert evaluate_request(request, [dba_policy()]).errors == [error]


def test_trust_can_be_given_to_a_group():
    policy = dba_policy(trusted_submitters=Subjects.of(groups=["system:serviceaccounts:ci"]))
    assert request_errors(dba_request(submitter=PIPELINE), policy) == []


def test_the_requester_must_still_be_allowed():
    carol = person("carol", "contractors")
    request = dba_request(requester=carol, submitter=PIPELINE)
    assert evaluate_request(request, [TRUSTING]).policy is None
    assert "carol may not request role" in evaluate_request(request, [TRUSTING]).errors[0]


def test_a_submitter_may_not_review_what_it_filed():
    policy = dba_policy(reviewers=Subjects.of(users=["alice", PIPELINE.username]),
                        trusted_submitters=Subjects.of(users=[PIPELINE.username]))
    request = dba_request(submitter=PIPELINE)
    assert review_errors(policy, request, PIPELINE) == [
        "system:serviceaccount:ci:deployer may not review a request it filed"]
    assert review_errors(policy, request, person("alice")) == []


def test_the_audit_trail_names_the_submitter():
    request = dba_request(submitter=PIPELINE)
    counted = tally(TRUSTING, BOB, [])
    suffix = " (filed by system:serviceaccount:ci:deployer on bob's behalf)"
    assert audit.approved(request, counted).message.endswith(suffix)
    assert audit.granted(request, request.created).message.endswith(suffix)
    assert "filed by" not in audit.granted(dba_request(), request.created).message
