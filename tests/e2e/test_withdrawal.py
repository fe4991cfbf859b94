"""A grant lives only under the policy that approved it: deleting or narrowing the policy withdraws it.

Each test has a policy of its own offering a role of its own in a fresh namespace, so that no other
test's requests fall under it, and bob's access is asked of the API server as bob would use it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from .helpers import (approve, bindings_of, can_i, get, policy_body, request_manifest, unique, wait_for,
                      wait_state)

pytestmark = pytest.mark.e2e

LEAD = timedelta(seconds=25)  # how far out a scheduled grant starts: time to approve it and change its policy


@pytest.fixture
def offered(gatepass, namespace):
    """A policy offering a role of its own in `namespace` to developers; yields (policy name, role,
    namespace, the policy's manifest, a function that files bob's request under it)."""
    policy, role = unique("t-withdraw"), unique("dba")
    manifest = policy_body(policy, role, (namespace,))
    gatepass.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def request(start: datetime | None = None) -> str:
        name = unique("bob-withdraw")
        spec = {"startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ")} if start else {}
        gatepass.kubectl("apply", "-f", "-", user="bob",
                         input=request_manifest(name, roles=[role], namespaces=[namespace], duration="30m", **spec))
        wait_state(gatepass, name, "Pending")
        approve(gatepass, name, "alice")
        body = wait_state(gatepass, name, "Approved")
        assert body["status"]["policy"] == policy
        return name

    try:
        yield policy, role, namespace, manifest, request
    finally:
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)


def later() -> datetime:
    return (datetime.now(timezone.utc) + LEAD).replace(microsecond=0)


def condition(body: dict, type_: str) -> dict:
    return next((c for c in body["status"]["conditions"] if c["type"] == type_), {})


def withdrawn(gatepass, name: str) -> dict:
    body = wait_state(gatepass, name, "Revoked")
    assert body["status"]["revokedBy"] == "gatepass:policy"
    assert (condition(body, "Revoked")["status"], condition(body, "Revoked")["reason"]) == ("True", "PolicyWithdrawn")
    assert (condition(body, "Granted")["status"], condition(body, "Granted")["reason"]) == ("False", "PolicyWithdrawn")
    assert body["status"]["bindings"] == []
    return body


def events(gatepass, name: str, reason: str) -> list[dict]:
    out = json.loads(gatepass.kubectl("get", "events", "-n", "default", "--field-selector",
                                      f"involvedObject.name={name},reason={reason}", "-o", "json").stdout)
    return out["items"]


def never_started(gatepass, name: str, namespace: str, start: datetime) -> None:
    """Past the start time, the withdrawn grant still has no binding and bob no access."""
    wait_for(lambda: datetime.now(timezone.utc) >= start + timedelta(seconds=2), timeout=LEAD.total_seconds() + 10,
             interval=0.5, what="the start time to pass")
    assert bindings_of(gatepass, name) == []
    assert can_i(gatepass, "bob", namespace=namespace) == "no"
    body = get(gatepass, "accessrequest", name)
    assert body["status"]["state"] == "Revoked" and condition(body, "Granted")["status"] == "False"
    assert not events(gatepass, name, "Granted")


def test_a_scheduled_grant_whose_policy_is_deleted_never_starts(gatepass, offered):
    policy, role, namespace, manifest, request = offered
    start = later()
    name = request(start)
    assert condition(get(gatepass, "accessrequest", name), "Granted")["reason"] == "WaitingForStart"
    gatepass.kubectl("delete", "accesspolicy", policy)
    body = withdrawn(gatepass, name)
    assert body["status"]["revokeReason"] == f"AccessPolicy {policy} no longer exists"
    [event] = wait_for(lambda: events(gatepass, name, "Revoked"), what="the Revoked event")
    assert event["type"] == "Warning"
    assert event["message"] == (f"Withdrew bob's approved request for {role} in {namespace} before it started: "
                                f"AccessPolicy {policy} no longer exists")
    # The same policy created again does not bring it back.
    gatepass.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    never_started(gatepass, name, namespace, start)


NARROWING = {
    "bob's group removed": ({"requesters": {"groups": ["contractors"]}},
                            "bob or groups [developers] may not request under AccessPolicy {policy}"),
    "maxDuration shortened": ({"maxDuration": "10m"},
                              "duration 30m is longer than the 10m AccessPolicy {policy} allows"),
}


@pytest.mark.parametrize("change", sorted(NARROWING))
def test_a_scheduled_grant_whose_policy_stops_allowing_it_never_starts(gatepass, offered, change):
    policy, role, namespace, manifest, request = offered
    start = later()
    name = request(start)
    spec, error = NARROWING[change]
    gatepass.kubectl("apply", "-f", "-", input=json.dumps({**manifest, "spec": {**manifest["spec"], **spec}}))
    body = withdrawn(gatepass, name)
    assert body["status"]["revokeReason"] == f"AccessPolicy {policy} no longer allows it: " + error.format(
        policy=policy)
    never_started(gatepass, name, namespace, start)


def test_a_live_grant_ends_when_its_policy_is_deleted_even_if_another_allows_it(gatepass, offered):
    policy, role, namespace, manifest, request = offered
    name = request()
    wait_for(lambda: can_i(gatepass, "bob", namespace=namespace) == "yes", what="bob's access")
    # Another policy offers the same: its reviewers never saw this request, so it does not keep the grant.
    other = unique("t-withdraw-other")
    gatepass.kubectl("apply", "-f", "-", input=json.dumps({**manifest, "metadata": {"name": other}}))
    try:
        gatepass.kubectl("delete", "accesspolicy", policy)
        body = withdrawn(gatepass, name)
        assert body["status"]["revokeReason"] == f"AccessPolicy {policy} no longer exists"
        wait_for(lambda: can_i(gatepass, "bob", namespace=namespace) == "no", what="bob's access to end")
        assert bindings_of(gatepass, name) == []
        [event] = wait_for(lambda: events(gatepass, name, "Revoked"), what="the Revoked event")
        assert event["message"].startswith(f"Withdrew bob's access to {role} in {namespace}: AccessPolicy {policy} "
                                           "no longer exists; deleted RoleBinding ")
    finally:
        gatepass.kubectl("delete", "accesspolicy", other)


def test_an_edit_that_still_allows_a_live_grant_keeps_it_and_one_that_does_not_ends_it(gatepass, offered):
    policy, role, namespace, manifest, request = offered
    name = request()
    wait_for(lambda: can_i(gatepass, "bob", namespace=namespace) == "yes", what="bob's access")
    # kubectl apply updates the policy in place: another reviewer, a longer maximum change nothing.
    gatepass.kubectl("apply", "-f", "-", input=json.dumps({**manifest, "spec": {
        **manifest["spec"], "reviewers": {"users": ["alice"], "groups": ["dba-leads"]}, "maxDuration": "2h"}}))
    wait_for(lambda: (p := get(gatepass, "accesspolicy", policy)).get("status", {}).get("observedGeneration")
             == p["metadata"]["generation"] >= 2, what="the operator to see the edit")
    other = request()  # approved after the edit, which queued the first one again too
    assert get(gatepass, "accessrequest", name)["status"]["state"] == "Approved"
    assert can_i(gatepass, "bob", namespace=namespace) == "yes"
    # The namespace taken out of the role: both grants end.
    gatepass.kubectl("apply", "-f", "-", input=json.dumps({**manifest, "spec": {
        **manifest["spec"], "roles": [{"name": role, "clusterRole": "dba", "namespaces": ["payments"]}]}}))
    for grant in (name, other):
        body = withdrawn(gatepass, grant)
        assert body["status"]["revokeReason"] == (
            f'AccessPolicy {policy} no longer allows it: role "{role}" may not be bound in namespace '
            f'"{namespace}" under AccessPolicy {policy} (allowed: payments)')
    wait_for(lambda: can_i(gatepass, "bob", namespace=namespace) == "no", what="bob's access to end")


def test_a_policy_replaced_by_deleting_and_creating_it_withdraws_its_grants(gatepass, offered, tmp_path):
    """What a GitOps tool that recreates a policy (or kubectl replace --force) does: a deletion."""
    policy, role, namespace, manifest, request = offered
    name = request()
    wait_for(lambda: can_i(gatepass, "bob", namespace=namespace) == "yes", what="bob's access")
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(manifest))
    gatepass.kubectl("replace", "--force", "-f", str(path))
    withdrawn(gatepass, name)
    wait_for(lambda: can_i(gatepass, "bob", namespace=namespace) == "no", what="bob's access to end")
    assert get(gatepass, "accesspolicy", policy)["metadata"]["name"] == policy  # it is back, the grant is not
    assert get(gatepass, "accessrequest", name)["status"]["state"] == "Revoked"
