"""Which policy governs a request, while policies are added, edited and deleted under it: admission and the
reconciler give the same answer (gatepass.core.policy.governing_policy) at every step.

A request is decided under the policy recorded for it (status.policy): the first by name that allowed it
when it was filed, kept while it exists and allows the request, so a policy added later takes nothing over.
Pending, it moves to the first that allows it only when its own is gone or no longer allows it; Approved, it
stays under the policy that approved it, and is withdrawn when that policy goes, even if another would allow
it. Each step checks both sides: the review admission accepts or refuses, with real users
through kubectl, and the policy and reviews the operator records in the request's status.

Each test has policies of its own offering a role of its own in a fresh namespace, so that no other policy
can govern its requests. Their names fix the order: ``t-gov-a-*`` < ``t-gov-m-*`` < ``t-gov-z-*``.
"""

from __future__ import annotations

import json

import pytest

from .helpers import get, policy_body, refused, request_manifest, review_manifest, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

REVIEW_HOOK = 'admission webhook "validate-accessreview.gatepass.dev" denied the request: '
REQUEST_HOOK = 'admission webhook "validate-accessrequest.gatepass.dev" denied the request: '


@pytest.fixture
def governed(gatepass, namespace):
    """(apply(name, reviewers, approvals=1), delete(name), file() -> request name), for a role of the test's own
    in ``namespace``; every policy applied is deleted afterwards."""
    role, made = unique("gov"), []

    def apply(name: str, reviewers: list[str], approvals: int = 1) -> None:
        spec = {"reviewers": {"users": reviewers}, "thresholds": [{"name": "leads", "approvals": approvals}]}
        gatepass.kubectl("apply", "-f", "-", input=json.dumps(policy_body(name, role, (namespace,), **spec)))
        if name not in made:
            made.append(name)

    def delete(name: str) -> None:
        gatepass.kubectl("delete", "accesspolicy", name)

    def file() -> str:
        name = unique("bob-gov")
        gatepass.kubectl("apply", "-f", "-", user="bob",
                         input=request_manifest(name, roles=[role], namespaces=[namespace], duration="30m"))
        wait_state(gatepass, name, "Pending")
        return name

    yield apply, delete, file
    for name in made:
        gatepass.kubectl("delete", "accesspolicy", name, "--ignore-not-found", check=False)


def status(gatepass, request: str) -> dict:
    return get(gatepass, "accessrequest", request).get("status") or {}


def settled(gatepass, request: str, policy: str, counted: list[str], approvals: str = "", state: str = "Pending"):
    """Waits until the operator records ``request`` as decided under ``policy``, counting the reviews of
    ``counted`` and, while Pending, the approvals summary ``approvals`` ("leads: 1 of 2
    approvals")."""
    def done():
        now = status(gatepass, request)
        reviewers = [r["reviewer"] for r in now.get("reviews") or ()]
        message = next((c["message"] for c in now.get("conditions") or () if c["type"] == "Approved"), "")
        # Reviews made within the same second are ordered by source, not by when they were made.
        return (now.get("state") == state and now.get("policy") == policy and sorted(reviewers) == sorted(counted)
                and (not approvals or message == approvals) and now)
    try:
        return wait_for(done, timeout=30, what=f"{request} under {policy} counting {counted} ({approvals or state})")
    except AssertionError as error:
        raise AssertionError(f"{error}; status: {json.dumps(status(gatepass, request))}") from None


def review(gatepass, request: str, user: str):
    """``user`` reviews ``request`` with an AccessReview; kubectl's result."""
    return gatepass.kubectl("create", "-f", "-", user=user, check=False,
                            input=review_manifest(unique(f"{user}-gov"), request))


def annotate(gatepass, request: str, user: str):
    """``user`` approves ``request`` with the annotation; kubectl's result."""
    return gatepass.kubectl("annotate", "accessrequest", request, f"gatepass.dev/approve=by {user}", user=user,
                            check=False)


def refusal(result) -> str:
    line = refused(result)
    assert "\n" not in line, line
    return line


def test_admission_and_the_reconciler_agree_while_policies_change_under_a_pending_request(gatepass, governed):
    apply, delete, file = governed
    first, later, earlier = unique("t-gov-m"), unique("t-gov-z"), unique("t-gov-a")

    apply(first, ["alice", "ivan"], approvals=2)
    request = file()
    settled(gatepass, request, first, [], "leads: 0 of 2 approvals")

    # A policy later by name that also allows the request governs nothing while the first does: its
    # reviewer is refused by admission, and the reconciler keeps counting under the first.
    apply(later, ["review-bot"])
    assert refusal(review(gatepass, request, "review-bot")).endswith(
        f"{REVIEW_HOOK}review-bot is not a reviewer under policy {first}")
    settled(gatepass, request, first, [], "leads: 0 of 2 approvals")

    # A reviewer under the governing policy is accepted and counted.
    review(gatepass, request, "alice")
    settled(gatepass, request, first, ["alice"], "leads: 1 of 2 approvals")

    # The governing policy is edited: a threshold raised and a reviewer added. Both sides follow the edit.
    apply(first, ["alice", "ivan", "dave"], approvals=3)
    settled(gatepass, request, first, ["alice"], "leads: 1 of 3 approvals")
    assert annotate(gatepass, request, "dave").returncode == 0
    settled(gatepass, request, first, ["alice", "dave"], "leads: 2 of 3 approvals")

    # A reviewer is removed: their review stops counting, and another one of theirs is refused.
    apply(first, ["ivan", "dave"], approvals=2)
    settled(gatepass, request, first, ["dave"], "leads: 1 of 2 approvals")
    assert refusal(annotate(gatepass, request, "alice")).endswith(
        f"{REQUEST_HOOK}alice has already reviewed AccessRequest {request}")
    assert refusal(review(gatepass, request, "alice")).endswith(
        f"{REVIEW_HOOK}alice has already reviewed AccessRequest {request}")

    # A policy earlier by name that also allows the request takes nothing over: the request stays under the
    # policy recorded for it. The newcomer's reviewer is refused and not counted; the recorded policy's
    # reviewers go on, and approve it under it.
    apply(earlier, ["review-bot"])
    assert refusal(review(gatepass, request, "review-bot")).endswith(
        f"{REVIEW_HOOK}review-bot is not a reviewer under policy {first}")
    settled(gatepass, request, first, ["dave"], "leads: 1 of 2 approvals")
    assert review(gatepass, request, "ivan").returncode == 0
    settled(gatepass, request, first, ["dave", "ivan"], state="Approved")

    # Approved, it stays under the policy that approved it: deleting another changes nothing, and no
    # review is taken any more.
    delete(earlier)
    assert refusal(review(gatepass, request, "review-bot")).endswith(
        f"{REVIEW_HOOK}AccessRequest {request} is Approved; reviews are accepted only while it is Pending")
    assert status(gatepass, request)["policy"] == first

    # Its policy deleted, the grant is withdrawn, though the later policy would allow the same request.
    delete(first)
    body = wait_state(gatepass, request, "Revoked", timeout=30)
    assert body["status"]["revokedBy"] == "gatepass:policy"
    assert body["status"]["policy"] == first


def test_a_pending_request_moves_to_the_next_policy_when_its_own_is_deleted_and_is_denied_without_one(
        gatepass, governed):
    apply, delete, file = governed
    first, later = unique("t-gov-m"), unique("t-gov-z")
    apply(first, ["alice", "ivan"], approvals=2)
    apply(later, ["review-bot", "ivan"], approvals=2)
    request = file()
    review(gatepass, request, "alice")
    settled(gatepass, request, first, ["alice"], "leads: 1 of 2 approvals")

    delete(first)
    # Under the later policy alice is no reviewer: her review is not counted, and ivan's is.
    settled(gatepass, request, later, [], "leads: 0 of 2 approvals")
    assert refusal(review(gatepass, request, "alice")).endswith(
        f"{REVIEW_HOOK}alice has already reviewed AccessRequest {request}")
    assert review(gatepass, request, "ivan").returncode == 0
    settled(gatepass, request, later, ["ivan"], "leads: 1 of 2 approvals")

    delete(later)
    body = wait_state(gatepass, request, "Denied", timeout=30)
    assert next(c for c in body["status"]["conditions"] if c["type"] == "Denied")["reason"] == "NoPolicy"
    assert refusal(review(gatepass, request, "review-bot")).endswith(
        f"{REVIEW_HOOK}AccessRequest {request} is Denied; reviews are accepted only while it is Pending")
