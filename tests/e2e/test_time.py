"""Time: access ends on its deadline, survives restarts, and hand edits are undone."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from gatepass.process.logs import audit_records

from .helpers import (approve, bindings_of, can_i, create_request, get, parse_time, refused, request_manifest,
                      unique, wait_for, wait_state)

pytestmark = pytest.mark.e2e


def grant(gatepass, name: str, duration: str, **kwargs) -> dict:
    create_request(gatepass, name, duration=duration, **kwargs)
    approve(gatepass, name)
    return wait_state(gatepass, name, "Approved")


def test_access_ends_at_expires_at(gatepass):
    name = unique("expiry")
    body = grant(gatepass, name, "3s")
    granted, expires = parse_time(body["status"]["grantedAt"]), parse_time(body["status"]["expiresAt"])
    assert timedelta(seconds=2) <= expires - granted <= timedelta(seconds=3)
    wait_for(lambda: can_i(gatepass, "bob") == "yes", what="access")
    body = wait_state(gatepass, name, "Expired", timeout=15)
    assert datetime.now(timezone.utc) >= expires
    assert bindings_of(gatepass, name) == []
    assert can_i(gatepass, "bob") == "no"
    assert body["status"]["bindings"] == []

    # Over is over: editing the request is refused, and a binding planted for it is removed.
    edit = gatepass.kubectl("patch", "accessrequest", name, "--type=merge", "-p",
                            json.dumps({"spec": {"duration": "8h"}}), user="bob", check=False)
    assert "cannot be changed" in refused(edit) or "immutable" in refused(edit)
    planted = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": f"planted-{name}", "namespace": "payments",
                     "labels": {"gatepass.dev/managed": "true", "gatepass.dev/request": name},
                     "ownerReferences": [{"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
                                          "name": name, "uid": body["metadata"]["uid"]}]},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "dba"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}],
    }
    gatepass.kubectl("apply", "-f", "-", input=json.dumps(planted))
    wait_for(lambda: bindings_of(gatepass, name) == [], what="the planted binding to be removed")
    assert can_i(gatepass, "bob") == "no"
    assert get(gatepass, "accessrequest", name)["status"]["state"] == "Expired"


def test_pending_requests_expire_after_the_policy_request_ttl(gatepass):
    policy = unique("t-ttl")
    gatepass.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": policy},
        "spec": {"requesters": {"users": ["bob"]},
                 "roles": [{"name": "viewer", "clusterRole": "view", "namespaces": ["payments"]}],
                 "reviewers": {"users": ["alice"]}, "requestTTL": "2s", "maxDuration": "1h"},
    }))
    try:
        name = unique("ttl")
        create_request(gatepass, name, roles=["viewer"])
        body = wait_state(gatepass, name, "Expired", timeout=15)
        assert any(c["type"] == "Expired" and c["reason"] == "RequestTimedOut" for c in body["status"]["conditions"])
        late = gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/approve=late", user="alice",
                                check=False)
        assert "is Expired" in refused(late)
    finally:
        gatepass.kubectl("delete", "accesspolicy", policy)


def test_overlapping_grants_are_independent(gatepass):
    short, long = unique("short"), unique("long")
    grant(gatepass, short, "3s")
    grant(gatepass, long, "1h")
    wait_state(gatepass, short, "Expired", timeout=15)
    assert can_i(gatepass, "bob") == "yes"
    assert len(bindings_of(gatepass, long)) == 1
    gatepass.kubectl("annotate", "accessrequest", long, "gatepass.dev/revoke=done", user="bob")
    wait_state(gatepass, long, "Revoked")
    wait_for(lambda: can_i(gatepass, "bob") == "no", what="access removed")


def test_a_binding_deleted_or_edited_by_hand_is_restored(gatepass):
    name = unique("restore")
    grant(gatepass, name, "1h")
    [binding] = wait_for(lambda: bindings_of(gatepass, name), what="the binding")
    ns, binding_name = binding["metadata"]["namespace"], binding["metadata"]["name"]

    gatepass.kubectl("delete", "rolebinding", binding_name, "-n", ns)
    wait_for(lambda: bindings_of(gatepass, name), what="the binding to come back")
    assert can_i(gatepass, "bob") == "yes"

    patch = json.dumps([{"op": "add", "path": "/subjects/-",
                         "value": {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "carol"}}])
    gatepass.kubectl("patch", "rolebinding", binding_name, "-n", ns, "--type=json", "-p", patch)
    wait_for(lambda: [s["name"] for b in bindings_of(gatepass, name) for s in b["subjects"]] == ["bob"],
             what="the edit to be undone")
    assert can_i(gatepass, "carol") == "no"

    gatepass.kubectl("delete", "accessrequest", name, user="bob")
    wait_for(lambda: bindings_of(gatepass, name) == [], what="the binding to go with its request")
    assert can_i(gatepass, "bob") == "no"


def test_scheduled_access_starts_at_start_time(gatepass):
    name = unique("later")
    start = (datetime.now(timezone.utc) + timedelta(seconds=4)).replace(microsecond=0)
    body = grant(gatepass, name, "1h", startTime=start.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert parse_time(body["status"]["grantedAt"]) == start
    assert parse_time(body["status"]["expiresAt"]) == start + timedelta(hours=1)
    assert bindings_of(gatepass, name) == []
    assert can_i(gatepass, "bob") == "no" or datetime.now(timezone.utc) >= start
    wait_for(lambda: bindings_of(gatepass, name), timeout=15, what="access at the start time")
    assert datetime.now(timezone.utc) >= start
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done", user="bob")
    wait_for(lambda: bindings_of(gatepass, name) == [], what="revocation")


def test_every_state_change_is_audited(gatepass):
    name = unique("audit")
    grant(gatepass, name, "1h")
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=finished early", user="bob")
    wait_state(gatepass, name, "Revoked")

    def reasons() -> list[str]:
        out = json.loads(gatepass.kubectl("get", "events", "-n", "default", "--field-selector",
                                          f"involvedObject.name={name}", "-o", "json").stdout)
        return [e["reason"] for e in out["items"]]

    wait_for(lambda: {"Reviewed", "Approved", "Granted", "Revoked"} <= set(reasons()), what="audit events")
    lines = [r for r in audit_records(gatepass.operator.log()) if r.get("request") == name]
    assert {"Reviewed", "Approved", "Granted", "Revoked"} <= {line["event"] for line in lines}
    revoked = next(line for line in lines if line["event"] == "Revoked")
    assert revoked["requester"] == "bob" and "finished early" in revoked["message"]


def test_restart_removes_what_expired_and_keeps_what_lives(gatepass):
    """Also: with the operator down, admission fails closed."""
    ending, living = unique("ending"), unique("living")
    grant(gatepass, living, "1h")
    body = grant(gatepass, ending, "4s")
    wait_for(lambda: can_i(gatepass, "bob") == "yes", what="access")
    expires = parse_time(body["status"]["expiresAt"])

    gatepass.operator.kill()
    try:
        result = gatepass.kubectl("apply", "-f", "-", user="bob", check=False, input=request_manifest(unique("down")))
        assert "failed calling webhook" in refused(result)
        while datetime.now(timezone.utc) < expires + timedelta(seconds=1):
            time.sleep(0.2)
        assert bindings_of(gatepass, ending), "nothing should have removed it while the operator was down"
    finally:
        gatepass.operator.start()
    wait_state(gatepass, ending, "Expired", timeout=15)
    assert bindings_of(gatepass, ending) == []
    assert len(bindings_of(gatepass, living)) == 1
    assert get(gatepass, "accessrequest", living)["status"]["state"] == "Approved"
    gatepass.kubectl("annotate", "accessrequest", living, "gatepass.dev/revoke=done", user="bob")
    wait_for(lambda: bindings_of(gatepass, living) == [], what="revocation")


def test_ended_requests_are_deleted_after_the_retention(gatepass):
    operator = gatepass.operator
    operator.stop()
    operator.extra_args = ("--retention=10s",)
    try:
        operator.start()
        name = unique("retained")
        create_request(gatepass, name)
        gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/deny=no", user="alice")
        body = wait_state(gatepass, name, "Denied")
        assert body["status"]["reviews"][0]["reason"] == "no"  # kept, with its history, until the retention ends
        wait_for(lambda: gatepass.kubectl("get", "accessrequest", name, check=False).returncode != 0,
                 timeout=40, what="the ended request to be deleted")
    finally:
        operator.stop()
        operator.extra_args = ()
        operator.start()


def test_policy_status_summarises_roles_and_thresholds(gatepass):
    def row() -> list[str]:
        return gatepass.kubectl("get", "accesspolicy", "demo-dba", "--no-headers").stdout.split()

    wait_for(lambda: "two-leads:2" in row(), what="the policy's summary columns")
    assert "dba" in row()
