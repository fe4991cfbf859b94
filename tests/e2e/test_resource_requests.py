"""Resource requests on the real API server, with the operator's shipped RBAC: bob asks for exactly one rule,
two reviewers approve, and the grant is that rule and nothing more, until it expires. Every permission is
checked as bob himself (his own credentials, no impersonation).

There is no node on this control plane, so no pod runs. But a pod object exists without a node, and its log
can be read through the API: bob's read of db-1's log is answered (empty: the pod never ran), while db-2's
is Forbidden.
"""

from __future__ import annotations

import json

import pytest

from gatepass.devcluster.identities import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT

from .helpers import approve, get, refused, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

NAMESPACE = "payments"
POD_READER = "gatepass-e2e-pod-reader"  # bounds what may be asked; the operator is bound to it
CONFIG_READER = "gatepass-e2e-config-reader"  # a bound the operator is NOT bound to
NAMESPACE_VIEWER = "gatepass-e2e-namespace-viewer"  # bounds cluster-scoped asks, cluster-wide
POLICY = "e2e-pod-logs"


def apply(gatepass, *objects: dict, user: str = "admin"):
    return gatepass.kubectl("apply", "-f", "-", user=user, check=False,
                            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


def cluster_role(name: str, rules: list[dict]) -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
            "rules": rules}


def operator_bound_to(name: str) -> dict:
    """The ClusterRoleBinding the Helm chart's resourceBounds value makes for ``name``."""
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": f"gatepass-bound-{name}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": OPERATOR_SERVICE_ACCOUNT, "namespace": OPERATOR_NAMESPACE}]}


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}


@pytest.fixture(scope="module")
def bounded(gatepass):
    """The bounding ClusterRoles, the operator bound to pod-reader as the chart's resourceBounds value binds
    it, two pods without a node, and a policy letting developers ask within both bounds in payments."""
    result = apply(
        gatepass,
        cluster_role(POD_READER, [{"apiGroups": [""], "resources": ["pods", "pods/log"],
                                   "verbs": ["get", "list", "watch"]}]),
        cluster_role(CONFIG_READER, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
        cluster_role(NAMESPACE_VIEWER, [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]),
        *(operator_bound_to(name) for name in (POD_READER, NAMESPACE_VIEWER)),
        pod("db-1"), pod("db-2"),
        {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": POLICY},
         "spec": {"requesters": {"groups": ["developers"]},
                  "resources": [{"clusterRole": POD_READER, "namespaces": [NAMESPACE]},
                                {"clusterRole": CONFIG_READER, "namespaces": [NAMESPACE]},
                                {"clusterRole": NAMESPACE_VIEWER, "clusterWide": True}],
                  "reviewers": {"users": ["alice", "ivan"]},
                  "thresholds": [{"name": "both", "approvals": 2}],
                  "maxDuration": "1h"}},
    )
    assert result.returncode == 0, result.stderr
    yield
    gatepass.kubectl("delete", "accesspolicy", POLICY, "--ignore-not-found")


def resource_request(name: str, *rules: dict, duration: str = "1h") -> str:
    return json.dumps({"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest", "metadata": {"name": name},
                       "spec": {"resources": list(rules), "duration": duration, "reason": "INC-42"}})


LOG_OF_DB1 = {"resource": "pods", "subresource": "log", "namespace": NAMESPACE, "names": ["db-1"], "verbs": ["get"]}


def can_bob(gatepass, *args: str) -> str:
    return gatepass.kubectl("auth", "can-i", *args, "-n", NAMESPACE, user="bob", check=False).stdout.strip()


def read_log(gatepass, pod_name: str):
    """bob reads the pod's log through the API, as `kubectl logs` does."""
    return gatepass.kubectl("get", "--raw", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod_name}/log", user="bob",
                            check=False)


def grant_objects(gatepass, name: str, kind: str) -> list[dict]:
    items = json.loads(gatepass.kubectl("get", kind, "-A", "-l", "gatepass.dev/managed=true", "-o", "json").stdout)
    return [item for item in items["items"]
            if any(owner.get("name") == name for owner in item["metadata"].get("ownerReferences") or ())]


def test_bob_gets_exactly_the_log_he_asked_for_until_it_expires(gatepass, bounded):
    name = unique("bob-log")
    assert can_bob(gatepass, "get", "pods/db-1", "--subresource=log") == "no"
    gatepass.kubectl("apply", "-f", "-", user="bob", input=resource_request(name, LOG_OF_DB1, duration="20s"))
    pending = wait_state(gatepass, name, "Pending")
    assert pending["status"]["resources"] == "get pods/log db-1 in payments"
    assert "no" == can_bob(gatepass, "get", "pods/db-1", "--subresource=log")

    approve(gatepass, name, "alice")
    assert wait_state(gatepass, name, "Pending")["status"]["approvals"] == 1  # two reviewers must approve
    approve(gatepass, name, "ivan")
    granted = wait_state(gatepass, name, "Approved")
    wait_for(lambda: can_bob(gatepass, "get", "pods/db-1", "--subresource=log") == "yes", what="the grant")

    # The grant is one Role holding exactly the asked rule, bound to bob, both labelled and owned.
    (role,) = grant_objects(gatepass, name, "roles")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods/log"], "resourceNames": ["db-1"],
                              "verbs": ["get"]}]
    assert role["metadata"]["labels"]["gatepass.dev/request"] == name
    (binding,) = grant_objects(gatepass, name, "rolebindings")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert [s["name"] for s in binding["subjects"]] == ["bob"]
    assert {"kind": "RoleBinding", "namespace": NAMESPACE, "name": binding["metadata"]["name"],
            "role": {"kind": "Role", "name": role["metadata"]["name"]}} in granted["status"]["bindings"]

    # He may read that log (empty: the pod has no node, so it never ran), not another's.
    own = read_log(gatepass, "db-1")
    assert own.returncode == 0 and "forbidden" not in own.stderr.lower(), own.stderr
    other = read_log(gatepass, "db-2")
    assert other.returncode != 0 and "forbidden" in other.stderr.lower(), other.stderr
    assert can_bob(gatepass, "get", "pods/db-2", "--subresource=log") == "no"
    assert can_bob(gatepass, "create", "pods/db-1", "--subresource=exec") == "no"
    assert can_bob(gatepass, "get", "pods/db-1") == "no"
    assert can_bob(gatepass, "list", "secrets") == "no"
    assert can_bob(gatepass, "list", "pods") == "no"
    assert gatepass.kubectl("get", "secrets", "-n", NAMESPACE, user="bob", check=False).returncode != 0

    # A Role deleted or widened by hand is put back as granted.
    role_name = role["metadata"]["name"]
    gatepass.kubectl("patch", "role", role_name, "-n", NAMESPACE, "--type=json", "-p",
                     json.dumps([{"op": "add", "path": "/rules/0/resourceNames/-", "value": "db-2"}]))
    wait_for(lambda: grant_objects(gatepass, name, "roles")[0]["rules"][0]["resourceNames"] == ["db-1"],
             what="the widened Role to be put back")
    gatepass.kubectl("delete", "role", role_name, "-n", NAMESPACE)
    wait_for(lambda: grant_objects(gatepass, name, "roles"), what="the deleted Role to be recreated")
    wait_for(lambda: can_bob(gatepass, "get", "pods/db-1", "--subresource=log") == "yes", what="the grant again")
    assert can_bob(gatepass, "get", "pods/db-2", "--subresource=log") == "no"

    # At expiry the Role and its binding are gone, and so is the access.
    ended = wait_state(gatepass, name, "Expired", timeout=60)
    assert ended["status"]["bindings"] == []
    wait_for(lambda: not grant_objects(gatepass, name, "roles") and not grant_objects(gatepass, name,
                                                                                       "rolebindings"),
             what="the Role and RoleBinding to be deleted")
    assert can_bob(gatepass, "get", "pods/db-1", "--subresource=log") == "no"


@pytest.mark.parametrize("rule, exceeding", [
    ({**LOG_OF_DB1, "subresource": "exec", "verbs": ["create"]}, "create pods/exec db-1 in payments"),
    ({**LOG_OF_DB1, "verbs": ["get", "delete"]}, "get,delete pods/log db-1 in payments"),
    ({"resource": "secrets", "namespace": NAMESPACE, "verbs": ["list"]}, "list secrets (any name) in payments"),
    ({**LOG_OF_DB1, "namespace": "default"}, "get pods/log db-1 in default"),
])
def test_a_request_outside_the_bound_is_refused_in_one_line_naming_the_rule(gatepass, bounded, rule, exceeding):
    name = unique("bob-over")
    result = gatepass.kubectl("apply", "-f", "-", user="bob", check=False, input=resource_request(name, rule))
    line = refused(result)
    assert exceeding in line and "\n" not in line, line
    assert gatepass.kubectl("get", "accessrequest", name, check=False).returncode != 0


def test_non_resource_urls_cannot_be_requested(gatepass, bounded):
    result = gatepass.kubectl("apply", "-f", "-", user="bob", check=False,
                              input=resource_request(unique("bob-url"), {"resource": "/metrics", "verbs": ["get"]}))
    line = refused(result)
    assert "non-resource URLs cannot be requested" in line and "\n" not in line, line


def test_a_grant_the_operator_cannot_make_says_why(gatepass, bounded):
    """The operator is not bound to config-reader, so RBAC would refuse it the Role: the request is approved
    but not granted, and says so in one line."""
    name = unique("bob-config")
    gatepass.kubectl("apply", "-f", "-", user="bob", input=resource_request(
        name, {"resource": "configmaps", "namespace": NAMESPACE, "names": ["app"], "verbs": ["get"]}))
    approve(gatepass, name, "alice", "ivan")

    def held():
        conditions = (get(gatepass, "accessrequest", name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Granted" and c["reason"] == "BindForbidden"), None)

    condition = wait_for(held, what="Granted=False BindForbidden")
    assert condition["status"] == "False"
    assert "the operator may not grant get configmaps app in namespace payments" in condition["message"]
    assert not grant_objects(gatepass, name, "roles")
    assert can_bob(gatepass, "get", "configmaps/app") == "no"
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=test clean-up")
    wait_state(gatepass, name, "Revoked")


def test_a_policy_bounding_what_the_operator_does_not_hold_is_accepted_with_a_warning(gatepass, bounded):
    name = unique("e2e-config")
    result = apply(gatepass, {
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": name},
        "spec": {"requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
                 "resources": [{"clusterRole": CONFIG_READER, "namespaces": [NAMESPACE]},
                               {"clusterRole": POD_READER, "namespaces": [NAMESPACE]}]}})
    try:
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "resources within" in line]
        assert warnings == [f'Warning: resources within ClusterRole "{CONFIG_READER}": the operator does not hold '
                            "get configmaps in namespace payments itself; requests for them will be approved but "
                            "not granted until an administrator binds the operator to that ClusterRole (the Helm "
                            "chart's resourceBounds value)"]
    finally:
        gatepass.kubectl("delete", "accesspolicy", name, "--ignore-not-found")


def test_a_cluster_scoped_ask_gets_a_cluster_role_and_its_binding(gatepass, bounded):
    name = unique("bob-ns")
    gatepass.kubectl("apply", "-f", "-", user="bob", input=resource_request(
        name, {"resource": "namespaces", "names": [NAMESPACE], "verbs": ["get"]}))
    assert wait_state(gatepass, name, "Pending")["status"]["resources"] == "get namespaces payments cluster-wide"
    approve(gatepass, name, "alice", "ivan")
    wait_state(gatepass, name, "Approved")
    wait_for(lambda: gatepass.kubectl("get", "namespace", NAMESPACE, user="bob", check=False).returncode == 0,
             what="bob to read namespace payments")
    (role,) = grant_objects(gatepass, name, "clusterroles")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [NAMESPACE],
                              "verbs": ["get"]}]
    (binding,) = grant_objects(gatepass, name, "clusterrolebindings")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert gatepass.kubectl("get", "namespace", "default", user="bob", check=False).returncode != 0
    assert gatepass.kubectl("get", "namespaces", user="bob", check=False).returncode != 0

    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done", user="bob")
    wait_state(gatepass, name, "Revoked")
    wait_for(lambda: not grant_objects(gatepass, name, "clusterroles")
             and not grant_objects(gatepass, name, "clusterrolebindings"), what="the ClusterRole to be deleted")
    assert gatepass.kubectl("get", "namespace", NAMESPACE, user="bob", check=False).returncode != 0


def test_a_narrowed_bound_withdraws_a_live_grant(gatepass, bounded):
    """The bound may change after approval: once the operator looks again (here: the policy is touched),
    a grant its ClusterRole no longer allows ends, and its Role goes."""
    bound, policy_name, name = unique("gatepass-e2e-services"), unique("e2e-services"), unique("bob-svc")
    result = apply(gatepass, cluster_role(bound, [{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]}]),
                   operator_bound_to(bound),
                   {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": policy_name},
                    "spec": {"requesters": {"groups": ["developers"]}, "reviewers": {"users": ["alice"]},
                             "resources": [{"clusterRole": bound, "namespaces": [NAMESPACE]}]}})
    assert result.returncode == 0, result.stderr
    try:
        gatepass.kubectl("apply", "-f", "-", user="bob", input=resource_request(
            name, {"resource": "services", "namespace": NAMESPACE, "names": ["db"], "verbs": ["get"]}))
        approve(gatepass, name, "alice")
        wait_state(gatepass, name, "Approved")
        wait_for(lambda: can_bob(gatepass, "get", "services/db") == "yes", what="the grant")

        gatepass.kubectl("patch", "clusterrole", bound, "--type=json", "-p", json.dumps(
            [{"op": "replace", "path": "/rules/0/verbs", "value": ["list"]}]))
        gatepass.kubectl("annotate", "accesspolicy", policy_name, "example.com/touched=now")
        ended = wait_state(gatepass, name, "Revoked", timeout=30)
        assert ended["status"]["revokedBy"] == "gatepass:policy"
        assert "get services db in payments exceeds the bound" in ended["status"]["revokeReason"]
        wait_for(lambda: not grant_objects(gatepass, name, "roles"), what="the Role to be deleted")
        assert can_bob(gatepass, "get", "services/db") == "no"
    finally:
        gatepass.kubectl("delete", "accesspolicy", policy_name, "--ignore-not-found")
        gatepass.kubectl("delete", "clusterrolebinding", f"gatepass-bound-{bound}", "--ignore-not-found")
        gatepass.kubectl("delete", "clusterrole", bound, "--ignore-not-found")
