"""Admission refuses policies that can never work, warns about what does not exist yet, bounds how far
ahead a request may start, and answers a bad duration as kubectl access does: real users, real API server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from gatepass.core.durations import checked_duration

from .helpers import create_request, get, policy_body, refused, request_manifest, unique, wait_for, wait_state
from .test_cli import access

pytestmark = pytest.mark.e2e

OPERATOR = "system:serviceaccount:gatepass-system:gatepass-operator"
REQUEST_HOOK = 'admission webhook "validate-accessrequest.gatepass.dev" denied the request: '
POLICY_HOOK = 'admission webhook "validate-accesspolicy.gatepass.dev" denied the request: '
# Malformed objects, bad durations among them, are refused by the first hook to see them: the mutating one.
REQUEST_PARSE_HOOK = 'admission webhook "mutate-accessrequest.gatepass.dev" denied the request: '
POLICY_PARSE_HOOK = 'admission webhook "mutate-accesspolicy.gatepass.dev" denied the request: '


def duration_message(text: str) -> str:
    """What the core says of a bad duration (the message kubectl access gives)."""
    with pytest.raises(ValueError) as raised:
        checked_duration(text)
    return str(raised.value)


def creation_refused(hook: str, message: str) -> str:
    """The one line kubectl prints for a create the webhook refused with ``message``."""
    return f'error when creating "STDIN": {hook}{message}'


def refused_with(result, expected: str) -> bool:
    line = refused(result)
    assert "\n" not in line, line
    assert line.startswith("Error from server") and line.endswith(expected), line
    return True


def warnings_of(result) -> list[str]:
    return [line.removeprefix("Warning: ") for line in result.stderr.splitlines() if line.startswith("Warning: ")]


@pytest.fixture
def policies(gatepass):
    """apply(body) -> kubectl's result, applying as admin; every policy applied is deleted afterwards (its
    role is the test's own, so the requests made for it are then denied, having no policy)."""
    made: list[str] = []

    def apply(body: dict, check: bool = False):
        made.append(body["metadata"]["name"])
        return gatepass.kubectl("apply", "-f", "-", input=json.dumps(body), check=check)

    yield apply
    for name in made:
        gatepass.kubectl("delete", "accesspolicy", name, "--ignore-not-found", check=False)


@pytest.fixture
def bindable(gatepass):
    """bindable(kind, name): lets the operator bind a (Cluster)Role of that name, as an administrator does
    before a policy may offer it; removed afterwards."""
    made: list[str] = []

    def allow(resource: str, name: str) -> None:
        grant = f"gatepass-bind-{name}"
        gatepass.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": grant, "labels": {"gatepass.dev/aggregate-to-operator-bind": "true"}},
            "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": [resource], "verbs": ["bind"],
                       "resourceNames": [name]}]}))
        made.append(grant)
        wait_for(lambda: gatepass.kubectl("auth", "can-i", "bind", f"{resource}/{name}", "--as", OPERATOR,
                                          check=False).stdout.strip() == "yes",
                 timeout=60, what=f"the operator to be allowed to bind {name}")

    yield allow
    for grant in made:
        gatepass.kubectl("delete", "clusterrole", grant, "--ignore-not-found", check=False)


def cluster_role(gatepass, name: str) -> None:
    gatepass.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}))


# --- durations: the human message, not a regular expression ----------------------------------------


@pytest.mark.parametrize("bad", ["1d", "0s", "-1h", "90", "1h 30m", "1w"])
def test_bob_applying_a_bad_duration_gets_the_cli_s_message(gatepass, bad):
    name = unique("dur")
    result = gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest(name, duration=bad),
                              check=False)
    assert refused_with(result, creation_refused(REQUEST_PARSE_HOOK, f"spec.duration: {duration_message(bad)}"))
    assert gatepass.kubectl("get", "accessrequest", name, check=False).returncode != 0  # nothing stored


def test_the_day_unit_is_explained(gatepass):
    result = gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest(unique("day"), duration="1d"),
                              check=False)
    assert refused(result).endswith(
        'spec.duration: invalid duration "1d": unknown unit "d" (there is no day unit, write 24h)')
    assert "^" not in result.stderr and "pattern" not in result.stderr  # no regular expression


@pytest.mark.parametrize("bad", ["1d", "0"])
def test_kubectl_apply_and_kubectl_access_say_the_same(gatepass, bad):
    result = access(gatepass, "bob", "request", "create", "--roles=dba", "--namespaces=payments", "--reason=x",
                    f"--duration={bad}")
    # A bad flag value is a usage error (exit 2), its last line argparse's: "...: error: argument --duration: ..."
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    cli = result.stderr.splitlines()[-1].split(": error: argument --duration: ", 1)[1]
    applied = gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest(unique("same"), duration=bad),
                               check=False)
    assert refused_with(applied, f"denied the request: spec.duration: {cli}")


@pytest.mark.parametrize("field", ["maxDuration", "requestTTL", "maxStartDelay"])
def test_a_bad_policy_duration_gets_the_cli_s_message(policies, field):
    name = unique("pdur")
    result = policies(policy_body(name, unique("r"), **{field: "1d"}))
    assert refused_with(result, creation_refused(
        POLICY_PARSE_HOOK, f"invalid AccessPolicy: spec.{field}: {duration_message('1d')}"))


def test_every_bad_policy_duration_is_named_in_one_line(policies):
    result = policies(policy_body(unique("pdur"), unique("r"), maxDuration="8 hours", requestTTL="0"))
    assert refused_with(result, creation_refused(POLICY_PARSE_HOOK, (
        f"invalid AccessPolicy: spec.maxDuration: {duration_message('8 hours')}; "
        f"spec.requestTTL: {duration_message('0')}")))


# --- thresholds nobody can reach: refused -----------------------------------------------------------


def test_a_threshold_more_than_the_named_reviewers_can_reach_is_refused(gatepass, policies):
    name = unique("three")
    result = policies(policy_body(name, unique("r"), reviewers={"users": ["alice"]},
                                  thresholds=[{"name": "three", "approvals": 3}]))
    assert refused_with(result, creation_refused(POLICY_HOOK, (
        'invalid AccessPolicy: threshold "three" needs 3 approvals but at most 1 reviewer can give one (alice)')))
    assert gatepass.kubectl("get", "accesspolicy", name, check=False).returncode != 0


def test_a_threshold_from_nobody_who_reviews_is_refused(policies):
    result = policies(policy_body(unique("from"), unique("r"),
                                  thresholds=[{"name": "dbas", "approvals": 1, "from": {"users": ["carol"]}}]))
    assert refused_with(result, creation_refused(POLICY_HOOK, (
        'invalid AccessPolicy: threshold "dbas" can never be met: none of the users and groups in its from '
        "is a reviewer")))


def test_denials_more_than_the_named_reviewers_can_give_are_refused(policies):
    result = policies(policy_body(unique("deny"), unique("r"), denials=3))
    assert refused_with(result, creation_refused(POLICY_HOOK, (
        "invalid AccessPolicy: denials 3 can never be reached: at most 2 reviewers can deny (alice, ivan)")))


def test_a_threshold_only_a_requester_s_own_review_could_complete(policies):
    # alice and ivan are the only reviewers: neither can ever be approved by both, having asked.
    body = policy_body(unique("own"), unique("r"), requesters={"users": ["alice", "ivan"]},
                       thresholds=[{"name": "both", "approvals": 2}])
    assert refused_with(policies(body), creation_refused(POLICY_HOOK, (
        'invalid AccessPolicy: threshold "both" can never be met for requests by alice, ivan: nobody reviews '
        "their own request")))
    # With developers requesting too, the policy works for them: accepted, with a warning about alice.
    body["spec"]["requesters"] = {"users": ["alice"], "groups": ["developers"]}
    result = policies(body)
    assert result.returncode == 0, result.stderr
    assert warnings_of(result) == [
        'threshold "both" can never be met for requests by alice: nobody reviews their own request']


def test_an_existing_policy_cannot_be_changed_to_an_unreachable_threshold(gatepass, policies):
    name = unique("edit")
    body = policy_body(name, unique("r"), thresholds=[{"name": "both", "approvals": 2}])
    assert policies(body, check=True).returncode == 0
    body["spec"]["thresholds"][0]["approvals"] = 5
    result = policies(body)
    # kubectl shows the patch it sent, then the refusal on the last line.
    assert refused(result).splitlines()[-1].endswith(POLICY_HOOK + (
        'invalid AccessPolicy: threshold "both" needs 5 approvals but at most 2 reviewers can give one (alice, ivan)'))
    assert get(gatepass, "accesspolicy", name)["spec"]["thresholds"][0]["approvals"] == 2


def test_groups_are_never_guessed_too_small(policies):
    # dba-leads may have any number of members; carol may be one of the sre group's.
    body = policy_body(unique("groups"), unique("r"), reviewers={"groups": ["dba-leads"]},
                       thresholds=[{"name": "five", "approvals": 5},
                                   {"name": "carol", "approvals": 1, "from": {"users": ["carol"]}}], denials=4)
    result = policies(body)
    assert result.returncode == 0, result.stderr
    assert warnings_of(result) == []


# --- what does not exist yet: accepted, with a warning ------------------------------------------------


def test_a_missing_cluster_role_is_accepted_with_a_warning_until_it_exists(gatepass, policies, bindable):
    role = unique("later")
    bindable("clusterroles", role)
    body = policy_body(unique("cr"), "later")
    body["spec"]["roles"][0]["clusterRole"] = role
    first = policies(body)
    assert first.returncode == 0, first.stderr
    assert warnings_of(first) == [
        f'ClusterRole "{role}" does not exist: role "later" cannot be granted until it is created']
    cluster_role(gatepass, role)
    try:
        body["spec"]["maxDuration"] = "2h"  # a change, so that apply sends it
        again = policies(body)
        assert again.returncode == 0 and warnings_of(again) == []
    finally:
        gatepass.kubectl("delete", "clusterrole", role, check=False)


def test_a_missing_namespace_is_accepted_with_a_warning_until_it_exists(gatepass, policies):
    namespace = unique("ns")
    body = policy_body(unique("ns"), unique("r"), namespaces=("payments", namespace))
    first = policies(body)
    assert first.returncode == 0, first.stderr
    assert warnings_of(first) == [
        f'namespace "{namespace}" does not exist: role "{body["spec"]["roles"][0]["name"]}" cannot be granted '
        "there until it is created"]
    gatepass.kubectl("create", "namespace", namespace)
    try:
        body["spec"]["maxDuration"] = "2h"
        again = policies(body)
        assert again.returncode == 0 and warnings_of(again) == []
    finally:
        gatepass.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_a_missing_role_is_accepted_with_a_warning_naming_the_namespace(gatepass, policies, bindable):
    name = unique("deployer")
    bindable("roles", name)
    body = policy_body(unique("role"), "deploy")
    body["spec"]["roles"] = [{"name": "deploy", "role": name, "namespaces": ["payments"]}]
    first = policies(body)
    assert first.returncode == 0, first.stderr
    assert warnings_of(first) == [
        f'Role "{name}" does not exist in namespace "payments": role "deploy" cannot be granted there until it '
        "is created"]


def test_a_workable_policy_gets_no_warning(policies):
    result = policies(policy_body(unique("fine"), unique("r"), thresholds=[{"name": "both", "approvals": 2}]))
    assert result.returncode == 0 and warnings_of(result) == []


# --- how far ahead a request may start ----------------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_start_further_out_than_the_policy_allows_is_refused(gatepass, policies):
    role, policy = unique("sched"), unique("sched")
    policies(policy_body(policy, role, maxStartDelay="24h"), check=True)
    start = stamp(datetime.now(timezone.utc) + timedelta(hours=48))
    name = unique("later")
    result = gatepass.kubectl("apply", "-f", "-", user="bob", check=False,
                              input=request_manifest(name, roles=(role,), startTime=start))
    assert refused_with(result, creation_refused(REQUEST_HOOK, (
        f"startTime {start} is further ahead than the 24h after the request is made that AccessPolicy "
        f"{policy} allows (maxStartDelay)")))

    soon = unique("soon")
    create_request(gatepass, soon, roles=(role,), startTime=stamp(datetime.now(timezone.utc) + timedelta(hours=2)))
    assert wait_state(gatepass, soon, "Pending")["spec"]["startTime"]


def test_by_default_a_start_may_be_a_week_ahead_and_2030_is_refused(gatepass, policies):
    role = unique("week")
    policy = unique("week")
    policies(policy_body(policy, role), check=True)
    result = gatepass.kubectl("apply", "-f", "-", user="bob", check=False,
                              input=request_manifest(unique("2030"), roles=(role,), startTime="2030-01-01T00:00:00Z"))
    assert refused_with(result, creation_refused(REQUEST_HOOK, (
        "startTime 2030-01-01T00:00:00Z is further ahead than the 168h after the request is made that "
        f"AccessPolicy {policy} allows (maxStartDelay)")))
    create_request(gatepass, unique("in6d"), roles=(role,),
                   startTime=stamp(datetime.now(timezone.utc) + timedelta(days=6)))


def test_a_pending_request_the_tightened_policy_no_longer_allows_is_denied(gatepass, policies):
    role, policy = unique("tight"), unique("tight")
    body = policy_body(policy, role, maxStartDelay="72h")
    policies(body, check=True)
    name = unique("ahead")
    create_request(gatepass, name, roles=(role,), startTime=stamp(datetime.now(timezone.utc) + timedelta(hours=48)))

    body["spec"]["maxStartDelay"] = "24h"  # the operator looks again at every request when a policy changes
    policies(body, check=True)
    denied = wait_state(gatepass, name, "Denied", timeout=60)
    [condition] = [c for c in denied["status"]["conditions"] if c["type"] == "Denied"]
    assert (condition["reason"], condition["message"]) == ("NoPolicy", "No AccessPolicy allows this request any more")
    assert denied["status"]["bindings"] == [] and not denied["status"].get("grantedAt")
    late = gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/approve=ok", user="alice", check=False)
    assert late.returncode != 0 and get(gatepass, "accessrequest", name)["status"]["state"] == "Denied"
