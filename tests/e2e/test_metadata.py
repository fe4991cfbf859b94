"""A request's and a review's metadata are part of the record: who may change which part, proven with real users.

The class of problem: anybody with `patch` on AccessRequests (every requester and
every reviewer) could change another user's request through its metadata, e.g. an
ownerReference to an owner that does not exist, which has the garbage collector
delete the request and end its grant. Each protected part is tried by each kind of
user who is not the requester; the grant must survive every attempt.
"""

from __future__ import annotations

import json

import pytest

from .helpers import approve, can_i, create_request, get, refused, review_manifest, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

GHOST_OWNER = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}

# One write per protected part of metadata, as a merge patch.
TAMPERING = {
    "labels": {"metadata": {"labels": {"ticket": "INC-0"}}},
    "annotations": {"metadata": {"annotations": {"note": "approved already, trust me"}}},
    "ownerReferences": {"metadata": {"ownerReferences": [GHOST_OWNER]}},
    "finalizers": {"metadata": {"finalizers": ["example.com/never"]}},
}


@pytest.fixture(scope="module")
def live_grant(gatepass):
    """bob's approved, live request for dba in payments."""
    name = unique("meta")
    create_request(gatepass, name)
    approve(gatepass, name, "alice", "ivan")
    wait_for(lambda: can_i(gatepass, "bob") == "yes", timeout=30, what="bob's grant")
    yield name
    gatepass.kubectl("delete", "accessrequest", name, "--wait=false", check=False)


@pytest.mark.parametrize("part", list(TAMPERING))
@pytest.mark.parametrize("user", ["dave", "carol", "alice"])
def test_nobody_but_the_requester_or_an_admin_changes_a_requests_metadata(gatepass, live_grant, part, user):
    before = get(gatepass, "accessrequest", live_grant)
    result = gatepass.kubectl("patch", "accessrequest", live_grant, "--type=merge",
                              "-p", json.dumps(TAMPERING[part]), user=user, check=False)
    line = refused(result)
    assert line.endswith(f"{user} may not change the {part} of AccessRequest {live_grant}: "
                         "only its requester or a Gatepass administrator may")
    assert len(line.splitlines()) == 1
    after = get(gatepass, "accessrequest", live_grant)
    assert after["metadata"].get(part) == before["metadata"].get(part)
    assert after["status"]["state"] == "Approved"
    assert can_i(gatepass, "bob") == "yes"


def test_labels_cannot_be_removed_or_changed_by_others_either(gatepass):
    name = unique("relabel")
    create_request(gatepass, name)
    gatepass.kubectl("label", "accessrequest", name, "ticket=INC-7", user="bob")
    for args in (["ticket=INC-0", "--overwrite"], ["ticket-"]):
        result = gatepass.kubectl("label", "accessrequest", name, *args, user="carol", check=False)
        assert "carol may not change the labels" in refused(result)
    assert get(gatepass, "accessrequest", name)["metadata"]["labels"]["ticket"] == "INC-7"
    # The requester and an administrator may.
    gatepass.kubectl("label", "accessrequest", name, "ticket=INC-8", "--overwrite", user="bob")
    gatepass.kubectl("label", "accessrequest", name, "audited=yes", user="admin")
    labels = get(gatepass, "accessrequest", name)["metadata"]["labels"]
    assert labels["ticket"] == "INC-8" and labels["audited"] == "yes"
    gatepass.kubectl("delete", "accessrequest", name, user="bob")


def test_the_requester_may_set_a_finalizer_and_anybody_may_finish_the_deletion(gatepass):
    name = unique("own")
    create_request(gatepass, name)
    gatepass.kubectl("patch", "accessrequest", name, "--type=merge",
                     "-p", json.dumps({"metadata": {"finalizers": ["example.com/keep"]}}), user="bob")
    # Deleting it leaves it waiting for the finalizer, which then anybody with patch may remove.
    gatepass.kubectl("delete", "accessrequest", name, "--wait=false", user="bob")
    wait_for(lambda: get(gatepass, "accessrequest", name)["metadata"].get("deletionTimestamp"), what="deletion")
    gatepass.kubectl("patch", "accessrequest", name, "--type=merge",
                     "-p", json.dumps({"metadata": {"finalizers": None}}), user="dave")
    wait_for(lambda: gatepass.kubectl("get", "accessrequest", name, check=False).returncode != 0,
             what="the request to be gone")


@pytest.fixture(scope="module")
def review_patchers(gatepass):
    """RBAC letting alice and dave patch AccessReviews (no shipped role does), to show admission's own rule."""
    manifest = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "test-review-patchers"},
         "rules": [{"apiGroups": ["gatepass.dev"], "resources": ["accessreviews"], "verbs": ["patch", "update"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "test-review-patchers"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "test-review-patchers"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                      for user in ("alice", "dave")]},
    ]
    gatepass.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifest}))
    wait_for(lambda: gatepass.kubectl("auth", "can-i", "patch", "accessreviews", "--as", "dave",
                                      check=False).stdout.strip() == "yes", what="RBAC")
    yield
    gatepass.kubectl("delete", "clusterrolebinding,clusterrole", "test-review-patchers", check=False)


def test_a_reviews_tie_to_its_request_is_nobodys_to_change(gatepass, review_patchers):
    name, review = unique("rv"), unique("alice-ok")
    create_request(gatepass, name)
    gatepass.kubectl("apply", "-f", "-", user="alice", input=review_manifest(review, name))
    wait_for(lambda: get(gatepass, "accessrequest", name)["status"]["approvals"] == 1, what="alice's approval")
    stored = get(gatepass, "accessreview", review)
    tries = [
        ("label", review, "gatepass.dev/request-uid=0000", "--overwrite"),
        ("label", review, "gatepass.dev/request-uid-"),
        ("label", review, "gatepass.dev/request-"),
        ("patch", review, "--type=merge", "-p", json.dumps({"metadata": {"ownerReferences": [GHOST_OWNER]}})),
        ("patch", review, "--type=json", "-p", json.dumps([{"op": "remove", "path": "/metadata/ownerReferences"}])),
    ]
    for verb, *args in tries:
        for user in ("admin", "alice"):
            result = gatepass.kubectl(verb, "accessreview", *args, user=user, check=False)
            assert "cannot be changed, not even by an administrator" in refused(result)
    after = get(gatepass, "accessreview", review)
    assert after["metadata"]["labels"] == stored["metadata"]["labels"]
    assert after["metadata"]["ownerReferences"] == stored["metadata"]["ownerReferences"]
    assert get(gatepass, "accessrequest", name)["status"]["approvals"] == 1

    # Its other metadata is its reviewer's, or an administrator's, and nobody else's.
    result = gatepass.kubectl("annotate", "accessreview", review, "note=mine", user="dave", check=False)
    assert "dave may not change the annotations of AccessReview" in refused(result)
    gatepass.kubectl("annotate", "accessreview", review, "note=checked", user="alice")
    gatepass.kubectl("annotate", "accessreview", review, "audit=ok", user="admin")
    gatepass.kubectl("delete", "accessrequest", name, user="bob")


@pytest.mark.parametrize("key, hint", [
    ("gatepass.dev/aprove", "gatepass.dev/approve"),
    ("gatepass.dev/Approve", "gatepass.dev/approve"),
    ("gatepass.dev/denny", "gatepass.dev/deny"),
    ("gatepas.dev/approve", "gatepass.dev/approve"),
])
def test_a_misspelt_gatepass_annotation_is_refused_with_a_hint(gatepass, key, hint):
    name = unique("typo")
    create_request(gatepass, name)
    result = gatepass.kubectl("annotate", "accessrequest", name, f"{key}=looks good", user="alice", check=False)
    line = refused(result)
    assert f"unknown Gatepass annotation {key}" in line and line.endswith(f"did you mean {hint}?")
    body = get(gatepass, "accessrequest", name)
    assert key not in (body["metadata"].get("annotations") or {})
    assert body["status"]["approvals"] == 0
    gatepass.kubectl("delete", "accessrequest", name, user="bob")


def test_contradicting_annotations_in_one_write_are_refused(gatepass):
    name = unique("both")
    create_request(gatepass, name)
    result = gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/approve=yes",
                              "gatepass.dev/deny=no", user="alice", check=False)
    assert "contradict each other" in refused(result)
    body = get(gatepass, "accessrequest", name)
    assert body["status"]["approvals"] == 0 and body["status"]["denials"] == 0
    assert body["status"]["state"] == "Pending"
    # A typo on create is refused as well.
    other = unique("typo-create")
    manifest = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
                "metadata": {"name": other, "annotations": {"gatepass.dev/reason": "x"}},
                "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "1h", "reason": "r"}}
    result = gatepass.kubectl("apply", "-f", "-", user="bob", input=json.dumps(manifest), check=False)
    assert "unknown Gatepass annotation gatepass.dev/reason" in refused(result)
    gatepass.kubectl("delete", "accessrequest", name, user="bob")


def test_forged_identities_are_corrected_with_a_warning(gatepass):
    name = unique("warn")
    manifest = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "metadata": {"name": name},
                "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "1h", "reason": "r",
                         "requester": {"username": "alice", "groups": ["dba-leads"]}}}
    result = gatepass.kubectl("apply", "-f", "-", user="bob", input=json.dumps(manifest))
    assert ("Warning: spec.requester is set by admission, not by clients: 'alice' was replaced by 'bob'"
            in result.stderr)
    wait_state(gatepass, name, "Pending")

    # A forged ledger entry is dropped, and the writer is told.
    key = "review.gatepass.dev/0123456789abcdef"
    result = gatepass.kubectl("annotate", "accessrequest", name, f"{key}={{}}", user="bob")
    assert f"review ledger annotations are written only by admission; the change to {key} was undone" \
        in result.stderr
    assert key not in (get(gatepass, "accessrequest", name)["metadata"].get("annotations") or {})

    # A review written as somebody else is recorded as its real author.
    review = unique("forged-review")
    body = json.loads(review_manifest(review, name))
    body["spec"]["reviewer"] = {"username": "ivan", "groups": ["dba-leads"]}
    result = gatepass.kubectl("apply", "-f", "-", user="alice", input=json.dumps(body))
    assert "Warning: spec.reviewer is set by admission, not by clients: 'ivan' was replaced by 'alice'" \
        in result.stderr
    assert get(gatepass, "accessreview", review)["spec"]["reviewer"]["username"] == "alice"

    # Writing what is recorded gives no warning.
    result = gatepass.kubectl("label", "accessrequest", name, "team=payments", user="bob")
    assert "Warning" not in result.stderr
    gatepass.kubectl("delete", "accessrequest", name, user="bob")
