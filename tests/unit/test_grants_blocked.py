"""Whether a grant's bindings can be made, and what decide() does when they cannot.

The pure half of issue 11 items 2 and 4: what the operator must ask before it binds (BindTarget), how the
answers and API errors become reasons (BindBlock), the warnings policy admission gives, and a grant that is
approved but cannot be bound: its reviews and decision are recorded, Granted is False with the reason, the
audit event comes once per cause, nothing of the grant is bound, and it is bound once nothing blocks it.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from gatepass.core.conditions import BIND_FORBIDDEN, BLOCKED_REASONS, NAMESPACE_NOT_FOUND, ROLE_NOT_FOUND
from gatepass.core.grants import (OPERATOR_BIND_ROLE, BindBlock, BindingRef, BindTarget, bind_targets,
                                  bind_warnings, binding_name, blocked, blocked_by_api_error, desired_bindings,
                                  first_block, manifest_target, render_binding, role_targets)
from gatepass.core.lifecycle import Event, State
from gatepass.core.reconcile import decide
from gatepass.core.types import RequestableRole

from .core_factories import approve, at, dba_policy, dba_request, revoke
from .test_reconcile import Cluster as _Cluster

CLUSTER_DBA = BindTarget("ClusterRole", "dba", "payments")


class Cluster(_Cluster):
    """The request's world, plus what the operator found it cannot bind."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.blocked: dict[BindingRef, BindBlock] = {}

    def decide(self, now):
        return decide(self.request, self.policy, list(self.reviews), self.revocation, copy.deepcopy(self.status),
                      [copy.deepcopy(m) for m in self.bindings.values()], now, blocked=dict(self.blocked))

    def block(self, namespace: str, block: BindBlock, role: str = "dba") -> BindingRef:
        ref = BindingRef("RoleBinding", namespace, binding_name(self.request, role, namespace))
        self.blocked[ref] = block
        return ref


def reasons(plan):
    return [event.reason for event in plan.events]


NO_NAMESPACE = blocked(CLUSTER_DBA, namespace_exists=False, role_exists=True, may_bind=True)
NO_BIND = blocked(CLUSTER_DBA, namespace_exists=True, role_exists=True, may_bind=False)


# -- what is asked, and what the answers mean ------------------------------------------------------------------

def test_a_binding_is_authorized_on_its_role_in_its_namespace():
    request = dba_request(roles=("dba", "deployer", "view"), namespaces=("payments",))
    targets = [b.target for b in desired_bindings(request, dba_policy())]
    assert targets == [BindTarget("ClusterRole", "dba", "payments"), BindTarget("Role", "deployer", "payments"),
                       BindTarget("ClusterRole", "view", "payments")]
    assert [t.resource for t in targets] == ["clusterroles", "roles", "clusterroles"]
    cluster_wide = desired_bindings(dba_request(roles=("view",), namespaces=()), dba_policy())
    assert [b.target for b in cluster_wide] == [BindTarget("ClusterRole", "view", "")]
    assert cluster_wide[0].target.describe() == "ClusterRole view cluster-wide"


def test_the_target_of_a_manifest_is_the_target_of_its_binding():
    request = dba_request(roles=("dba", "deployer"), namespaces=("payments", "billing"))
    for binding in desired_bindings(request, dba_policy()):
        assert manifest_target(render_binding(binding, request.name, request.uid)) == binding.target
    [view] = desired_bindings(dba_request(roles=("view",), namespaces=()), dba_policy())
    assert manifest_target(render_binding(view, "r", "u")) == BindTarget("ClusterRole", "view", "")


def test_every_place_a_policy_may_bind_is_asked_about_once():
    policy = dba_policy(roles=(
        RequestableRole("dba", "ClusterRole", "dba", ("payments", "billing", "payments")),
        RequestableRole("view", "ClusterRole", "view", ("payments",), cluster_wide=True),
        RequestableRole("deployer", "Role", "deployer", ("payments",), cluster_wide=True),  # a Role: never cluster-wide
        RequestableRole("also-dba", "ClusterRole", "dba", ("payments",)),
    ))
    assert bind_targets(policy) == (
        BindTarget("ClusterRole", "dba", "payments"), BindTarget("ClusterRole", "dba", "billing"),
        BindTarget("ClusterRole", "view", "payments"), BindTarget("ClusterRole", "view", ""),
        BindTarget("Role", "deployer", "payments"),
    )
    assert role_targets(policy.roles[0]) == (BindTarget("ClusterRole", "dba", "payments"),
                                             BindTarget("ClusterRole", "dba", "billing"))


@pytest.mark.parametrize("namespace, role, bind, reason", [
    (True, True, True, None),
    (False, True, True, NAMESPACE_NOT_FOUND),
    (False, False, False, NAMESPACE_NOT_FOUND),  # a Role in a missing namespace is missing too: the namespace first
    (True, False, True, ROLE_NOT_FOUND),
    (True, False, False, ROLE_NOT_FOUND),
    (True, True, False, BIND_FORBIDDEN),
])
def test_what_blocks_a_binding_is_said_in_order(namespace, role, bind, reason):
    block = blocked(CLUSTER_DBA, namespace_exists=namespace, role_exists=role, may_bind=bind)
    assert (block.reason if block else None) == reason


def test_the_messages_name_what_is_missing_or_forbidden():
    assert NO_NAMESPACE.message == "namespace payments does not exist"
    assert blocked(CLUSTER_DBA, namespace_exists=True, role_exists=False, may_bind=True).message == \
        "ClusterRole dba does not exist"
    assert blocked(BindTarget("Role", "deployer", "payments"), namespace_exists=True, role_exists=False,
                   may_bind=True).message == "Role deployer does not exist in namespace payments"
    assert NO_BIND.message == ("the operator may not bind ClusterRole dba in namespace payments (an administrator "
                               f"allows it with a bind rule aggregated into {OPERATOR_BIND_ROLE})")
    cluster = BindTarget("ClusterRole", "view", "")
    assert blocked(cluster, namespace_exists=False, role_exists=True, may_bind=True) is None  # no namespace to need
    assert "cluster-wide" in blocked(cluster, namespace_exists=True, role_exists=True, may_bind=False).message


@pytest.mark.parametrize("status, kind, reason", [
    (403, "", BIND_FORBIDDEN),
    (403, "rolebindings", BIND_FORBIDDEN),
    (404, "namespaces", NAMESPACE_NOT_FOUND),
    (404, "clusterroles", ROLE_NOT_FOUND),
    (404, "roles", ROLE_NOT_FOUND),
    (404, "", None),
    (409, "rolebindings", None),
    (422, "", None),
    (500, "", None),
    (503, "namespaces", None),
])
def test_api_errors_on_creating_a_binding_map_to_reasons_or_stay_errors(status, kind, reason):
    block = blocked_by_api_error(CLUSTER_DBA, status, kind)
    assert (block.reason if block else None) == reason


def test_a_cluster_role_binding_has_no_namespace_to_miss():
    assert blocked_by_api_error(BindTarget("ClusterRole", "view", ""), 404, "namespaces") is None


def test_a_block_has_a_known_reason_and_the_first_is_by_their_order():
    with pytest.raises(ValueError, match="NamespaceNotFound, RoleNotFound, BindForbidden"):
        BindBlock("Forbidden", "no")
    role = BindBlock(ROLE_NOT_FOUND, "r")
    assert first_block([NO_BIND, role, NO_NAMESPACE]) == NO_NAMESPACE
    assert first_block([NO_BIND, role]) == role
    assert first_block([]) is None
    assert BLOCKED_REASONS == (NAMESPACE_NOT_FOUND, ROLE_NOT_FOUND, BIND_FORBIDDEN)


def test_policy_admission_warns_once_per_role_the_operator_may_not_bind():
    policy = dba_policy()
    targets = bind_targets(policy)
    assert bind_warnings(policy, {target: True for target in targets}) == []
    assert bind_warnings(policy, {}) == []  # nothing known, nothing said
    answers = {target: target.role_name != "view" and target.namespace != "billing" for target in targets}
    assert bind_warnings(policy, answers) == [
        'role "dba": the operator may not bind ClusterRole dba (billing); requests for it will be approved but '
        f"not granted until an administrator allows it in {OPERATOR_BIND_ROLE}",
        'role "view": the operator may not bind ClusterRole view (payments, cluster-wide); requests for it will be '
        f"approved but not granted until an administrator allows it in {OPERATOR_BIND_ROLE}",
    ]


# -- decide(): approved, but not bound -------------------------------------------------------------------------

def approved_but_blocked(block: BindBlock = NO_NAMESPACE, **request):
    cluster = Cluster(dba_request(**request) if request else None)
    cluster.block("payments", block)
    cluster.reviews.append(approve("alice", at(60), "LGTM"))
    return cluster, cluster.reconcile(at(61))


def test_an_approval_that_cannot_be_bound_records_the_reviews_and_the_decision():
    cluster, plan = approved_but_blocked()
    assert plan.state is State.Approved
    assert plan.transitions == (Event.Review, Event.Approve)  # no Start: nothing was bound
    assert reasons(plan) == ["Reviewed", "Approved", NAMESPACE_NOT_FOUND]
    assert plan.events[-1].type == "Warning"
    assert plan.events[-1].message == ("Could not grant dba in payments to bob: namespace payments does not exist; "
                                       "nothing is bound until it can be")
    assert plan.status["approvals"] == 1 and [r["reviewer"] for r in plan.status["reviews"]] == ["alice"]
    assert cluster.condition("Approved")["status"] == "True"
    granted = cluster.condition("Granted")
    assert (granted["status"], granted["reason"]) == ("False", NAMESPACE_NOT_FOUND)
    assert granted["message"] == ("Not bound: namespace payments does not exist. Retrying until it can be, or until "
                                  "2026-03-01T11:01:01Z")
    assert plan.bindings_to_apply == () and cluster.bindings == {}
    assert plan.blocked == (plan.events[-1],)  # to count at every try
    assert plan.wake_at == at(61, hours=1)
    assert plan.status["bindings"]  # the grant is fixed at approval, as always


def test_retrying_with_the_same_cause_says_nothing_new_but_still_counts():
    cluster, _ = approved_but_blocked()
    for seconds in (62, 70, 100):
        plan = cluster.reconcile(at(seconds))
        assert plan.events == () and plan.transitions == ()
        assert [cause.reason for cause in plan.blocked] == [NAMESPACE_NOT_FOUND]
        assert cluster.condition("Granted")["lastTransitionTime"] == "2026-03-01T10:01:01Z"


def test_a_new_cause_is_said_once():
    cluster, _ = approved_but_blocked()
    cluster.block("payments", NO_BIND)
    plan = cluster.reconcile(at(90))
    assert reasons(plan) == [BIND_FORBIDDEN]
    assert cluster.condition("Granted")["reason"] == BIND_FORBIDDEN


def test_once_nothing_blocks_it_the_grant_starts():
    cluster, _ = approved_but_blocked()
    cluster.blocked.clear()
    plan = cluster.reconcile(at(120))
    assert plan.transitions == (Event.Start,)
    assert reasons(plan) == ["Granted"]
    assert [m["metadata"]["namespace"] for m in plan.bindings_to_apply] == ["payments"]
    assert cluster.condition("Granted")["status"] == "True" and plan.blocked == ()
    assert cluster.status["expiresAt"] == "2026-03-01T11:01:01Z"  # the approved window, not a new one


def test_a_grant_is_bound_whole_or_not_at_all():
    cluster = Cluster(dba_request(namespaces=("payments", "billing")))
    cluster.block("billing", blocked(BindTarget("ClusterRole", "dba", "billing"), namespace_exists=False,
                                     role_exists=False, may_bind=True))
    cluster.reviews.append(approve("alice", at(60)))
    plan = cluster.reconcile(at(61))
    assert plan.bindings_to_apply == ()
    assert cluster.condition("Granted")["message"].startswith("Not bound: namespace billing does not exist.")

    # What an earlier try bound of it goes again.
    payments = render_binding(desired_bindings(cluster.request, cluster.policy)[0], cluster.request.name,
                              cluster.request.uid)
    cluster.bindings[BindingRef("RoleBinding", "payments", payments["metadata"]["name"])] = payments
    plan = cluster.reconcile(at(62))
    assert [ref.namespace for ref in plan.bindings_to_delete] == ["payments"]
    assert [(e.reason, e.message) for e in plan.events] == [
        ("Removed", f"Deleted RoleBinding payments/{payments['metadata']['name']}: the grant cannot be bound whole "
                    "(namespace billing does not exist)")]


def test_several_causes_name_the_first_and_count_each():
    cluster = Cluster(dba_request(roles=("dba", "deployer", "view"), namespaces=("payments",)))
    cluster.block("payments", NO_BIND)
    cluster.block("payments", BindBlock(ROLE_NOT_FOUND, "Role deployer does not exist in namespace payments"),
                  role="deployer")
    cluster.block("payments", BindBlock(BIND_FORBIDDEN, "the operator may not bind ClusterRole view"), role="view")
    cluster.reviews.append(approve("alice", at(60)))
    plan = cluster.reconcile(at(61))
    assert cluster.condition("Granted")["reason"] == ROLE_NOT_FOUND
    assert cluster.condition("Granted")["message"].startswith(
        "Not bound: Role deployer does not exist in namespace payments; the operator may not bind ClusterRole dba")
    assert [cause.reason for cause in plan.blocked] == [ROLE_NOT_FOUND, BIND_FORBIDDEN]  # one Event per cause
    assert plan.blocked[1].message.count("the operator may not bind") == 2
    assert reasons(plan)[-1] == ROLE_NOT_FOUND and plan.events[-1] == plan.blocked[0]  # the audit line: the first


def test_a_block_on_a_binding_not_in_the_grant_is_ignored():
    cluster = Cluster()
    cluster.blocked[BindingRef("RoleBinding", "billing", "gatepass-other-00000000")] = NO_NAMESPACE
    cluster.reviews.append(approve("alice", at(60)))
    plan = cluster.reconcile(at(61))
    assert cluster.condition("Granted")["status"] == "True" and plan.blocked == ()


def test_a_grant_waiting_for_its_start_is_not_blocked_yet():
    cluster = Cluster(dba_request(start_time=at(hours=2)))
    cluster.block("payments", NO_BIND)
    cluster.reviews.append(approve("alice", at(60)))
    plan = cluster.reconcile(at(61))
    assert cluster.condition("Granted")["reason"] == "WaitingForStart" and plan.blocked == ()


def test_a_blocked_grant_ends_at_its_time_and_can_be_revoked():
    cluster, _ = approved_but_blocked()
    plan = cluster.reconcile(at(61, hours=1))
    assert plan.state is State.Expired and plan.blocked == ()

    cluster, _ = approved_but_blocked(NO_BIND)
    cluster.revocation = revoke("bob", at(100))
    plan = cluster.reconcile(at(101))
    assert plan.state is State.Revoked and plan.blocked == ()
    assert cluster.condition("Granted")["reason"] == "Revoked"


def test_a_live_grant_that_lost_a_binding_it_cannot_restore_is_no_longer_granted():
    cluster = Cluster(dba_request(namespaces=("payments", "billing")))
    cluster.reviews.append(approve("alice", at(60)))
    cluster.reconcile(at(61))
    assert cluster.condition("Granted")["status"] == "True" and len(cluster.bindings) == 2
    billing = next(ref for ref in cluster.bindings if ref.namespace == "billing")
    del cluster.bindings[billing]  # the namespace was deleted, and its bindings with it
    cluster.block("billing", blocked(BindTarget("ClusterRole", "dba", "billing"), namespace_exists=False,
                                     role_exists=False, may_bind=True))
    plan = cluster.reconcile(at(120))
    assert reasons(plan) == [NAMESPACE_NOT_FOUND, "Removed"]
    assert cluster.bindings == {} and cluster.condition("Granted")["reason"] == NAMESPACE_NOT_FOUND
    cluster.blocked.clear()
    plan = cluster.reconcile(at(130))
    assert plan.transitions == (Event.Start,) and len(cluster.bindings) == 2
    assert plan.wake_at == at(61, hours=1)


def test_the_duration_still_counts_from_the_approval():
    cluster, plan = approved_but_blocked(duration=timedelta(minutes=5))
    assert plan.wake_at == at(61, minutes=5)
