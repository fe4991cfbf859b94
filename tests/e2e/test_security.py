"""Security claims, each proven with real, separately authenticated users."""

from __future__ import annotations

import hashlib
import json

import pytest

from .helpers import (approve, bindings_of, can_i, create_request, get, refused, request_manifest,
                      review_manifest, unique, wait_for, wait_state)

pytestmark = pytest.mark.e2e


def test_requester_is_taken_from_authentication_not_the_client(gatepass):
    name = unique("forge")
    manifest = json.loads(request_manifest(name))
    manifest["spec"]["requester"] = {"username": "alice", "groups": ["dba-leads"]}
    gatepass.kubectl("apply", "-f", "-", user="bob", input=json.dumps(manifest))
    body = wait_state(gatepass, name, "Pending")
    assert body["spec"]["requester"]["username"] == "bob"
    assert "dba-leads" not in body["spec"]["requester"]["groups"]

    # Nobody, not even an administrator, can rewrite who asked.
    patch = json.dumps({"spec": {"requester": {"username": "ivan", "groups": []}}})
    for user in ("bob", "admin"):
        gatepass.kubectl("patch", "accessrequest", name, "--type=merge", "-p", patch, user=user, check=False)
        assert get(gatepass, "accessrequest", name)["spec"]["requester"]["username"] == "bob"


def test_users_cannot_write_status(gatepass):
    name = unique("status")
    create_request(gatepass, name)
    patch = json.dumps({"status": {"state": "Approved", "approvals": 2}})
    result = gatepass.kubectl("patch", "accessrequest", name, "--subresource=status", "--type=merge",
                              "-p", patch, user="bob", check=False)
    assert "forbidden" in refused(result).lower()
    assert get(gatepass, "accessrequest", name)["status"]["state"] == "Pending"


def test_forged_ledger_annotations_are_discarded(gatepass):
    name = unique("ledger")
    create_request(gatepass, name)
    key = "review.gatepass.dev/" + hashlib.sha256(b"alice").hexdigest()[:16]
    forged = json.dumps({"reviewer": "alice", "groups": ["dba-leads"], "decision": "Approve",
                         "reason": "forged", "time": "2026-01-01T00:00:00Z"})
    gatepass.kubectl("annotate", "accessrequest", name, f"{key}={forged}", user="bob", check=False)
    body = get(gatepass, "accessrequest", name)
    assert key not in (body["metadata"].get("annotations") or {})
    assert body["status"]["approvals"] == 0

    # A genuine entry cannot be altered or removed afterwards either.
    approve(gatepass, name, "alice")
    wait_for(lambda: get(gatepass, "accessrequest", name)["status"]["approvals"] == 1, what="alice's approval")
    recorded = get(gatepass, "accessrequest", name)["metadata"]["annotations"][key]
    gatepass.kubectl("annotate", "accessrequest", name, f"{key}-", user="bob", check=False)
    gatepass.kubectl("annotate", "--overwrite", "accessrequest", name, f"{key}={forged}", user="bob", check=False)
    assert get(gatepass, "accessrequest", name)["metadata"]["annotations"][key] == recorded


def test_no_self_approval(gatepass):
    name = unique("self")
    create_request(gatepass, name)
    result = gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/approve=me", user="bob", check=False)
    assert "bob may not review own request" in refused(result)
    result = gatepass.kubectl("apply", "-f", "-", user="bob", check=False,
                              input=review_manifest(unique("rev"), name))
    assert "forbidden" in refused(result).lower()  # bob may not even create AccessReviews (RBAC)
    assert get(gatepass, "accessrequest", name)["status"]["approvals"] == 0


def test_a_non_reviewer_is_refused_and_never_counted(gatepass):
    name = unique("nonrev")
    create_request(gatepass, name)
    result = gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/approve=sure", user="carol",
                              check=False)
    assert "carol is not a reviewer under policy demo-dba" in refused(result)
    body = get(gatepass, "accessrequest", name)
    assert body["status"]["approvals"] == 0
    assert not [k for k in body["metadata"].get("annotations") or {} if k.startswith("review.gatepass.dev/")]


def test_each_reviewer_counts_once(gatepass):
    name = unique("once")
    create_request(gatepass, name)
    approve(gatepass, name, "alice")
    wait_for(lambda: get(gatepass, "accessrequest", name)["status"]["approvals"] == 1, what="one approval")
    again = gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/approve=again", user="alice",
                             check=False)
    assert "alice has already reviewed" in refused(again)
    via_object = gatepass.kubectl("apply", "-f", "-", user="alice", check=False,
                                  input=review_manifest(unique("rev"), name))
    assert "alice has already reviewed" in refused(via_object)
    assert get(gatepass, "accessrequest", name)["status"]["state"] == "Pending"
    assert can_i(gatepass, "bob") == "no"


def test_access_review_object_approves_with_the_reviewers_own_identity(gatepass):
    name = unique("arev")
    create_request(gatepass, name)
    approve(gatepass, name, "alice")
    review = unique("ivan-ok")
    manifest = json.loads(review_manifest(review, name, reason="looks fine"))
    manifest["spec"]["reviewer"] = {"username": "alice", "groups": ["system:masters"]}
    gatepass.kubectl("apply", "-f", "-", user="ivan", input=json.dumps(manifest))
    stored = get(gatepass, "accessreview", review)
    assert stored["spec"]["reviewer"]["username"] == "ivan"
    assert "system:masters" not in stored["spec"]["reviewer"]["groups"]
    body = wait_state(gatepass, name, "Approved")
    assert {(r["reviewer"], r["via"]) for r in body["status"]["reviews"]} == {
        ("alice", "annotation"), ("ivan", "AccessReview")}
    wait_for(lambda: can_i(gatepass, "bob") == "yes", what="bob's access")
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done", user="bob")
    wait_for(lambda: can_i(gatepass, "bob") == "no", what="access removed")


@pytest.mark.parametrize("user, roles, namespaces, duration, message", [
    ("carol", ["dba"], ["payments"], "1h", 'carol may not request role "dba"'),
    ("bob", ["cluster-admin"], ["payments"], "1h", 'bob may not request role "cluster-admin"'),
    ("bob", ["dba"], ["payments"], "720h", "duration 720h is longer than the 8h AccessPolicy demo-dba allows"),
    ("bob", ["dba"], ["kube-system"], "1h", 'role "dba" may not be bound in namespace "kube-system"'),
    ("bob", ["dba"], [], "1h", 'role "dba" may not be bound cluster-wide'),
], ids=["carol-dba", "bob-cluster-admin", "bob-30-days", "bob-other-namespace", "bob-cluster-wide"])
def test_requests_no_policy_allows_are_refused_at_admission(gatepass, user, roles, namespaces, duration, message):
    name = unique("refused")
    result = gatepass.kubectl("apply", "-f", "-", user=user, check=False,
                              input=request_manifest(name, roles=roles, namespaces=namespaces, duration=duration))
    error = refused(result)
    assert message in error
    assert len(error.splitlines()) == 1
    assert gatepass.kubectl("get", "accessrequest", name, check=False).returncode != 0


def test_a_reason_is_required(gatepass):
    result = gatepass.kubectl("apply", "-f", "-", user="bob", check=False,
                              input=request_manifest(unique("noreason"), reason=""))
    assert "requires a reason" in refused(result)


def test_denied_is_final_and_editing_grants_nothing(gatepass):
    name = unique("denied")
    create_request(gatepass, name)
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/deny=not today", user="alice")
    body = wait_state(gatepass, name, "Denied")
    assert any(c["type"] == "Denied" and c["status"] == "True" for c in body["status"]["conditions"])
    late = gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/approve=ok", user="ivan", check=False)
    assert "is Denied; reviews are accepted only while it is Pending" in refused(late)
    edit = gatepass.kubectl("patch", "accessrequest", name, "--type=merge", "-p",
                            json.dumps({"spec": {"duration": "2h"}}), user="bob", check=False)
    assert "immutable" in refused(edit) or "cannot be changed" in refused(edit)
    assert get(gatepass, "accessrequest", name)["status"]["state"] == "Denied"
    assert bindings_of(gatepass, name) == []
    assert can_i(gatepass, "bob") == "no"


def test_only_the_requester_or_an_admin_may_revoke(gatepass):
    name = unique("revoke")
    create_request(gatepass, name)
    result = gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=mine now", user="alice",
                              check=False)
    assert "alice may not revoke" in refused(result)
    result = gatepass.kubectl("delete", "accessrequest", name, user="carol", check=False)
    assert "carol may not delete" in refused(result)
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=not needed", user="admin")
    body = wait_state(gatepass, name, "Revoked")
    assert body["status"]["revokedBy"] == "admin"


def test_operator_holds_least_privilege(gatepass):
    def can(*args: str) -> str:
        return gatepass.kubectl("auth", "can-i", *args, user="operator", check=False).stdout.strip()

    assert can("bind", "clusterroles/dba") == "yes"
    assert can("bind", "clusterroles/cluster-admin") == "no"
    assert can("escalate", "clusterroles") == "no"
    assert can("get", "secrets", "-n", "payments") == "no"
    assert can("update", "accessrequests") == "no"  # it writes status only
    assert can("patch", "accessrequests", "--subresource=status") == "yes"


def test_a_role_the_operator_may_not_bind_is_never_granted_and_says_why(gatepass):
    """A policy can offer only what an administrator let the operator bind."""
    policy, name = unique("t-edit"), unique("edit")
    gatepass.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": policy},
        "spec": {"requesters": {"users": ["bob"]},
                 "roles": [{"name": "editor", "clusterRole": "edit", "namespaces": ["payments"]}],
                 "reviewers": {"users": ["alice"]}, "maxDuration": "1h"},
    }))
    try:
        create_request(gatepass, name, roles=["editor"])
        approve(gatepass, name, "alice")

        def warned() -> bool:
            out = json.loads(gatepass.kubectl("get", "events", "-n", "default", "--field-selector",
                                              f"involvedObject.name={name},reason=BindForbidden",
                                              "-o", "json").stdout)
            return bool(out["items"])

        wait_for(warned, what="a BindForbidden warning on the request")
        assert bindings_of(gatepass, name) == []
        assert can_i(gatepass, "bob", "create", "deployments") == "no"
        body = get(gatepass, "accessrequest", name)  # the decision is recorded; the access is not there
        assert body["status"]["state"] == "Approved" and body["status"]["approvals"] == 1
        assert any(c["type"] == "Granted" and c["status"] == "False" and c["reason"] == "BindForbidden"
                   for c in body["status"]["conditions"])
    finally:
        gatepass.kubectl("delete", "accessrequest", name, check=False)
        gatepass.kubectl("delete", "accesspolicy", policy)


def test_reviews_of_an_earlier_request_of_the_same_name_never_count(gatepass):
    """bob deletes an approved request and files another of the same name: the old reviews are not his
    new request's, and they go with the request they were made for."""
    name = unique("namesake")
    create_request(gatepass, name)
    for reviewer in ("alice", "ivan"):
        gatepass.kubectl("apply", "-f", "-", user=reviewer,
                         input=review_manifest(f"{name}-{reviewer}", name, reason="for the first one"))
    first = wait_state(gatepass, name, "Approved")
    stored = get(gatepass, "accessreview", f"{name}-alice")
    assert stored["metadata"]["labels"]["gatepass.dev/request-uid"] == first["metadata"]["uid"]
    assert stored["metadata"]["ownerReferences"][0]["uid"] == first["metadata"]["uid"]

    gatepass.kubectl("delete", "accessrequest", name, "--wait=true", user="bob")
    create_request(gatepass, name)  # at once, while the old reviews may still be there
    second = get(gatepass, "accessrequest", name)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    # The old reviews may still be there (the garbage collector deletes them in its own time): they don't count,
    # and alice may review the new request afresh.
    body = get(gatepass, "accessrequest", name)
    assert body["status"]["state"] == "Pending" and body["status"].get("approvals", 0) == 0
    assert can_i(gatepass, "bob") == "no"
    gatepass.kubectl("apply", "-f", "-", user="alice",
                     input=review_manifest(f"{name}-alice-2", name, reason="for the second one"))
    body = wait_for(lambda: (b := get(gatepass, "accessrequest", name))["status"].get("approvals") == 1 and b,
                    what="alice's new review to count")
    assert [r["reason"] for r in body["status"]["reviews"]] == ["for the second one"]
    assert body["status"]["state"] == "Pending"
    # The old ones go with the request they were made for (the collector looks at new kinds every 30 s).
    wait_for(lambda: f"{name}-ivan" not in gatepass.kubectl("get", "accessreviews", "-o", "name").stdout,
             timeout=90, interval=1, what="the garbage collector to delete the old reviews")
    gatepass.kubectl("delete", "accessrequest", name, user="bob")
