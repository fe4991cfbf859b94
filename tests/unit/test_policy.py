"""Which policy governs a request, why none does, and who may review."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gatepass.core.lifecycle import State
from gatepass.core.policy import (evaluate_request, governing_policy, request_errors, review_errors, who,
                                   withdrawal)
from gatepass.core.types import DEFAULT_MAX_START_DELAY, RequestableRole, Subjects

from .core_factories import BOB, T0, dba_policy, dba_request, person


def test_the_allowing_policy_is_selected():
    policy = dba_policy()
    selection = evaluate_request(dba_request(), [policy])
    assert selection.policy is policy
    assert selection.errors == []


def test_the_first_allowing_policy_by_name_wins():
    zeta, alpha = dba_policy(name="zeta"), dba_policy(name="alpha")
    assert evaluate_request(dba_request(), [zeta, alpha]).policy is alpha


def test_a_policy_that_does_not_allow_is_skipped_even_if_first_by_name():
    strict = dba_policy(name="aaa", max_duration=timedelta(minutes=30))
    loose = dba_policy(name="bbb")
    assert evaluate_request(dba_request(), [strict, loose]).policy is loose


def test_no_policies_at_all():
    selection = evaluate_request(dba_request(), [])
    assert selection.policy is None
    assert selection.errors == [
        'bob may not request role "dba": no AccessPolicy offers it to bob or groups [developers]']


def test_an_unoffered_role_names_the_requester_and_groups():
    selection = evaluate_request(dba_request(roles=("cluster-admin",)), [dba_policy()])
    assert selection.policy is None
    assert selection.errors == [
        'bob may not request role "cluster-admin": no AccessPolicy offers it to bob or groups [developers]']


def test_a_requester_outside_every_policy_gets_one_message_per_role():
    carol = person("carol", "marketing")
    selection = evaluate_request(dba_request(requester=carol, roles=("dba", "view")), [dba_policy()])
    assert selection.errors == [
        'carol may not request role "dba": no AccessPolicy offers it to carol or groups [marketing]',
        'carol may not request role "view": no AccessPolicy offers it to carol or groups [marketing]',
    ]


def test_roles_offered_only_by_different_policies():
    one = dba_policy(name="one", roles=(RequestableRole("dba", "ClusterRole", "dba", ("payments",)),))
    two = dba_policy(name="two", roles=(RequestableRole("view", "ClusterRole", "view", ("payments",)),))
    selection = evaluate_request(dba_request(roles=("dba", "view")), [one, two])
    assert selection.policy is None
    assert selection.errors == [
        'bob may not request roles "dba", "view" together: no single AccessPolicy offers them all; '
        "request them separately"]


def test_when_roles_are_offered_the_errors_say_what_each_policy_objects_to():
    selection = evaluate_request(dba_request(namespaces=("prod",), duration=timedelta(hours=9), reason=""),
                                 [dba_policy()])
    assert selection.policy is None
    assert selection.errors == [
        'role "dba" may not be bound in namespace "prod" under AccessPolicy demo-dba (allowed: payments, billing)',
        "duration 9h is longer than the 8h AccessPolicy demo-dba allows",
        "AccessPolicy demo-dba requires a reason",
    ]


def test_policies_not_open_to_the_requester_are_not_reported():
    closed = dba_policy(name="closed", requesters=Subjects.of(users=["someone"]))
    open_ = dba_policy(name="open", max_duration=timedelta(minutes=30))
    errors = evaluate_request(dba_request(), [closed, open_]).errors
    assert errors == ["duration 1h is longer than the 30m AccessPolicy open allows"]


def test_every_error_is_one_line():
    errors = evaluate_request(dba_request(roles=("a", "b"), namespaces=("x",)), [dba_policy()]).errors
    assert errors and all("\n" not in e for e in errors)


# -- request_errors, one rule at a time ------------------------------------

def test_allowed_request_has_no_errors():
    assert request_errors(dba_request(), dba_policy()) == []


def test_requester_by_user_name():
    policy = dba_policy(requesters=Subjects.of(users=["bob"]))
    assert request_errors(dba_request(requester=person("bob")), policy) == []


def test_requester_not_listed():
    errors = request_errors(dba_request(requester=person("carol")), dba_policy())
    assert errors == ["carol may not request under AccessPolicy demo-dba"]


def test_unoffered_role():
    assert request_errors(dba_request(roles=("dba", "root")), dba_policy()) == [
        'AccessPolicy demo-dba does not offer role "root"']


def test_every_namespace_must_be_allowed_for_every_role():
    errors = request_errors(dba_request(roles=("dba", "view"), namespaces=("payments", "billing")), dba_policy())
    assert errors == [
        'role "view" may not be bound in namespace "billing" under AccessPolicy demo-dba (allowed: payments)']


def test_a_role_with_no_namespaces_allows_none():
    policy = dba_policy(roles=(RequestableRole("admin", "ClusterRole", "admin", (), cluster_wide=True),))
    assert request_errors(dba_request(roles=("admin",), namespaces=("payments",)), policy) == [
        'role "admin" may not be bound in namespace "payments" under AccessPolicy demo-dba (allowed: none)']


def test_cluster_wide_needs_a_cluster_wide_cluster_role():
    assert request_errors(dba_request(roles=("view",), namespaces=()), dba_policy()) == []
    assert request_errors(dba_request(roles=("dba",), namespaces=()), dba_policy()) == [
        'role "dba" may not be bound cluster-wide under AccessPolicy demo-dba; name the namespaces']


def test_a_namespaced_role_is_never_cluster_wide_even_if_marked():
    policy = dba_policy(roles=(RequestableRole("deployer", "Role", "deployer", ("payments",), cluster_wide=True),))
    assert request_errors(dba_request(roles=("deployer",), namespaces=()), policy) == [
        'role "deployer" may not be bound cluster-wide under AccessPolicy demo-dba; name the namespaces']
    assert request_errors(dba_request(roles=("deployer",), namespaces=("payments",)), policy) == []


@pytest.mark.parametrize(("duration", "ok"), [
    (timedelta(hours=8), True),
    (timedelta(hours=8, seconds=1), False),
    (timedelta(seconds=1), True),
])
def test_duration_at_most_the_maximum(duration, ok):
    assert (request_errors(dba_request(duration=duration), dba_policy()) == []) is ok


@pytest.mark.parametrize("duration", [timedelta(0), -timedelta(hours=1)])
def test_duration_must_be_positive(duration):
    errors = request_errors(dba_request(duration=duration), dba_policy())
    assert len(errors) == 1 and errors[0].endswith("must be positive")


@pytest.mark.parametrize("reason", ["", "   ", "\n"])
def test_reason_required_unless_the_policy_says_otherwise(reason):
    assert request_errors(dba_request(reason=reason), dba_policy()) == ["AccessPolicy demo-dba requires a reason"]
    assert request_errors(dba_request(reason=reason), dba_policy(require_reason=False)) == []


def test_all_problems_are_reported_at_once():
    request = dba_request(requester=person("carol"), roles=("dba", "root"), namespaces=("prod",),
                          duration=timedelta(hours=10), reason="")
    assert len(request_errors(request, dba_policy())) == 5


def test_who_drops_only_the_group_everyone_has():
    assert who(BOB) == "bob or groups [developers]"
    assert who(person("sa", "system:serviceaccounts", "system:authenticated")) == \
        "sa or groups [system:serviceaccounts]"
    assert who(person("solo")) == "solo"


# -- review_errors ------------------------------------------------------------

def test_a_reviewer_may_review():
    assert review_errors(dba_policy(), dba_request(), person("alice")) == []
    assert review_errors(dba_policy(), dba_request(), person("lena", "dba-leads")) == []


def test_nobody_reviews_their_own_request():
    assert review_errors(dba_policy(), dba_request(), person("bob", "dba-leads")) == [
        "bob may not review own request"]


def test_a_non_reviewer_may_not_review():
    assert review_errors(dba_policy(), dba_request(), person("carol")) == [
        "carol is not a reviewer under policy demo-dba"]


def test_both_problems_at_once():
    assert review_errors(dba_policy(), dba_request(), person("bob")) == [
        "bob may not review own request", "bob is not a reviewer under policy demo-dba"]


def test_no_governing_policy():
    assert review_errors(None, dba_request(), person("alice")) == ["no AccessPolicy governs request bob-dba"]


# --- how far ahead a request may ask to start --------------------------------------------------------

def test_a_start_within_the_policy_s_max_start_delay_is_allowed():
    policy = dba_policy(max_start_delay=timedelta(hours=24))
    assert request_errors(dba_request(start_time=T0 + timedelta(hours=24)), policy) == []
    assert request_errors(dba_request(start_time=T0 - timedelta(hours=1)), policy) == []  # starts at approval


def test_a_start_further_ahead_than_the_policy_allows_is_refused():
    policy = dba_policy(max_start_delay=timedelta(hours=24))
    request = dba_request(start_time=T0 + timedelta(hours=24, seconds=1))
    assert request_errors(request, policy) == [
        "startTime 2026-03-02T10:00:01Z is further ahead than the 24h after the request is made that "
        "AccessPolicy demo-dba allows (maxStartDelay)"]


def test_the_default_max_start_delay_is_a_week():
    far = dba_request(start_time=datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert dba_policy().max_start_delay == DEFAULT_MAX_START_DELAY == timedelta(days=7)
    assert evaluate_request(dba_request(start_time=T0 + timedelta(days=7)), [dba_policy()]).policy is not None
    selection = evaluate_request(far, [dba_policy()])
    assert selection.policy is None
    assert selection.errors == [
        "startTime 2030-01-01T00:00:00Z is further ahead than the 168h after the request is made that "
        "AccessPolicy demo-dba allows (maxStartDelay)"]


# -------------------------------------------------- which policy a request is decided under
@pytest.mark.parametrize("state", [None, *State])
def test_the_governing_policy_in_every_state(state):
    approved_under, other = dba_policy(name="bbb"), dba_policy(name="aaa")  # "aaa" sorts first and allows it too
    status = {"policy": "bbb", **({"state": state.value} if state else {})}
    governing = governing_policy(dba_request(), [other, approved_under], status)
    if state is State.Approved:
        assert governing is approved_under  # the one it was approved under, never another
        assert governing_policy(dba_request(), [other], status) is None  # gone: not replaced by another
        narrowed = dba_policy(name="bbb", max_duration=timedelta(minutes=1))
        assert governing_policy(dba_request(), [other, narrowed], status) is narrowed  # still it, allowing or not
        assert governing_policy(dba_request(), [other], {"state": "Approved"}) is None  # no record of it: none
    else:
        assert governing is approved_under  # recorded once: a policy earlier by name does not take it over
        assert governing_policy(dba_request(), [other], status) is other  # gone: the first that allows it
        unoffered = dba_policy(name="bbb", roles=())
        assert governing_policy(dba_request(), [other, unoffered], status) is other  # no longer allows it
        assert governing_policy(dba_request(), [other, approved_under], {}) is other  # none recorded yet
        assert governing_policy(dba_request(), [], status) is None


def test_a_policy_that_still_allows_the_grant_withdraws_nothing():
    assert withdrawal(dba_request(), dba_policy(), "demo-dba") is None
    assert withdrawal(dba_request(reason=""), dba_policy(require_reason=True), "demo-dba") is None  # filing only


@pytest.mark.parametrize("policy", [None, dba_policy(name="demo-dba-v2")])
def test_a_grant_whose_policy_is_gone_is_withdrawn(policy):
    assert withdrawal(dba_request(), policy, "demo-dba") == "AccessPolicy demo-dba no longer exists"


@pytest.mark.parametrize("changes, error", [
    (dict(requesters=Subjects.of(users=["carol"])), "bob or groups [developers] may not request under AccessPolicy "
                                                    "demo-dba"),
    (dict(roles=()), 'AccessPolicy demo-dba does not offer role "dba"'),
    (dict(roles=(RequestableRole("dba", "ClusterRole", "dba", ("billing",)),)),
     'role "dba" may not be bound in namespace "payments" under AccessPolicy demo-dba (allowed: billing)'),
    (dict(max_duration=timedelta(minutes=59)), "duration 1h is longer than the 59m AccessPolicy demo-dba allows"),
])
def test_a_policy_that_no_longer_allows_the_access_withdraws_it(changes, error):
    assert withdrawal(dba_request(), dba_policy(**changes), "demo-dba") == (
        f"AccessPolicy demo-dba no longer allows it: {error}")


def test_every_fault_is_said_in_one_line():
    why = withdrawal(dba_request(), dba_policy(requesters=Subjects.of(users=["carol"]), roles=()), "demo-dba")
    assert why == ("AccessPolicy demo-dba no longer allows it: bob or groups [developers] may not request under "
                   'AccessPolicy demo-dba; AccessPolicy demo-dba does not offer role "dba"')


def test_a_submitter_no_longer_trusted_withdraws_what_it_filed():
    request = dba_request(submitter=person("ci"))
    assert withdrawal(request, dba_policy(trusted_submitters=Subjects.of(["ci"])), "demo-dba") is None
    assert withdrawal(request, dba_policy(), "demo-dba").startswith(
        "AccessPolicy demo-dba no longer allows it: ci may not file requests on behalf of bob under AccessPolicy "
        "demo-dba")
