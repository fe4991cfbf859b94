"""decide(): scenarios run against a tiny in-memory cluster.

Every step executes the Plan like the handlers do (delete, apply, write
status) and then decides again at the same instant, asserting that the second
call changes nothing: no events, no transitions, no binding changes, the
same status and wake-up time. That is the idempotency contract, checked on
every step of every scenario.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from gatepass.core.conditions import get_condition
from gatepass.core.grants import BindingRef, binding_name, manifest_ref
from gatepass.core.lifecycle import TERMINAL, Event, State
from gatepass.core.reconcile import (CLUSTER_WIDE, HISTORY_LIMIT, HISTORY_MESSAGE_LIMIT, LISTING_LIMIT, STATUS_KEYS,
                                     Plan, bounded, decide, listing, review_record)
from gatepass.core.types import RequestableRole, Rule, Subjects, Threshold

from .core_factories import BOB, T0, approve, at, dba_policy, dba_request, deny, person, revoke, two_leads_policy

LEAD1 = person("lena", "dba-leads")
LEAD2 = person("luis", "dba-leads")
NAME = binding_name(dba_request(), "dba", "payments")
REF = BindingRef("RoleBinding", "payments", NAME)


class Cluster:
    """The request's world: status, bindings, reviews, and a revocation."""

    def __init__(self, request=None, policy=None, *, no_policy=False):
        self.request = request or dba_request()
        self.policy = None if no_policy else (policy or dba_policy())
        self.reviews = []
        self.revocation = None
        self.status = {}
        self.bindings = {}  # BindingRef -> manifest

    def decide(self, now):
        return decide(self.request, self.policy, list(self.reviews), self.revocation, copy.deepcopy(self.status),
                      [copy.deepcopy(m) for m in self.bindings.values()], now)

    def reconcile(self, now) -> Plan:
        plan = self.decide(now)
        for ref in plan.bindings_to_delete:
            self.bindings.pop(ref, None)
        for manifest in plan.bindings_to_apply:
            self.bindings[manifest_ref(manifest)] = copy.deepcopy(manifest)
        assert json.loads(json.dumps(plan.status)) == plan.status, "status must be plain JSON"
        assert list(plan.status) == [k for k in STATUS_KEYS if k in plan.status]
        self.status = copy.deepcopy(plan.status)
        again = self.decide(now)
        assert again.events == ()
        assert again.transitions == ()
        assert again.bindings_to_apply == () and again.bindings_to_delete == ()
        assert again.status == plan.status
        assert again.wake_at == plan.wake_at
        assert again.state is plan.state
        check_summary(plan)
        return plan

    def condition(self, type_):
        return get_condition(self.status.get("conditions"), type_)


def check_summary(plan: Plan) -> None:
    """What every plan's status says for tools that do not know Gatepass (see conditions.summary)."""
    true = {c["type"] for c in plan.conditions if c["status"] == "True"}
    assert ("Decided" in true) is (plan.state is not State.Pending)
    assert ("Ready" in true) is ("Granted" in true)
    assert ("Stalled" in true) is (plan.state in TERMINAL)
    assert len(true & {"Ready", "Reconciling", "Stalled"}) == 1, true
    assert plan.status["history"][0]["reason"] == "Requested"
    if plan.events:  # the plan's events are the history's latest entries, all at the same time
        latest = plan.status["history"][-len(plan.events):]
        assert [(h["type"], h["reason"], h.get("by", "")) for h in latest] == [
            (e.type, e.reason, e.by) for e in plan.events]
        assert all(e.message.startswith(h["message"].rstrip("…")) for h, e in zip(latest, plan.events))
        assert len({h["time"] for h in latest}) == 1


def reasons(plan):
    return [e.reason for e in plan.events]


# -- Pending -------------------------------------------------------------------------

def test_a_new_request_waits_for_review():
    cluster = Cluster()
    plan = cluster.reconcile(at(5))
    assert plan.state is State.Pending
    assert plan.events == () and plan.transitions == ()
    assert plan.bindings_to_apply == () and plan.bindings_to_delete == ()
    assert plan.wake_at == at(hours=1)
    waiting = {"reason": "AwaitingReview", "message": "default: 0 of 1 approvals",
               "lastTransitionTime": "2026-03-01T10:00:05Z", "observedGeneration": 1}
    assert plan.status == {
        "state": "Pending",
        "policy": "demo-dba",
        "roles": "dba",
        "namespaces": "payments",
        "conditions": [
            {"type": "Approved", "status": "False", **waiting},
            {"type": "Denied", "status": "False", "reason": "AwaitingReview", "message": "0 of 1 denials",
             "lastTransitionTime": "2026-03-01T10:00:05Z", "observedGeneration": 1},
            {"type": "Decided", "status": "False", **waiting},
            {"type": "Ready", "status": "False", **waiting},
            {"type": "Reconciling", "status": "True", **waiting},
            {"type": "Stalled", "status": "False", **waiting},
        ],
        "reviews": [],
        "approvals": 0,
        "denials": 0,
        "requestExpiresAt": "2026-03-01T11:00:00Z",
        "bindings": [],
        "history": [
            {"time": "2026-03-01T10:00:00Z", "type": "Normal", "reason": "Requested", "by": "bob",
             "message": 'bob requested dba in payments for 1h: "ticket #123"'},
        ],
        "observedGeneration": 1,
    }
    assert plan.conditions is plan.status["conditions"]


def test_a_review_short_of_the_threshold_is_recorded_once():
    cluster = Cluster(policy=two_leads_policy())
    cluster.reconcile(at(1))
    cluster.reviews.append(approve(LEAD1, at(10), "fine by me", via="AccessReview", review="rev-1"))
    plan = cluster.reconcile(at(11))
    assert plan.state is State.Pending
    assert plan.transitions == (Event.Review,)
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Reviewed", "lena approved bob's request for dba in payments (via AccessReview rev-1): \"fine by me\"")]
    assert plan.status["reviews"] == [{
        "reviewer": "lena", "groups": ["dba-leads"], "decision": "Approve", "reason": "fine by me",
        "time": "2026-03-01T10:00:10Z", "via": "AccessReview", "review": "rev-1"}]
    assert plan.status["approvals"] == 1
    assert cluster.condition("Approved")["message"] == "leads: 1 of 2 approvals"
    assert cluster.condition("Approved")["lastTransitionTime"] == "2026-03-01T10:00:01Z"

    # a second review: only it is announced
    cluster.reviews.append(approve("alice", at(20)))
    plan = cluster.reconcile(at(21))
    assert [e.message.split()[0] for e in plan.events] == ["alice"]
    assert plan.status["approvals"] == 2
    assert plan.state is State.Pending


def test_ignored_reviews_are_neither_recorded_nor_announced():
    cluster = Cluster()
    cluster.reviews += [approve(person("bob", "dba-leads"), at(10)), approve("carol", at(11))]
    plan = cluster.reconcile(at(12))
    assert plan.state is State.Pending
    assert plan.events == ()
    assert plan.status["reviews"] == [] and plan.status["approvals"] == 0


def test_one_approval_approves_and_grants_at_once():
    cluster = Cluster()
    cluster.reconcile(at(1))
    cluster.reviews.append(approve("alice", at(60), "LGTM"))
    plan = cluster.reconcile(at(61.25))
    assert plan.state is State.Approved
    assert plan.transitions == (Event.Review, Event.Approve, Event.Start)
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Reviewed", "alice approved bob's request for dba in payments (via annotation): \"LGTM\""),
        ("Approved", "Approved bob's request for dba in payments (approvals: alice)"),
        ("Granted", "Granted dba in payments to bob until 2026-03-01T11:01:01Z"),
    ]
    assert plan.status["grantedAt"] == "2026-03-01T10:01:01Z"
    assert plan.status["expiresAt"] == "2026-03-01T11:01:01Z"
    assert plan.status["bindings"] == [
        {"kind": "RoleBinding", "namespace": "payments", "name": NAME, "role": {"kind": "ClusterRole", "name": "dba"}}]
    [manifest] = plan.bindings_to_apply
    assert manifest_ref(manifest) == REF
    assert manifest["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}]
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == cluster.request.uid
    assert plan.wake_at == at(hours=1, seconds=61)
    assert [(c["type"], c["status"], c["reason"]) for c in plan.conditions] == [
        ("Approved", "True", "Approved"), ("Denied", "False", "Approved"),
        ("Decided", "True", "Approved"), ("Ready", "True", "Granted"), ("Reconciling", "False", "Granted"),
        ("Stalled", "False", "Granted"), ("Granted", "True", "Granted")]
    assert [(h["reason"], h.get("by")) for h in plan.status["history"]] == [
        ("Requested", "bob"), ("Reviewed", "alice"), ("Approved", None), ("Granted", None)]
    assert plan.status["history"][-1]["time"] == "2026-03-01T10:01:01Z"
    assert cluster.condition("Approved")["message"] == "Approved by alice"
    assert cluster.condition("Granted")["message"] == "Bound dba in payments to bob until 2026-03-01T11:01:01Z"


def test_expiry_is_cut_down_to_the_second_so_access_never_outlives_the_request():
    cluster = Cluster(request=dba_request(duration=timedelta(minutes=30)))
    cluster.reviews.append(approve("alice", at(1)))
    plan = cluster.reconcile(at(2.999999))
    assert plan.status["expiresAt"] == "2026-03-01T10:30:02Z"  # not :03
    assert plan.wake_at == at(minutes=30, seconds=2)
    assert plan.wake_at - at(2.999999) <= timedelta(minutes=30)


def test_every_bound_role_and_namespace_gets_a_binding():
    request = dba_request(roles=("dba", "deployer"), namespaces=("payments",))
    cluster = Cluster(request=request)
    cluster.reviews.append(approve("alice", at(1)))
    plan = cluster.reconcile(at(2))
    assert sorted((m["roleRef"]["kind"], m["roleRef"]["name"]) for m in plan.bindings_to_apply) == [
        ("ClusterRole", "dba"), ("Role", "deployer")]
    assert len(plan.status["bindings"]) == 2


def test_cluster_wide_grant_is_a_cluster_role_binding():
    request = dba_request(roles=("view",), namespaces=())
    cluster = Cluster(request=request)
    cluster.reviews.append(approve("alice", at(1)))
    plan = cluster.reconcile(at(2))
    [manifest] = plan.bindings_to_apply
    assert manifest["kind"] == "ClusterRoleBinding"
    assert plan.events[-1].message.startswith("Granted view cluster-wide to bob until ")


def test_a_denial_denies_and_is_final():
    cluster = Cluster()
    cluster.reviews.append(deny("ivan", at(10), "not during the freeze"))
    plan = cluster.reconcile(at(11))
    assert plan.state is State.Denied
    assert plan.transitions == (Event.Review, Event.Deny)
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Reviewed", "ivan denied bob's request for dba in payments (via annotation): \"not during the freeze\""),
        ("Denied", "Denied bob's request for dba in payments (denials: ivan)"),
    ]
    assert cluster.condition("Denied")["status"] == "True"
    assert cluster.condition("Approved")["reason"] == "Denied"
    assert plan.wake_at is None
    before = copy.deepcopy(cluster.status)
    # approvals arriving later change nothing
    cluster.reviews += [approve("alice", at(20)), approve(LEAD1, at(21))]
    plan = cluster.reconcile(at(30))
    assert plan.state is State.Denied and plan.events == ()
    assert plan.status == before


def test_approved_is_final_later_denials_change_nothing():
    cluster = Cluster()
    cluster.reviews.append(approve("alice", at(10)))
    cluster.reconcile(at(11))
    before = copy.deepcopy(cluster.status)
    cluster.reviews.append(deny("ivan", at(20)))
    plan = cluster.reconcile(at(21))
    assert plan.state is State.Approved
    assert plan.events == () and plan.bindings_to_delete == ()
    assert plan.status == before


def test_denial_and_threshold_in_the_same_batch_denies():
    cluster = Cluster()
    cluster.reviews += [approve("alice", at(10)), deny("ivan", at(11))]
    assert cluster.reconcile(at(12)).state is State.Denied


def test_no_policy_any_more_denies_a_pending_request():
    cluster = Cluster()
    cluster.reconcile(at(1))
    cluster.policy = None
    plan = cluster.reconcile(at(2))
    assert plan.state is State.Denied
    assert plan.transitions == (Event.Deny,)
    assert [(e.reason, e.type) for e in plan.events] == [("Denied", "Warning")]
    assert "no AccessPolicy allows it any more" in plan.events[0].message
    assert cluster.condition("Denied")["reason"] == "NoPolicy"
    assert plan.status["policy"] == "demo-dba"  # which policy it was under is kept
    assert plan.status["requestExpiresAt"] == "2026-03-01T11:00:00Z"


def test_a_request_with_no_policy_from_the_start_is_denied():
    plan = Cluster(no_policy=True).reconcile(at(1))
    assert plan.state is State.Denied
    assert "policy" not in plan.status and "requestExpiresAt" not in plan.status


def test_a_policy_that_no_longer_allows_it_denies_with_the_reasons():
    cluster = Cluster()
    cluster.reconcile(at(1))
    cluster.policy = dba_policy(max_duration=timedelta(minutes=30))
    cluster.reviews.append(approve("alice", at(5)))
    plan = cluster.reconcile(at(6))
    assert plan.state is State.Denied
    assert "duration 1h is longer than the 30m AccessPolicy demo-dba allows" in plan.events[0].message
    assert cluster.condition("Denied")["message"].endswith(
        "any more: duration 1h is longer than the 30m AccessPolicy demo-dba allows")


def test_a_pending_request_times_out():
    cluster = Cluster()
    cluster.reviews.append(approve(LEAD1, at(10)))
    cluster.policy = two_leads_policy()
    assert cluster.reconcile(at(11)).wake_at == at(hours=1)
    plan = cluster.reconcile(at(hours=1))
    assert plan.state is State.Expired
    assert plan.transitions == (Event.TimeOut,)
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Expired", "Expired bob's request for dba in payments: no decision before 2026-03-01T11:00:00Z")]
    assert cluster.condition("Expired")["reason"] == "RequestTimedOut"
    assert cluster.condition("Approved")["message"] == "leads: 1 of 2 approvals"
    assert plan.wake_at is None


def test_request_ttl_comes_from_the_policy():
    cluster = Cluster(policy=dba_policy(request_ttl=timedelta(minutes=15)))
    assert cluster.reconcile(at(1)).status["requestExpiresAt"] == "2026-03-01T10:15:00Z"


def test_a_review_made_before_the_timeout_but_seen_after_still_counts():
    cluster = Cluster()
    cluster.reviews.append(approve("alice", at(minutes=59)))
    plan = cluster.reconcile(at(hours=3))  # the operator was down
    assert plan.state is State.Approved
    assert plan.status["grantedAt"] == "2026-03-01T13:00:00Z"


def test_a_review_made_after_the_timeout_does_not_count():
    cluster = Cluster()
    cluster.reviews.append(approve("alice", at(hours=1, seconds=1)))
    plan = cluster.reconcile(at(hours=1, seconds=2))
    assert plan.state is State.Expired
    assert plan.status["reviews"] == []


# -- start time ---------------------------------------------------------------------

def test_a_future_start_time_waits_then_grants():
    request = dba_request(start_time=at(hours=2))
    cluster = Cluster(request=request)
    cluster.reviews.append(approve("alice", at(10)))
    plan = cluster.reconcile(at(11))
    assert plan.state is State.Approved
    assert plan.transitions == (Event.Review, Event.Approve)
    assert reasons(plan) == ["Reviewed", "Approved"]
    assert plan.bindings_to_apply == ()
    assert plan.status["grantedAt"] == "2026-03-01T12:00:00Z"
    assert plan.status["expiresAt"] == "2026-03-01T13:00:00Z"
    assert plan.status["bindings"][0]["name"] == NAME  # planned, not yet made
    assert cluster.condition("Granted")["reason"] == "WaitingForStart"
    assert cluster.condition("Granted")["message"] == "Access starts at 2026-03-01T12:00:00Z"
    assert plan.wake_at == at(hours=2)

    assert cluster.reconcile(at(hours=1)).events == ()  # still waiting
    plan = cluster.reconcile(at(hours=2))
    assert plan.transitions == (Event.Start,)
    assert reasons(plan) == ["Granted"]
    assert [manifest_ref(m) for m in plan.bindings_to_apply] == [REF]
    assert cluster.condition("Granted")["status"] == "True"
    assert cluster.condition("Granted")["lastTransitionTime"] == "2026-03-01T12:00:00Z"
    assert plan.wake_at == at(hours=3)


def test_a_start_time_in_the_past_starts_now():
    cluster = Cluster(request=dba_request(start_time=at(-60)))
    cluster.reviews.append(approve("alice", at(10)))
    plan = cluster.reconcile(at(20))
    assert plan.status["grantedAt"] == "2026-03-01T10:00:20Z"
    assert reasons(plan)[-1] == "Granted"


def test_a_start_time_with_a_fraction_is_rounded_up():
    cluster = Cluster(request=dba_request(start_time=at(100.5)))
    cluster.reviews.append(approve("alice", at(10)))
    plan = cluster.reconcile(at(20))
    assert plan.status["grantedAt"] == "2026-03-01T10:01:41Z"
    assert plan.wake_at == at(101)
    assert cluster.reconcile(at(100.9)).bindings_to_apply == ()
    assert cluster.reconcile(at(101)).bindings_to_apply != ()


def test_bindings_found_before_the_start_are_removed():
    cluster = Cluster(request=dba_request(start_time=at(hours=2)))
    cluster.reviews.append(approve("alice", at(10)))
    cluster.reconcile(at(11))
    stray = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": NAME, "namespace": "payments"}}
    cluster.bindings[REF] = stray
    plan = cluster.reconcile(at(12))
    assert plan.bindings_to_delete == (REF,)
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Removed", f"Deleted RoleBinding payments/{NAME}: access starts at 2026-03-01T12:00:00Z")]


# -- the end of access --------------------------------------------------------------

def granted_cluster(policy=None, **request_changes):
    cluster = Cluster(request=dba_request(**request_changes), policy=policy)
    cluster.reviews.append(approve("alice", at(0)))
    cluster.reconcile(at(0))
    assert cluster.bindings
    return cluster


def test_access_expires_and_the_binding_goes():
    cluster = granted_cluster()
    assert cluster.reconcile(at(minutes=59, seconds=59)).events == ()
    plan = cluster.reconcile(at(hours=1))
    assert plan.state is State.Expired
    assert plan.transitions == (Event.End,)
    assert plan.bindings_to_delete == (REF,)
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Expired", f"Expired bob's access to dba in payments at 2026-03-01T11:00:00Z; "
                    f"deleted RoleBinding payments/{NAME}")]
    assert plan.status["bindings"] == []
    assert cluster.condition("Granted")["status"] == "False"
    assert cluster.condition("Expired")["reason"] == "AccessEnded"
    assert cluster.condition("Approved")["status"] == "True"
    assert plan.wake_at is None
    assert cluster.bindings == {}


def test_restart_after_expiry_goes_straight_to_expired():
    cluster = granted_cluster()
    plan = cluster.reconcile(at(hours=5))  # the operator was down through the deadline
    assert plan.state is State.Expired
    assert plan.bindings_to_delete == (REF,)
    assert plan.bindings_to_apply == ()


def test_an_approval_seen_late_grants_the_full_duration_from_now():
    cluster = Cluster(request=dba_request(start_time=at(minutes=10)))
    cluster.reviews.append(approve("alice", at(5)))
    plan = cluster.reconcile(at(hours=4))  # the operator was down
    assert plan.state is State.Approved
    assert plan.status["grantedAt"] == "2026-03-01T14:00:00Z"
    assert plan.status["expiresAt"] == "2026-03-01T15:00:00Z"


def test_a_grant_shorter_than_a_second_ends_before_it_binds():
    cluster = Cluster(request=dba_request(duration=timedelta(milliseconds=500)))
    cluster.reviews.append(approve("alice", at(5)))
    plan = cluster.reconcile(at(6))
    assert plan.state is State.Expired
    assert plan.transitions == (Event.Review, Event.Approve, Event.End)
    assert reasons(plan) == ["Reviewed", "Approved", "Expired"]
    assert plan.bindings_to_apply == ()
    assert plan.status["grantedAt"] == plan.status["expiresAt"] == "2026-03-01T10:00:06Z"


def test_expired_deletes_recorded_bindings_even_if_they_lost_their_labels():
    cluster = granted_cluster()
    cluster.bindings.clear()  # not found by label any more
    plan = cluster.reconcile(at(hours=2))
    assert plan.bindings_to_delete == (REF,)
    assert plan.events[0].message == "Expired bob's access to dba in payments at 2026-03-01T11:00:00Z"


# -- revocation ------------------------------------------------------------------

def test_revoking_live_access():
    cluster = granted_cluster()
    cluster.revocation = revoke("alice", at(minutes=5), "incident closed")
    plan = cluster.reconcile(at(minutes=6))
    assert plan.state is State.Revoked
    assert plan.transitions == (Event.Revoke,)
    assert plan.bindings_to_delete == (REF,)
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Revoked", f"alice revoked bob's access to dba in payments: \"incident closed\"; "
                    f"deleted RoleBinding payments/{NAME}")]
    assert plan.status["revokedBy"] == "alice"
    assert plan.status["revokeReason"] == "incident closed"
    assert cluster.condition("Revoked")["message"] == "Revoked by alice: incident closed"
    assert cluster.condition("Granted")["reason"] == "Revoked"
    assert plan.status["bindings"] == []
    assert plan.wake_at is None


def test_revoking_a_pending_request():
    cluster = Cluster()
    cluster.reconcile(at(1))
    cluster.revocation = revoke("bob", at(30), "")
    plan = cluster.reconcile(at(31))
    assert plan.state is State.Revoked
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Revoked", "bob revoked bob's request for dba in payments")]
    assert cluster.condition("Approved")["reason"] == "Revoked"
    assert plan.bindings_to_delete == ()


def test_revoking_before_the_start():
    cluster = Cluster(request=dba_request(start_time=at(hours=2)))
    cluster.reviews.append(approve("alice", at(10)))
    cluster.reconcile(at(11))
    cluster.revocation = revoke("ivan", at(60))
    plan = cluster.reconcile(at(61))
    assert plan.state is State.Revoked
    assert plan.bindings_to_delete == (REF,)  # the recorded one, in case it exists
    assert plan.events[0].message == "ivan revoked bob's access to dba in payments: \"done\""


def test_revocation_made_before_expiry_but_seen_after_is_a_revocation():
    cluster = granted_cluster()
    cluster.revocation = revoke("alice", at(minutes=30))
    assert cluster.reconcile(at(hours=2)).state is State.Revoked


def test_revocation_made_after_expiry_is_an_expiry():
    cluster = granted_cluster()
    cluster.revocation = revoke("alice", at(hours=1, minutes=30))
    plan = cluster.reconcile(at(hours=2))
    assert plan.state is State.Expired
    assert "revokedBy" not in plan.status


def test_revocation_after_the_end_changes_nothing():
    cluster = granted_cluster()
    cluster.reconcile(at(hours=1))
    before = copy.deepcopy(cluster.status)
    cluster.revocation = revoke("alice", at(hours=2))
    plan = cluster.reconcile(at(hours=2))
    assert plan.state is State.Expired and plan.events == () and plan.status == before


def test_revocation_wins_over_a_request_timeout_it_preceded():
    cluster = Cluster()
    cluster.revocation = revoke("bob", at(minutes=10))
    assert cluster.reconcile(at(hours=2)).state is State.Revoked


def test_revocation_of_a_pending_request_wins_over_approval():
    cluster = Cluster()
    cluster.reviews.append(approve("alice", at(10)))
    cluster.revocation = revoke("bob", at(5))
    plan = cluster.reconcile(at(20))
    assert plan.state is State.Revoked
    assert plan.bindings_to_apply == ()


def test_a_denied_request_cannot_be_revoked():
    cluster = Cluster()
    cluster.reviews.append(deny("alice", at(10)))
    cluster.reconcile(at(11))
    cluster.revocation = revoke("alice", at(12))
    plan = cluster.reconcile(at(13))
    assert plan.state is State.Denied and plan.events == ()
    assert "revokedBy" not in plan.status


# -- hand edits to bindings ------------------------------------------------------

def test_a_deleted_binding_is_recreated_while_live():
    cluster = granted_cluster()
    manifest = copy.deepcopy(cluster.bindings[REF])
    del cluster.bindings[REF]
    plan = cluster.reconcile(at(minutes=10))
    assert plan.state is State.Approved
    assert plan.bindings_to_apply == (manifest,)
    assert plan.bindings_to_delete == ()
    assert plan.transitions == ()
    assert [(e.reason, e.type, e.message) for e in plan.events] == [
        ("Restored", "Warning", f"Recreated RoleBinding payments/{NAME} for bob: it had been deleted")]


def test_a_binding_with_an_added_subject_is_reapplied():
    cluster = granted_cluster()
    desired = copy.deepcopy(cluster.bindings[REF])
    cluster.bindings[REF]["subjects"].append({"kind": "User", "name": "mallory"})
    plan = cluster.reconcile(at(minutes=10))
    assert plan.bindings_to_apply == (desired,)
    assert plan.bindings_to_delete == ()
    assert plan.events[0].message == f"Re-applied RoleBinding payments/{NAME} for bob: its subjects had been changed"
    assert cluster.bindings[REF] == desired


def test_a_binding_with_a_changed_role_ref_is_deleted_and_created_again():
    cluster = granted_cluster()
    desired = copy.deepcopy(cluster.bindings[REF])
    cluster.bindings[REF]["roleRef"]["name"] = "cluster-admin"
    plan = cluster.reconcile(at(minutes=10))
    assert plan.bindings_to_delete == (REF,)
    assert plan.bindings_to_apply == (desired,)
    assert "roleRef" in plan.events[0].message


def test_a_stray_binding_labelled_for_the_request_is_deleted():
    cluster = granted_cluster()
    stray_ref = BindingRef("ClusterRoleBinding", "", "gatepass-bob-dba-ffffffff")
    cluster.bindings[stray_ref] = {"kind": "ClusterRoleBinding", "metadata": {"name": stray_ref.name}}
    plan = cluster.reconcile(at(minutes=10))
    assert plan.bindings_to_delete == (stray_ref,)
    assert plan.bindings_to_apply == ()
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Removed", "Deleted ClusterRoleBinding gatepass-bob-dba-ffffffff: it is not part of the grant")]


def test_objects_that_are_not_bindings_are_ignored():
    cluster = granted_cluster()
    plan = decide(cluster.request, cluster.policy, cluster.reviews, None, cluster.status,
                  [*cluster.bindings.values(), {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}}],
                  at(minutes=10))
    assert plan.bindings_to_delete == () and plan.events == ()


@pytest.mark.parametrize("state_reached", ["pending", "denied", "expired", "revoked"])
def test_bindings_that_appear_when_no_grant_is_live_are_removed(state_reached):
    cluster = Cluster()
    if state_reached == "denied":
        cluster.reviews.append(deny("alice", at(1)))
    elif state_reached == "expired":
        cluster.reviews.append(approve("alice", at(1)))
        cluster.reconcile(at(2))
        cluster.reconcile(at(hours=2))
    elif state_reached == "revoked":
        cluster.revocation = revoke("bob", at(1))
    cluster.reconcile(at(hours=2) if state_reached == "expired" else at(3))
    cluster.bindings[REF] = {"kind": "RoleBinding", "metadata": {"name": NAME, "namespace": "payments"}}
    plan = cluster.reconcile(at(hours=2, seconds=1) if state_reached == "expired" else at(4))
    assert plan.bindings_to_delete == (REF,)
    assert [e.reason for e in plan.events] == ["Removed"]
    assert plan.transitions == ()
    assert cluster.bindings == {}


# -- the grant is fixed at approval --------------------------------------------------

def test_editing_the_request_after_approval_does_not_change_the_grant():
    cluster = granted_cluster()
    cluster.request = dba_request(roles=("dba",), namespaces=("payments", "billing"), generation=2)
    plan = cluster.reconcile(at(minutes=10))
    assert plan.bindings_to_apply == () and plan.bindings_to_delete == ()
    assert plan.status["observedGeneration"] == 2
    assert len(plan.status["bindings"]) == 1


def test_a_changed_policy_does_not_move_a_live_grant():
    cluster = granted_cluster()
    cluster.policy = dba_policy(roles=(RequestableRole("dba", "ClusterRole", "dba-v2", ("payments",)),))
    plan = cluster.reconcile(at(minutes=10))
    assert plan.bindings_to_apply == ()
    assert cluster.bindings[REF]["roleRef"]["name"] == "dba"


def test_a_status_that_lost_its_times_and_bindings_is_rebuilt_from_now():
    cluster = granted_cluster()
    for key in ("grantedAt", "expiresAt", "bindings"):
        del cluster.status[key]
    plan = cluster.reconcile(at(minutes=10))
    assert plan.state is State.Approved
    assert plan.status["expiresAt"] == "2026-03-01T11:10:00Z"
    assert plan.status["bindings"][0]["name"] == NAME
    assert plan.bindings_to_apply == ()


def test_an_approved_status_with_unreadable_bindings_is_rebuilt_from_the_policy():
    cluster = granted_cluster()
    cluster.status["bindings"] = [{"kind": "nonsense"}]
    plan = cluster.reconcile(at(minutes=10))
    assert plan.state is State.Approved
    assert plan.status["bindings"][0]["name"] == NAME
    assert plan.bindings_to_apply == () and plan.bindings_to_delete == ()


# -- the policy withdraws the grant ------------------------------------------------------

def waiting_cluster(policy=None, **request_changes):
    """Approved at 10 s, its access to start two hours later."""
    cluster = Cluster(request=dba_request(start_time=at(hours=2), **request_changes), policy=policy)
    cluster.reviews.append(approve("alice", at(10)))
    cluster.reconcile(at(11))
    assert cluster.condition("Granted")["reason"] == "WaitingForStart"
    return cluster


def test_a_deleted_policy_ends_a_live_grant():
    cluster = granted_cluster()
    cluster.policy = None
    plan = cluster.reconcile(at(minutes=10))
    assert plan.state is State.Revoked
    assert plan.transitions == (Event.Revoke,)
    assert plan.bindings_to_delete == (REF,) and not cluster.bindings
    assert [(e.reason, e.type, e.message) for e in plan.events] == [
        ("Revoked", "Warning", "Withdrew bob's access to dba in payments: AccessPolicy demo-dba no longer exists; "
                               f"deleted RoleBinding payments/{NAME}")]
    assert (plan.status["revokedBy"], plan.status["revokeReason"]) == (
        "gatepass:policy", "AccessPolicy demo-dba no longer exists")
    assert (cluster.condition("Revoked")["status"], cluster.condition("Revoked")["reason"]) == ("True",
                                                                                              "PolicyWithdrawn")
    assert cluster.condition("Revoked")["message"] == "Withdrawn: AccessPolicy demo-dba no longer exists"
    assert (cluster.condition("Granted")["status"], cluster.condition("Granted")["reason"]) == ("False",
                                                                                              "PolicyWithdrawn")
    assert cluster.condition("Granted")["message"] == "Access ended: its policy withdrew it"
    assert cluster.condition("Approved")["status"] == "True"  # it was approved: that record stays
    assert plan.status["reviews"][0]["reviewer"] == "alice"
    assert plan.status["bindings"] == [] and plan.wake_at is None
    cluster.policy = dba_policy()  # created again: a withdrawn grant stays withdrawn
    assert cluster.reconcile(at(minutes=11)).state is State.Revoked and not cluster.bindings


def test_a_future_start_grant_whose_policy_is_deleted_never_starts():
    cluster = waiting_cluster()
    cluster.policy = None
    plan = cluster.reconcile(at(minutes=30))
    assert plan.state is State.Revoked
    assert plan.transitions == (Event.Revoke,)
    assert plan.bindings_to_apply == ()
    assert plan.bindings_to_delete == (REF,)  # the recorded one, in case it exists
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Revoked", "Withdrew bob's approved request for dba in payments before it started: "
                    "AccessPolicy demo-dba no longer exists")]
    assert cluster.condition("Granted")["message"] == "Access will not start: its policy withdrew it"
    for when in (at(hours=2), at(hours=2, minutes=30), at(hours=4)):  # past its start, and past its end
        plan = cluster.reconcile(when)
        assert (plan.state, plan.transitions, plan.bindings_to_apply) == (State.Revoked, (), ())
        assert not cluster.bindings


NARROWED = {
    "requester removed": (dict(requesters=Subjects.of(groups=["contractors"])),
                          "bob or groups [developers] may not request under AccessPolicy demo-dba"),
    "role removed": (dict(roles=(RequestableRole("view", "ClusterRole", "view", ("payments",)),)),
                     'AccessPolicy demo-dba does not offer role "dba"'),
    "namespace removed": (dict(roles=(RequestableRole("dba", "ClusterRole", "dba", ("billing",)),)),
                          'role "dba" may not be bound in namespace "payments" under AccessPolicy demo-dba '
                          "(allowed: billing)"),
    "maxDuration shortened": (dict(max_duration=timedelta(minutes=30)),
                              "duration 1h is longer than the 30m AccessPolicy demo-dba allows"),
    "renamed": (dict(name="demo-dba-v2"), None),
}


@pytest.mark.parametrize("change", sorted(NARROWED))
@pytest.mark.parametrize("started", [True, False], ids=["live", "not started"])
def test_a_policy_that_stops_allowing_a_grant_withdraws_it(change, started):
    cluster = granted_cluster() if started else waiting_cluster()
    changes, error = NARROWED[change]
    cluster.policy = dba_policy(**changes)
    plan = cluster.reconcile(at(minutes=30))
    why = f"AccessPolicy demo-dba no longer allows it: {error}" if error else "AccessPolicy demo-dba no longer exists"
    assert plan.state is State.Revoked and plan.transitions == (Event.Revoke,)
    assert plan.status["revokeReason"] == why
    assert cluster.condition("Revoked")["reason"] == "PolicyWithdrawn"
    assert plan.events[0].message.endswith(f"{why}; deleted RoleBinding payments/{NAME}" if started else why)
    assert plan.bindings_to_apply == () and not cluster.bindings
    assert cluster.reconcile(at(hours=2, minutes=30)).bindings_to_apply == ()  # never (again)


def test_a_trusted_submitter_no_longer_trusted_withdraws_what_it_filed():
    ci = person("ci", "system:serviceaccounts")
    cluster = Cluster(request=dba_request(submitter=ci), policy=dba_policy(trusted_submitters=Subjects.of(["ci"])))
    cluster.reviews.append(approve("alice", at(0)))
    cluster.reconcile(at(0))
    assert cluster.bindings
    cluster.policy = dba_policy()
    plan = cluster.reconcile(at(minutes=5))
    assert plan.state is State.Revoked
    assert "ci may not file requests on behalf of bob" in plan.status["revokeReason"]


ALLOWING = {
    "another reviewer": dict(reviewers=Subjects.of(users=["carol"])),
    "more approvals": dict(thresholds=(Threshold("three", 3),)),
    "longer maxDuration": dict(max_duration=timedelta(hours=24)),
    "role bound to another ClusterRole": dict(roles=(RequestableRole("dba", "ClusterRole", "dba-v2",
                                                                     ("payments",)),)),
    "more namespaces": dict(roles=(RequestableRole("dba", "ClusterRole", "dba", ("payments", "orders")),)),
    "a reason required": dict(require_reason=True),
    "rules added": dict(rules=(Rule("no", "Deny", "true"),)),
}


@pytest.mark.parametrize("change", sorted(ALLOWING))
def test_an_edit_that_still_allows_the_grant_changes_nothing(change):
    approved_under = dba_policy(require_reason=False)  # so that the request may have no reason
    for cluster in (granted_cluster(approved_under, reason=""), waiting_cluster(approved_under, reason="")):
        started = bool(cluster.bindings)
        cluster.policy = dba_policy(**ALLOWING[change])
        plan = cluster.reconcile(at(minutes=30))
        assert plan.state is State.Approved and plan.transitions == ()
        assert plan.bindings_to_apply == () and plan.bindings_to_delete == ()
        plan = cluster.reconcile(at(minutes=50) if started else at(hours=2))  # live, or its start
        assert plan.state is State.Approved
        assert plan.transitions == (() if started else (Event.Start,))
        assert cluster.bindings[REF]["roleRef"]["name"] == "dba"  # as fixed at approval


def test_a_revocation_by_a_person_comes_before_the_withdrawal():
    cluster = granted_cluster()
    cluster.policy = None
    cluster.revocation = revoke("alice", at(minutes=5), "incident closed")
    plan = cluster.reconcile(at(minutes=6))
    assert plan.state is State.Revoked
    assert plan.status["revokedBy"] == "alice"
    assert cluster.condition("Revoked")["reason"] == "Revoked"


def test_a_grant_that_ended_before_its_policy_was_seen_gone_expired():
    cluster = granted_cluster()
    cluster.policy = None
    plan = cluster.reconcile(at(hours=3))  # the operator was down meanwhile
    assert plan.state is State.Expired
    assert cluster.condition("Expired")["reason"] == "AccessEnded"


WORLDS = {
    "pending": (lambda: Cluster(), State.Denied, "NoPolicy"),
    "approved, not started": (waiting_cluster, State.Revoked, "PolicyWithdrawn"),
    "approved, live": (granted_cluster, State.Revoked, "PolicyWithdrawn"),
}


@pytest.mark.parametrize("world", sorted(WORLDS))
def test_every_state_under_a_deleted_policy(world):
    make, state, reason = WORLDS[world]
    cluster = make()
    cluster.reconcile(at(12))
    cluster.policy = None
    plan = cluster.reconcile(at(minutes=1))
    assert plan.state is state
    assert reason in {c["reason"] for c in plan.conditions if c["status"] == "True" or c["type"] == "Granted"}
    assert not cluster.bindings


@pytest.mark.parametrize("ending", ["deny", "revoke", "expire"])
def test_an_ended_request_is_left_as_it_is_when_its_policy_goes(ending):
    cluster = Cluster()
    if ending == "deny":
        cluster.reviews.append(deny("alice", at(5)))
    elif ending == "revoke":
        cluster.revocation = revoke("bob", at(5))
    plan = cluster.reconcile(at(hours=2) if ending == "expire" else at(6))
    assert plan.state in (State.Denied, State.Revoked, State.Expired)
    before = copy.deepcopy(cluster.status)
    cluster.policy = None
    plan = cluster.reconcile(at(hours=3))
    assert (plan.events, plan.transitions, plan.status) == ((), (), before)


# -- inputs ---------------------------------------------------------------------

def test_status_none_is_an_empty_status():
    plan = decide(dba_request(), dba_policy(), [], None, None, [], at(1))
    assert plan.state is State.Pending


def test_an_unreadable_state_starts_over_as_pending():
    plan = decide(dba_request(), dba_policy(), [], None, {"state": "Banana"}, [], at(1))
    assert plan.state is State.Pending


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="now must carry a time zone"):
        decide(dba_request(), dba_policy(), [], None, {}, [], T0.replace(tzinfo=None))


def test_the_input_status_is_not_modified():
    cluster = granted_cluster()
    status = copy.deepcopy(cluster.status)
    frozen = copy.deepcopy(status)
    decide(cluster.request, cluster.policy, cluster.reviews, revoke("x", at(1)), status, [], at(hours=2))
    assert status == frozen


def test_reviews_are_recorded_in_time_order_with_rfc3339_times():
    cluster = Cluster(policy=dba_policy(thresholds=(Threshold("three", 3),)))
    cluster.reviews += [approve("ivan", at(30.7)), approve("alice", at(20))]
    plan = cluster.reconcile(at(31))
    assert [(r["reviewer"], r["time"]) for r in plan.status["reviews"]] == [
        ("alice", "2026-03-01T10:00:20Z"), ("ivan", "2026-03-01T10:00:30Z")]
    assert "review" not in plan.status["reviews"][0]


def test_review_record():
    record = review_record(approve(person("lena", "z", "a"), at(1.5), "ok", via="AccessReview", review="r1"))
    assert record == {"reviewer": "lena", "groups": ["a", "z"], "decision": "Approve", "reason": "ok",
                      "time": "2026-03-01T10:00:01Z", "via": "AccessReview", "review": "r1"}


def test_observed_generation_follows_the_request():
    cluster = Cluster()
    cluster.reconcile(at(1))
    cluster.request = dba_request(generation=4)
    plan = cluster.reconcile(at(2))
    assert plan.status["observedGeneration"] == 4
    assert all(c["observedGeneration"] == 4 for c in plan.conditions)


def test_a_full_life_two_leads_then_expiry():
    cluster = Cluster(policy=two_leads_policy(), request=dba_request(duration=timedelta(hours=2)))
    steps = []
    cluster.reviews.append(approve(LEAD1, at(60)))
    steps.append(cluster.reconcile(at(61)))
    cluster.reviews.append(approve("alice", at(120)))  # a reviewer, but not a lead
    steps.append(cluster.reconcile(at(121)))
    cluster.reviews.append(approve(LEAD2, at(180)))
    steps.append(cluster.reconcile(at(181)))
    steps.append(cluster.reconcile(at(hours=2, seconds=181)))
    assert [p.state for p in steps] == [State.Pending, State.Pending, State.Approved, State.Expired]
    assert [reasons(p) for p in steps] == [
        ["Reviewed"], ["Reviewed"], ["Reviewed", "Approved", "Granted"], ["Expired"]]
    assert steps[2].status["approvals"] == 3
    assert steps[2].events[1].message == "Approved bob's request for dba in payments (approvals: lena, alice, luis)"
    assert cluster.bindings == {}


def test_the_requester_identity_comes_from_the_request():
    assert BOB.username == dba_request().requester.username
    cluster = Cluster()
    cluster.reviews.append(approve(person("bob", "dba-leads"), at(1)))
    assert cluster.reconcile(at(2)).state is State.Pending


def test_a_start_the_policy_no_longer_allows_is_denied_at_decision_time():
    cluster = Cluster(request=dba_request(start_time=at(hours=48)))
    assert cluster.reconcile(at(5)).state is State.Pending
    cluster.policy = dba_policy(max_start_delay=timedelta(hours=24))  # the policy was tightened meanwhile
    cluster.reviews.append(approve(LEAD1, at(10)))
    plan = cluster.reconcile(at(20))
    assert plan.state is State.Denied and plan.bindings_to_apply == ()
    assert cluster.condition("Denied")["reason"] == "NoPolicy"
    assert "is further ahead than the 24h after the request is made" in cluster.condition("Denied")["message"]


@pytest.mark.parametrize("start", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59.5Z", "9999-12-31T23:30:00Z"])
def test_a_start_at_the_end_of_time_waits_without_failing(start):
    from gatepass.core.timestamps import parse_time

    # A policy whose maxStartDelay reaches the end of the calendar.
    cluster = Cluster(request=dba_request(start_time=parse_time(start), duration=timedelta(hours=8)),
                      policy=dba_policy(max_start_delay=timedelta(days=3_000_000)))
    cluster.reviews.append(approve("alice", at(10)))
    plan = cluster.reconcile(at(11))
    assert plan.state is State.Approved and plan.bindings_to_apply == ()
    assert plan.status["expiresAt"] == "9999-12-31T23:59:59Z"  # the last time there is, not an overflow
    assert cluster.condition("Granted")["reason"] == "WaitingForStart"


# -- what tools read: Decided, Ready, Reconciling, Stalled ---------------------------

def summary_of(plan):
    return {c["type"]: (c["status"], c["reason"]) for c in plan.conditions
            if c["type"] in ("Decided", "Ready", "Reconciling", "Stalled")}


def test_a_denial_decides_and_stalls_at_once():
    cluster = Cluster()
    cluster.reconcile(at(1))
    cluster.reviews.append(deny("alice", at(5)))
    plan = cluster.reconcile(at(6))
    assert summary_of(plan) == {"Decided": ("True", "Denied"), "Ready": ("False", "Denied"),
                                "Reconciling": ("False", "Denied"), "Stalled": ("True", "Denied")}
    assert cluster.condition("Decided")["message"] == "Denied by alice"
    assert cluster.condition("Decided")["lastTransitionTime"] == "2026-03-01T10:00:06Z"


def test_a_grant_is_ready_and_stays_decided_when_it_ends():
    cluster = granted_cluster()
    assert summary_of(cluster.reconcile(at(minutes=1)))["Ready"] == ("True", "Granted")
    decided = cluster.condition("Decided")
    plan = cluster.reconcile(at(hours=2))
    assert plan.state is State.Expired
    assert summary_of(plan) == {"Decided": ("True", "Approved"), "Ready": ("False", "AccessEnded"),
                                "Reconciling": ("False", "AccessEnded"), "Stalled": ("True", "AccessEnded")}
    assert cluster.condition("Decided") == decided  # never changes once True


def test_a_timed_out_request_is_decided_by_the_timeout():
    cluster = Cluster()
    cluster.reconcile(at(1))
    plan = cluster.reconcile(at(hours=1))
    assert plan.state is State.Expired
    assert summary_of(plan)["Decided"] == ("True", "RequestTimedOut")
    assert summary_of(plan)["Stalled"] == ("True", "RequestTimedOut")


def test_a_revoked_pending_request_is_decided_by_the_revocation():
    cluster = Cluster()
    cluster.reconcile(at(1))
    cluster.revocation = revoke("bob", at(5), "not needed")
    plan = cluster.reconcile(at(6))
    assert summary_of(plan)["Decided"] == ("True", "Revoked")
    assert summary_of(plan)["Stalled"] == ("True", "Revoked")
    assert plan.status["history"][-1]["by"] == "bob"


def test_an_approval_waiting_for_its_start_is_decided_and_reconciling():
    cluster = Cluster(request=dba_request(start_time=at(hours=2)))
    cluster.reviews.append(approve("alice", at(5)))
    plan = cluster.reconcile(at(6))
    assert plan.state is State.Approved
    assert summary_of(plan) == {"Decided": ("True", "Approved"), "Ready": ("False", "WaitingForStart"),
                                "Reconciling": ("True", "WaitingForStart"), "Stalled": ("False", "WaitingForStart")}


def test_a_request_that_ended_before_these_conditions_existed_gets_them():
    cluster = Cluster()
    cluster.reviews.append(deny("alice", at(5)))
    cluster.reconcile(at(6))
    summary = {"Decided", "Ready", "Reconciling", "Stalled"}
    cluster.status["conditions"] = [c for c in cluster.status["conditions"] if c["type"] not in summary]
    plan = cluster.reconcile(at(hours=5))
    assert plan.events == ()
    assert summary_of(plan)["Decided"] == ("True", "Denied")
    assert cluster.condition("Stalled")["lastTransitionTime"] == "2026-03-01T15:00:00Z"


# -- status.history, status.roles and status.namespaces ----------------------------

def test_the_history_says_what_happened_when_and_by_whom():
    cluster = Cluster()
    cluster.reconcile(at(1))
    cluster.reviews.append(approve("alice", at(60), "LGTM"))
    cluster.reconcile(at(61))
    cluster.revocation = revoke("admin", at(minutes=5), "done early")
    cluster.reconcile(at(minutes=5))
    assert [(h["time"], h["reason"], h.get("by")) for h in cluster.status["history"]] == [
        ("2026-03-01T10:00:00Z", "Requested", "bob"),
        ("2026-03-01T10:01:01Z", "Reviewed", "alice"),
        ("2026-03-01T10:01:01Z", "Approved", None),
        ("2026-03-01T10:01:01Z", "Granted", None),
        ("2026-03-01T10:05:00Z", "Revoked", "admin"),
    ]
    assert cluster.status["history"][-1]["message"].startswith('admin revoked bob\'s access to dba in payments: '
                                                               '"done early"')


def test_a_request_filed_for_someone_says_who_filed_it():
    request = dba_request(submitter=person("system:serviceaccount:ci:deployer"), reason="")
    plan = Cluster(request=request, policy=dba_policy(
        trusted_submitters=Subjects(users=frozenset({"system:serviceaccount:ci:deployer"})))).reconcile(at(1))
    assert plan.status["history"][:1] == [{
        "time": "2026-03-01T10:00:00Z", "type": "Normal", "reason": "Requested",
        "by": "system:serviceaccount:ci:deployer",
        "message": "bob requested dba in payments for 1h (filed by system:serviceaccount:ci:deployer on bob's "
                   "behalf)"}]


def test_the_history_keeps_the_first_entry_and_the_latest():
    cluster = granted_cluster()
    for minute in range(1, HISTORY_LIMIT + 5):  # someone keeps deleting the binding
        cluster.bindings.clear()
        assert reasons(cluster.reconcile(at(minutes=minute))) == ["Restored"]
    history = cluster.status["history"]
    assert len(history) == HISTORY_LIMIT
    assert history[0]["reason"] == "Requested"
    assert history[-1]["time"] == f"2026-03-01T10:{HISTORY_LIMIT + 4:02d}:00Z"
    assert all(h["reason"] == "Restored" for h in history[1:])
    # Requested, Reviewed, Approved, Granted and the Restored ones, less the 32 kept
    assert cluster.status["historyOmitted"] == 4 + (HISTORY_LIMIT + 4) - HISTORY_LIMIT


def test_bounded_cuts_between_the_first_and_the_latest():
    entries = [{"n": n} for n in range(10)]
    assert bounded(entries, 0, limit=4) == ([{"n": 0}, {"n": 7}, {"n": 8}, {"n": 9}], 6)
    assert bounded(entries[:4], 2, limit=4) == (entries[:4], 2)


def test_a_history_message_is_cut_like_an_events():
    long = "x" * 5000
    cluster = Cluster()
    cluster.reconcile(at(1))
    cluster.reviews.append(deny("alice", at(5), long))
    cluster.reconcile(at(6))
    reviewed = cluster.status["history"][1]
    assert len(reviewed["message"]) == HISTORY_MESSAGE_LIMIT and reviewed["message"].endswith("…")


@pytest.mark.parametrize(("names", "shown"), [
    (("dba",), "dba"),
    (("dba", "view"), "dba,view"),
    (tuple(f"namespace-{n:03d}" for n in range(40)), ",".join(f"namespace-{n:03d}" for n in range(8)) + ",+32 more"),
    (("r" * 300,), "r" * (LISTING_LIMIT - len(",+1 more") - 1) + "…,+1 more"),
])
def test_listing_is_one_line_for_kubectl(names, shown):
    assert listing(names) == shown
    assert len(listing(names)) <= LISTING_LIMIT


def test_roles_and_namespaces_are_summed_up_for_the_columns():
    cluster_wide = Cluster(request=dba_request(roles=("dba", "view"), namespaces=())).reconcile(at(1))
    assert (cluster_wide.status["roles"], cluster_wide.status["namespaces"]) == ("dba,view", CLUSTER_WIDE)
    two = Cluster(request=dba_request(namespaces=("payments", "billing"))).reconcile(at(1))
    assert two.status["namespaces"] == "payments,billing"
