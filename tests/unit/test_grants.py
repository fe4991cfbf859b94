"""The bindings a request gets: names, manifests, records, and drift."""

from __future__ import annotations

import copy
import re

import pytest

from gatepass.core.grants import (Binding, BindingRef, binding_from_record, binding_name, binding_record,
                                  desired_bindings, drift, manifest_ref, render_binding, request_label)
from gatepass.core.types import RequestableRole

from .core_factories import dba_policy, dba_request

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def test_names_are_deterministic_and_distinct():
    request = dba_request()
    name = binding_name(request, "dba", "payments")
    assert name == binding_name(request, "dba", "payments")
    assert re.fullmatch(r"gatepass-bob-dba-[0-9a-f]{8}", name)
    others = {binding_name(request, "dba", "billing"), binding_name(request, "view", "payments"),
              binding_name(dba_request(uid="another-uid"), "dba", "payments")}
    assert name not in others and len(others) == 3


def test_name_uses_the_request_name_when_there_is_no_uid():
    assert binding_name(dba_request(uid=""), "dba", "payments") != binding_name(
        dba_request(uid="", name="other"), "dba", "payments")


@pytest.mark.parametrize("request_name", [
    "bob-dba", "a", "x" * 253, "Bob.DBA.request", "with.dots.and-dashes", "-.-", "9" * 60, "trailing-" + "a" * 40,
])
def test_names_are_dns_labels_of_at_most_63_characters(request_name):
    name = binding_name(dba_request(name=request_name), "dba", "payments")
    assert len(name) <= 63
    assert DNS_LABEL.fullmatch(name), name
    assert name.startswith("gatepass-")


def test_long_names_are_cut_but_stay_distinct():
    a = binding_name(dba_request(name="x" * 100, uid="1"), "dba", "payments")
    b = binding_name(dba_request(name="x" * 100, uid="2"), "dba", "payments")
    assert len(a) == 63 and a != b


def test_namespaced_request_gets_a_role_binding_per_role_and_namespace():
    request = dba_request(roles=("dba", "deployer"), namespaces=("payments", "billing"))
    policy = dba_policy()
    bindings = desired_bindings(request, policy)
    assert [(b.kind, b.namespace, b.role_kind, b.role_name, b.user) for b in bindings] == [
        ("RoleBinding", "payments", "ClusterRole", "dba", "bob"),
        ("RoleBinding", "billing", "ClusterRole", "dba", "bob"),
        ("RoleBinding", "payments", "Role", "deployer", "bob"),
        ("RoleBinding", "billing", "Role", "deployer", "bob"),
    ]
    assert [b.name for b in bindings] == [binding_name(request, r, ns) for r in ("dba", "deployer")
                                          for ns in ("payments", "billing")]


def test_cluster_wide_request_gets_one_cluster_role_binding_per_role():
    request = dba_request(roles=("view",), namespaces=())
    assert desired_bindings(request, dba_policy()) == [
        Binding("ClusterRoleBinding", "", binding_name(request, "view", ""), "ClusterRole", "view", "bob")]


def test_role_name_comes_from_the_policy_not_the_request():
    policy = dba_policy(roles=(RequestableRole("db", "ClusterRole", "postgres-admin", ("payments",)),))
    [binding] = desired_bindings(dba_request(roles=("db",)), policy)
    assert (binding.role_kind, binding.role_name) == ("ClusterRole", "postgres-admin")


def test_repeated_roles_and_namespaces_give_one_binding_each():
    request = dba_request(roles=("dba", "dba"), namespaces=("payments", "payments"))
    assert len(desired_bindings(request, dba_policy())) == 1


def test_a_role_the_policy_does_not_offer_is_a_programming_error():
    with pytest.raises(ValueError, match='does not offer role "root"'):
        desired_bindings(dba_request(roles=("root",)), dba_policy())


def test_render_role_binding():
    binding = Binding("RoleBinding", "payments", "gatepass-bob-dba-12345678", "ClusterRole", "dba", "bob")
    assert render_binding(binding, "bob-dba", "uid-1") == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": "gatepass-bob-dba-12345678",
            "namespace": "payments",
            "labels": {"gatepass.dev/managed": "true", "gatepass.dev/request": "bob-dba"},
            "ownerReferences": [{
                "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "name": "bob-dba",
                "uid": "uid-1", "controller": True, "blockOwnerDeletion": False,
            }],
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "dba"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}],
    }


def test_render_cluster_role_binding_has_no_namespace():
    binding = Binding("ClusterRoleBinding", "", "gatepass-bob-view-12345678", "ClusterRole", "view", "bob")
    manifest = render_binding(binding, "bob-view", "uid-2")
    assert manifest["kind"] == "ClusterRoleBinding"
    assert "namespace" not in manifest["metadata"]
    assert manifest["roleRef"]["name"] == "view"


@pytest.mark.parametrize(("name", "label"), [("bob-dba", "bob-dba"), ("bob.dba", "bob.dba"), ("a" * 63, "a" * 63)])
def test_request_label_is_the_name_when_it_fits(name, label):
    assert request_label(name) == label


@pytest.mark.parametrize("name", ["a" * 64, "b" * 253, "x." * 40])
def test_request_label_is_cut_and_hashed_when_too_long(name):
    label = request_label(name)
    assert len(label) <= 63
    assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", label)
    assert label == request_label(name)
    assert label != request_label(name + "z")


def test_long_request_names_get_the_cut_label_on_their_bindings():
    binding = desired_bindings(dba_request(name="r" * 100), dba_policy())[0]
    manifest = render_binding(binding, "r" * 100, "u")
    assert manifest["metadata"]["labels"]["gatepass.dev/request"] == request_label("r" * 100)
    assert manifest["metadata"]["ownerReferences"][0]["name"] == "r" * 100


def test_record_round_trip():
    binding = Binding("RoleBinding", "payments", "n1", "Role", "deployer", "bob")
    record = binding_record(binding)
    assert record == {"kind": "RoleBinding", "namespace": "payments", "name": "n1",
                      "role": {"kind": "Role", "name": "deployer"}}
    assert binding_from_record(record, "bob") == binding
    cluster = Binding("ClusterRoleBinding", "", "n2", "ClusterRole", "view", "bob")
    assert binding_record(cluster) == {"kind": "ClusterRoleBinding", "name": "n2",
                                       "role": {"kind": "ClusterRole", "name": "view"}}
    assert binding_from_record(binding_record(cluster), "bob") == cluster


@pytest.mark.parametrize("record", [
    {},
    {"kind": "Secret", "namespace": "x", "name": "n", "role": {"kind": "Role", "name": "r"}},
    {"kind": "RoleBinding", "name": "n", "role": {"kind": "Role", "name": "r"}},  # no namespace
    {"kind": "ClusterRoleBinding", "namespace": "x", "name": "n", "role": {"kind": "ClusterRole", "name": "r"}},
    {"kind": "RoleBinding", "namespace": "x", "role": {"kind": "Role", "name": "r"}},
    {"kind": "RoleBinding", "namespace": "x", "name": "n", "role": {"kind": "Group", "name": "r"}},
    {"kind": "RoleBinding", "namespace": "x", "name": "n", "role": {"kind": "Role"}},
])
def test_unusable_records_are_refused(record):
    assert binding_from_record(record, "bob") is None


def test_manifest_ref():
    binding = Binding("RoleBinding", "payments", "n1", "Role", "deployer", "bob")
    assert manifest_ref(render_binding(binding, "r", "u")) == BindingRef("RoleBinding", "payments", "n1")
    crb = {"kind": "ClusterRoleBinding", "metadata": {"name": "n2", "namespace": "ignored"}}
    assert manifest_ref(crb) == BindingRef("ClusterRoleBinding", "", "n2")
    assert str(BindingRef("RoleBinding", "payments", "n1")) == "RoleBinding payments/n1"
    assert str(BindingRef("ClusterRoleBinding", "", "n2")) == "ClusterRoleBinding n2"


# -- drift -----------------------------------------------------------------------

@pytest.fixture
def desired():
    return render_binding(Binding("RoleBinding", "payments", "n1", "ClusterRole", "dba", "bob"), "bob-dba", "u1")


def as_served(manifest):
    """What the API server returns: extra metadata, defaults filled in."""
    served = copy.deepcopy(manifest)
    served["metadata"].update(resourceVersion="42", uid="b-1", creationTimestamp="2026-03-01T10:00:00Z",
                              managedFields=[{"manager": "gatepass"}])
    served["metadata"]["labels"]["app.kubernetes.io/part-of"] = "other"
    return served


def test_no_drift_for_the_same_binding_as_served(desired):
    assert drift(desired, as_served(desired)) == []


def test_no_drift_when_the_server_filled_in_the_subject_api_group(desired):
    served = as_served(desired)
    del served["subjects"][0]["apiGroup"]
    assert drift(desired, served) == []


def test_added_subject_is_drift(desired):
    served = as_served(desired)
    served["subjects"].append({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "mallory"})
    assert drift(desired, served) == ["subjects"]


def test_replaced_subject_is_drift(desired):
    served = as_served(desired)
    served["subjects"] = [{"kind": "ServiceAccount", "name": "bot", "namespace": "payments"}]
    assert drift(desired, served) == ["subjects"]


def test_no_subjects_is_drift(desired):
    served = as_served(desired)
    served["subjects"] = None
    assert drift(desired, served) == ["subjects"]


def test_changed_role_ref_is_drift(desired):
    served = as_served(desired)
    served["roleRef"]["name"] = "cluster-admin"
    assert drift(desired, served) == ["roleRef"]


def test_removed_label_is_drift(desired):
    served = as_served(desired)
    del served["metadata"]["labels"]["gatepass.dev/request"]
    assert drift(desired, served) == ["labels"]


def test_missing_or_foreign_owner_is_drift(desired):
    served = as_served(desired)
    served["metadata"]["ownerReferences"] = []
    assert drift(desired, served) == ["ownerReferences"]
    served["metadata"]["ownerReferences"] = [dict(desired["metadata"]["ownerReferences"][0], uid="other")]
    assert drift(desired, served) == ["ownerReferences"]


def test_an_extra_owner_is_not_drift(desired):
    served = as_served(desired)
    served["metadata"]["ownerReferences"].insert(0, {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "y"})
    assert drift(desired, served) == []


def test_several_changes_are_all_named(desired):
    served = {"kind": "RoleBinding", "metadata": {"name": "n1", "namespace": "payments"}}
    assert drift(desired, served) == ["roleRef", "subjects", "labels", "ownerReferences"]
