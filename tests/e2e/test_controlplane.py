"""The local control plane behaves like a real cluster: RBAC, admission policies, garbage collection."""

from __future__ import annotations

import json
import time

import kubernetes
import pytest

from gatepass.devcluster.identities import USERS

pytestmark = pytest.mark.e2e


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_server_is_the_pinned_kubernetes_version(cluster):
    if cluster.plane is None:
        pytest.skip("running against an existing cluster of its own version")
    out = json.loads(cluster.kubectl.run("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"] == "v1.36.3"
    assert out["clientVersion"]["gitVersion"] == "v1.36.3"


@pytest.mark.parametrize("user", [u for u in USERS], ids=lambda u: u.name)
def test_each_context_authenticates_as_its_user(cluster, user):
    if cluster.plane is None:
        pytest.skip("identities are the local control plane's")
    review = json.loads(cluster.kubectl.run("auth", "whoami", "-o", "json", context=user.name).stdout)
    assert review["status"]["userInfo"]["username"] == user.name
    for group in user.groups:
        assert group in review["status"]["userInfo"]["groups"]


def test_rbac_is_enforced_for_a_non_admin(cluster, namespace):
    cluster.core().create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    can_i = cluster.kubectl.run("auth", "can-i", "list", "secrets", "-n", namespace, context="bob", check=False)
    assert can_i.stdout.strip() == "no"
    with pytest.raises(kubernetes.client.ApiException) as denied:
        cluster.core("bob").list_namespaced_secret(namespace)
    assert denied.value.status == 403
    assert 'User "bob" cannot list resource "secrets"' in json.loads(denied.value.body)["message"]

    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api())
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "bob-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}],
    })
    # The built-in admin role is filled in by the controller manager's aggregation.
    assert wait_for(lambda: cluster.core("bob").list_namespaced_secret(namespace).items, what="bob's access")
    other = cluster.kubectl.run("auth", "can-i", "list", "secrets", "-n", "default", context="bob", check=False)
    assert other.stdout.strip() == "no"


def test_validating_admission_policy_is_enforced(cluster, namespace):
    admission = kubernetes.client.AdmissionregistrationV1Api(cluster.api())
    name = f"no-forbidden-{namespace}"
    admission.create_validating_admission_policy({
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                "resources": ["configmaps"],
            }]},
            "validations": [{
                "expression": "!has(object.data) || !('forbidden' in object.data)",
                "message": "configmaps may not carry the key 'forbidden'",
            }],
        },
    })
    admission.create_validating_admission_policy_binding({
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
        },
    })
    core = cluster.core()
    try:
        def rejected() -> str | None:
            try:
                core.create_namespaced_config_map(
                    namespace, {"metadata": {"generateName": "bad-"}, "data": {"forbidden": "x"}}
                )
            except kubernetes.client.ApiException as error:
                return error.body
            return None

        # Policies take effect once the API server's informer has seen them.
        body = wait_for(rejected, what="the policy to take effect")
        assert "configmaps may not carry the key 'forbidden'" in body
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "good"}, "data": {"fine": "x"}})
    finally:
        admission.delete_validating_admission_policy_binding(name)
        admission.delete_validating_admission_policy(name)


def test_owner_reference_garbage_collection(cluster, namespace):
    core = cluster.core()
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(namespace, {
        "metadata": {
            "name": "dependent",
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid,
            }],
        },
    })
    core.delete_namespaced_config_map("owner", namespace)

    def dependent_gone() -> bool:
        try:
            core.read_namespaced_config_map("dependent", namespace)
        except kubernetes.client.ApiException as error:
            return error.status == 404
        return False

    wait_for(dependent_gone, what="the garbage collector to delete the dependent")


def test_namespace_deletion_completes(cluster):
    core = cluster.core()
    core.create_namespace({"metadata": {"name": "t-deleteme"}})
    core.create_namespaced_config_map("t-deleteme", {"metadata": {"name": "x"}})
    core.delete_namespace("t-deleteme")

    def gone() -> bool:
        try:
            core.read_namespace("t-deleteme")
        except kubernetes.client.ApiException as error:
            return error.status == 404
        return False

    wait_for(gone, timeout=60, what="the namespace controller to finish deleting")
