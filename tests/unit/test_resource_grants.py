"""decide() and gatepass.core.grants for resource requests: a per-grant Role holding exactly the asked rules,
bound by a binding of its name, made and removed like role bindings."""

from __future__ import annotations

from datetime import timedelta

from gatepass.core import audit
from gatepass.core.grants import (BindingRef, GrantRole, binding_from_record, desired_bindings, grant_role_name,
                                  grant_roles,
                                  is_grant_role, manifest_ref, not_held, role_accesses, role_binding, role_drift,
                                  role_of, render_binding, render_grant_role, resource_bindings)
from gatepass.core.rbac import Access, Rule
from gatepass.core.reconcile import where
from gatepass.core.resources import Ask, Bound, with_rules

from .core_factories import approve, at, dba_policy, dba_request
from .test_reconcile import Cluster

LOG = Ask("pods", ("get",), subresource="log", namespace="payments", names=("db-1",))
NODES = Ask("nodes", ("get", "list"))
BOUND = with_rules((Bound("pod-reader", ("payments",)), Bound("node-viewer", cluster_wide=True)), {
    "pod-reader": (Rule.of(("get", "list"), ("",), ("pods", "pods/log")),),
    "node-viewer": (Rule.of(("get", "list", "watch"), ("",), ("nodes",)),),
})


def policy(**changes):
    return dba_policy(resources=BOUND, **changes)


def request(*asks, **changes):
    return dba_request(roles=(), namespaces=(), resources=asks or (LOG,), **changes)


def test_grant_roles_hold_exactly_the_asks_per_namespace():
    value = request(LOG, NODES, Ask("pods", ("list",), namespace="payments"))
    roles = grant_roles(value)
    assert [(r.kind, r.namespace) for r in roles] == [("Role", "payments"), ("ClusterRole", "")]
    assert roles[0].rules == (LOG.rule, Ask("pods", ("list",), namespace="payments").rule)
    assert roles[1].rules == (NODES.rule,)
    assert roles[0].name == grant_role_name(value, "payments") != roles[1].name
    assert roles[0].name.startswith("gatepass-bob-dba-") and len(roles[0].name) <= 63
    bindings = resource_bindings(value)
    assert [(b.kind, b.namespace, b.role_kind, b.role_name, b.user) for b in bindings] == [
        ("RoleBinding", "payments", "Role", roles[0].name, "bob"),
        ("ClusterRoleBinding", "", "ClusterRole", roles[1].name, "bob")]
    assert all(is_grant_role(value, b) for b in bindings)


def test_names_differ_per_request_and_from_role_bindings():
    from gatepass.core.grants import binding_name

    assert grant_role_name(request(), "payments") != grant_role_name(request(uid="other"), "payments")
    assert grant_role_name(request(), "payments") != binding_name(request(), "dba", "payments")


def test_the_role_manifest_is_labelled_and_owned_like_a_binding():
    role = grant_roles(request())[0]
    manifest = render_grant_role(role, "bob-dba", "uid-1")
    assert manifest["kind"] == "Role" and manifest["metadata"]["namespace"] == "payments"
    assert manifest["metadata"]["labels"] == {"gatepass.dev/managed": "true", "gatepass.dev/request": "bob-dba"}
    (owner,) = manifest["metadata"]["ownerReferences"]
    assert owner["kind"] == "AccessRequest" and owner["uid"] == "uid-1" and owner["controller"]
    assert manifest["rules"] == [{"apiGroups": [""], "resources": ["pods/log"], "resourceNames": ["db-1"],
                                  "verbs": ["get"]}]
    assert manifest_ref(manifest) == BindingRef("Role", "payments", role.name)
    cluster = render_grant_role(GrantRole("ClusterRole", "", "x", (NODES.rule,)), "bob-dba", "uid-1")
    assert "namespace" not in cluster["metadata"] and manifest_ref(cluster) == BindingRef("ClusterRole", "", "x")


def test_role_drift_sees_rules_labels_and_owner_only():
    manifest = render_grant_role(grant_roles(request())[0], "bob-dba", "uid-1")
    stored = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": "7", "uid": "x"},
              "rules": [{**manifest["rules"][0], "resourceNames": ["db-1"]}]}
    assert role_drift(manifest, stored) == []
    widened = {**stored, "rules": [{**manifest["rules"][0], "resourceNames": ["db-1", "db-2"]}]}
    assert role_drift(manifest, widened) == ["rules"]
    unlabelled = {**stored, "metadata": {**stored["metadata"], "labels": {}}}
    assert role_drift(manifest, unlabelled) == ["labels"]


def test_role_of_and_accesses():
    value = request(LOG, NODES)
    binding = render_binding(resource_bindings(value)[0], "bob-dba", "u")
    role = grant_roles(value)[0]
    assert role_of(binding, value) == role.ref and role_binding(role.ref) == manifest_ref(binding)
    assert role_of(binding, request(uid="another")) is None  # another request's names
    assert role_of(render_binding(desired_bindings(dba_request(), dba_policy())[0], "bob-dba", "u"), value) is None
    assert role_accesses(render_grant_role(role, "bob-dba", "u")) == (
        Access("get", "pods/log", "", "payments", "db-1"),)
    cluster = render_grant_role(grant_roles(value)[1], "bob-dba", "u")
    assert role_accesses(cluster) == (Access("get", "nodes"), Access("list", "nodes"))


def test_not_held_names_the_access():
    block = not_held(BindingRef("Role", "payments", "r"), [Access("get", "pods/log", "", "payments", "db-1")])
    assert block.reason == "BindForbidden"
    assert block.message.startswith("the operator may not grant get pods/log db-1 in namespace payments: it does "
                                    "not hold that access itself")
    assert "resourceBounds" in block.message


def test_status_says_the_asks_and_where():
    assert where(request(LOG, NODES)) == "payments,(cluster-wide)"
    assert where(dba_request()) == "payments"
    assert where(dba_request(namespaces=())) == "(cluster-wide)"
    assert where(dba_request(resources=(Ask("pods", ("get",), namespace="billing"),))) == "payments,billing"
    assert audit.access(request(LOG, NODES)) == ("get pods/log db-1 in payments and get,list nodes (any name) "
                                                 "cluster-wide")
    assert audit.access(dba_request(resources=(LOG,))) == "dba in payments and get pods/log db-1 in payments"


def live(cluster: Cluster):
    cluster.reviews.append(approve("alice", at(1)))
    return cluster.reconcile(at(2))


def test_approval_makes_the_role_before_its_binding_and_records_the_binding():
    cluster = Cluster(request(LOG, NODES), policy())
    assert cluster.reconcile(at(0)).status["resources"] == "get pods/log db-1 in payments; get,list nodes (any name) " \
                                                          "cluster-wide"
    plan = live(cluster)
    kinds = [m["kind"] for m in plan.bindings_to_apply]
    assert kinds == ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]
    records = plan.status["bindings"]
    assert [binding_from_record(r, "bob").role_kind for r in records] == ["Role", "ClusterRole"]
    assert cluster.condition("Granted")["status"] == "True"
    assert "get pods/log db-1 in payments" in cluster.condition("Granted")["message"]


def test_mixed_roles_and_resources_are_granted_together():
    cluster = Cluster(dba_request(resources=(LOG,)), policy())
    cluster.reconcile(at(0))
    plan = live(cluster)
    assert sorted(m["kind"] for m in plan.bindings_to_apply) == ["Role", "RoleBinding", "RoleBinding"]
    roles = {m["roleRef"]["name"] for m in plan.bindings_to_apply if m["kind"] == "RoleBinding"}
    assert roles == {"dba", grant_role_name(cluster.request, "payments")}


def test_a_deleted_or_widened_role_is_restored():
    cluster = Cluster(request(), policy())
    cluster.reconcile(at(0))
    live(cluster)
    ref = grant_roles(cluster.request)[0].ref
    del cluster.bindings[ref]
    plan = cluster.reconcile(at(3))
    assert [manifest_ref(m) for m in plan.bindings_to_apply] == [ref]
    assert [e.reason for e in plan.events] == ["Restored"]
    cluster.bindings[ref]["rules"][0]["resourceNames"].append("db-2")
    plan = cluster.reconcile(at(4))
    assert plan.bindings_to_apply[0]["rules"][0]["resourceNames"] == ["db-1"]
    assert "its rules had been changed" in plan.events[0].message


def test_expiry_revocation_and_strays_remove_the_role_with_its_binding():
    cluster = Cluster(request(LOG, NODES), policy())
    cluster.reconcile(at(0))
    live(cluster)
    assert len(cluster.bindings) == 4
    plan = cluster.reconcile(at(2) + timedelta(hours=1))
    assert plan.state.value == "Expired" and cluster.bindings == {}
    assert {ref.kind for ref in plan.bindings_to_delete} == {"Role", "ClusterRole", "RoleBinding",
                                                             "ClusterRoleBinding"}


def test_an_ended_grant_deletes_its_recorded_roles_even_unlabelled():
    """A role that lost its labels is not found by them; the status record still names it."""
    cluster = Cluster(request(), policy())
    cluster.reconcile(at(0))
    live(cluster)
    cluster.bindings.clear()  # neither is found by its labels any more
    from .core_factories import revoke

    cluster.revocation = revoke("alice", at(5))
    plan = cluster.reconcile(at(5))
    role = grant_roles(cluster.request)[0]
    assert set(plan.bindings_to_delete) == {role.ref, role.binding_ref}


def test_a_role_the_operator_cannot_make_holds_the_grant():
    cluster = Cluster(request(), policy())
    cluster.reconcile(at(0))
    cluster.reviews.append(approve("alice", at(1)))
    role = grant_roles(cluster.request)[0]
    block = not_held(role.ref, [Access("get", "pods/log", "", "payments", "db-1")])
    from gatepass.core.reconcile import decide

    plan = decide(cluster.request, cluster.policy, cluster.reviews, None, cluster.status, [], at(2),
                  blocked={role.binding_ref: block})
    granted = next(c for c in plan.conditions if c["type"] == "Granted")
    assert granted["status"] == "False" and granted["reason"] == "BindForbidden"
    assert "the operator may not grant get pods/log db-1" in granted["message"]
    assert plan.bindings_to_apply == ()


def test_a_narrowed_bound_withdraws_the_grant():
    cluster = Cluster(request(), policy())
    cluster.reconcile(at(0))
    live(cluster)
    cluster.policy = dba_policy(resources=with_rules((Bound("pod-reader", ("payments",)),),
                                                     {"pod-reader": (Rule.of(("list",), ("",), ("pods",)),)}))
    plan = cluster.reconcile(at(10))
    assert plan.state.value == "Revoked" and cluster.bindings == {}
    assert "exceeds the bound" in plan.status["revokeReason"]


def test_bounds_not_read_do_not_withdraw():
    cluster = Cluster(request(), policy())
    cluster.reconcile(at(0))
    live(cluster)
    cluster.policy = dba_policy(resources=(Bound("pod-reader", ("payments",)),))  # rules unknown
    assert cluster.reconcile(at(10)).state.value == "Approved"


def test_a_request_outside_the_bound_is_denied_while_pending():
    cluster = Cluster(request(Ask("secrets", ("list",), namespace="payments")), policy())
    plan = cluster.reconcile(at(0))
    assert plan.state.value == "Denied"
    assert "list secrets (any name) in payments exceeds the bound" in cluster.condition("Denied")["message"]


def test_a_role_request_has_no_grant_roles():
    value = dba_request()
    assert grant_roles(value) == [] and resource_bindings(value) == []
    assert [b.role_kind for b in desired_bindings(value, policy())] == ["ClusterRole"]
