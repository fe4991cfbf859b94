"""Grants that cannot be bound: only roles in the operator's bind set are, and an approved request that
cannot be granted keeps its reviews, says why, and gets its access once the cause is fixed.

Kubernetes would let the operator bind any role made only of permissions it holds, `bind` or not; the
operator asks for `bind` itself. Each cause (a missing namespace, a missing ClusterRole, a role the operator
may not bind) is shown with real users: bob asks, alice approves, and the request is Approved with her review,
Granted=False with the cause as reason, one Warning Event whose count rises at every retry, one audit line,
nothing bound meanwhile, and the access arrives once an administrator fixes the cause.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import kubernetes
import pytest
import yaml

from .helpers import approve, can_i, create_request, get, unique, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BIND_LABEL = {"gatepass.dev/aggregate-to-operator-bind": "true"}
WAIT = 90  # seconds: a blocked grant is retried with a backoff capped at 30 s


# -- helpers --------------------------------------------------------------------------------------------------

def apply(gatepass, doc: dict, user: str = "admin") -> subprocess.CompletedProcess:
    return gatepass.kubectl("apply", "-f", "-", user=user, input=json.dumps(doc))


def cluster_role(name: str, rules: list[dict], labels: dict | None = None) -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels or {"gatepass.dev/test": "true"}}, "rules": rules}


def bind_rule(*roles: str) -> dict:
    """The ClusterRole an administrator adds to let the operator bind ``roles`` (aggregated into
    gatepass-operator-bind by the controller manager)."""
    return cluster_role(unique("t-bind"), [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                                            "verbs": ["bind"], "resourceNames": list(roles)}], labels=BIND_LABEL)


def policy(name: str, roles: list[dict]) -> dict:
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": name},
            "spec": {"requesters": {"users": ["bob"]}, "roles": roles, "reviewers": {"users": ["alice"]},
                     "maxDuration": "1h"}}


def condition(body: dict, type_: str) -> dict:
    return next((c for c in (body.get("status") or {}).get("conditions") or () if c["type"] == type_), {})


def owned_bindings(gatepass, request: str) -> list[dict]:
    found = []
    for kind in ("rolebindings", "clusterrolebindings"):
        out = json.loads(gatepass.kubectl("get", kind, "-A", "-o", "json").stdout)
        found += [b for b in out["items"] if any(o.get("name") == request and o.get("kind") == "AccessRequest"
                                                 for o in b["metadata"].get("ownerReferences") or ())]
    return found


def events(gatepass, request: str, reason: str) -> list[dict]:
    out = json.loads(gatepass.kubectl("get", "events", "-n", "default", "--field-selector",
                                      f"involvedObject.name={request},reason={reason}", "-o", "json").stdout)
    return out["items"]


def audit_lines(gatepass, request: str, event: str) -> list[dict]:
    records = []
    for line in gatepass.operator.log().splitlines():
        start = line.find("{")
        if start < 0 or f'"request": "{request}"' not in line:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if record.get("event") == event and record.get("request") == request:
            records.append(record)
    return records


def reviewable(gatepass, user: str) -> list[str]:
    """The names `kubectl access request ls --reviewable` lists for ``user``."""
    result = subprocess.run([sys.executable, "-m", "gatepass.cli.main", f"--kubeconfig={gatepass.cluster.kubeconfig}",
                             f"--context={user}", "request", "ls", "--reviewable", "-o", "json"],
                            capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return [item["metadata"]["name"] for item in json.loads(result.stdout)["items"]]


def may(gatepass, user: str, verb: str, group: str, resource: str, namespace: str = "", name: str = "") -> bool:
    """What the API server answers ``user`` (authenticated as that context) for one request."""
    base, _, sub = resource.partition("/")
    api = kubernetes.client.AuthorizationV1Api(gatepass.cluster.api(user))
    review = api.create_self_subject_access_review({"spec": {"resourceAttributes": {
        "verb": verb, "group": group, "resource": base, "subresource": sub, "namespace": namespace, "name": name}}})
    return bool(review.status.allowed)


def permissions(rules: list[dict]) -> list[tuple[str, str, str, str]]:
    """(verb, group, resource, name) for every combination a list of RBAC rules allows."""
    return [(verb, group, resource, name)
            for rule in rules for group in rule.get("apiGroups") or () for resource in rule.get("resources") or ()
            for verb in rule.get("verbs") or () for name in (rule.get("resourceNames") or [""])]


def operator_rules() -> list[tuple[dict, str]]:
    """Every rule the operator holds, as it ships, with the namespace of the Role it comes from ("" for a
    ClusterRole): the roles in manifests/rbac bound to its ServiceAccount, and the demo's bind rule for dba."""
    docs = [doc for path in sorted((REPO / "manifests" / "rbac").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("apiVersion") == "rbac.authorization.k8s.io/v1"]
    docs += [doc for doc in yaml.safe_load_all((REPO / "examples" / "demo" / "dba.yaml").read_text())
             if doc and (doc["metadata"].get("labels") or {}).get("gatepass.dev/aggregate-to-operator-bind")]
    bound = {(doc["roleRef"]["kind"], doc["roleRef"]["name"]) for doc in docs
             if doc["kind"] in ("RoleBinding", "ClusterRoleBinding")
             and any(s.get("kind") == "ServiceAccount" and s.get("name") == "gatepass-operator"
                     for s in doc.get("subjects") or ())}
    found = []
    for doc in docs:
        aggregated = (doc["metadata"].get("labels") or {}).get("gatepass.dev/aggregate-to-operator-bind")
        if doc["kind"] in ("Role", "ClusterRole") and ((doc["kind"], doc["metadata"]["name"]) in bound or aggregated):
            found += [(rule, doc["metadata"].get("namespace", "")) for rule in doc.get("rules") or ()]
    return found


def wait_blocked(gatepass, name: str, reason: str) -> dict:
    return wait_for(lambda: condition(b := get(gatepass, "accessrequest", name), "Granted").get("reason") == reason
                    and b, timeout=WAIT, what=f"{name} to be Granted=False with {reason}")


def assert_recorded_and_not_granted(gatepass, name: str, reason: str, *, user_may: tuple[str, ...]) -> None:
    """The approved request keeps its review and decision, says why it is not granted, posts one Event
    whose count rises and one audit line, is no longer reviewable, and nothing is bound."""
    body = wait_blocked(gatepass, name, reason)
    status = body["status"]
    assert status["state"] == "Approved"
    assert status["approvals"] == 1 and [r["reviewer"] for r in status["reviews"]] == ["alice"]
    assert condition(body, "Approved")["status"] == "True"
    granted = condition(body, "Granted")
    assert granted["status"] == "False" and granted["reason"] == reason
    assert len(granted["message"].splitlines()) == 1

    first = wait_for(lambda: (found := events(gatepass, name, reason)) and found, timeout=WAIT,
                     what=f"a {reason} Event")
    assert len(first) == 1 and first[0]["type"] == "Warning"
    later = wait_for(lambda: (found := events(gatepass, name, reason)) and found[0]["count"] > first[0]["count"]
                     and found, timeout=WAIT, what=f"the {reason} Event's count to rise")
    assert len(later) == 1, "one Event per cause, counted up, not one per retry"
    assert later[0]["metadata"]["name"] == first[0]["metadata"]["name"]
    assert len(audit_lines(gatepass, name, reason)) == 1, "one audit line per cause, not one per retry"

    assert owned_bindings(gatepass, name) == []
    assert can_i(gatepass, "bob", *user_may) == "no"
    assert name not in reviewable(gatepass, "alice")


def assert_granted_at_last(gatepass, name: str, *, user_may: tuple[str, ...]) -> None:
    fixed = time.monotonic()
    body = wait_for(lambda: condition(b := get(gatepass, "accessrequest", name), "Granted").get("status") == "True"
                    and b, timeout=WAIT, what=f"{name} to be granted once the cause is fixed")
    assert body["status"]["state"] == "Approved" and [r["reviewer"] for r in body["status"]["reviews"]] == ["alice"]
    print(f"\n{name}: granted {time.monotonic() - fixed:.1f}s after the cause was fixed")
    assert owned_bindings(gatepass, name)
    wait_for(lambda: can_i(gatepass, "bob", *user_may) == "yes", what="bob's access")
    assert len(audit_lines(gatepass, name, "Granted")) == 1


@pytest.fixture
def cleanup(gatepass):
    """Deletes what a test registers, last first (requests before policies and roles)."""
    things: list[tuple[str, str]] = []
    yield lambda kind, name: things.append((kind, name))
    for kind, name in reversed(things):
        gatepass.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)


# -- only the bind set is ever bound (issue 11, item 2) -----------------------------------------------------

def test_roles_made_of_the_operators_own_permissions_are_never_bound(gatepass, namespace, cleanup):
    """Kubernetes lets a creator bind a role whose permissions it holds, without `bind`. A role made of any rule
    the operator holds, or of all of them, offered namespaced and cluster-wide (those of its namespaced Roles, in
    that namespace), is never bound, and bob gains none of it."""
    held = operator_rules()
    assert len(held) >= 10 and {where for _, where in held} == {"", "gatepass-system"}
    scopes = {"": [namespace], "gatepass-system": ["gatepass-system"]}
    roles = [(cluster_role(unique(f"t-own{i}"), [rule]), where) for i, (rule, where) in enumerate(held)]
    for where in scopes:
        roles.append((cluster_role(unique("t-own-all"), [rule for rule, w in held if w == where]), where))
    for role, _ in roles:
        apply(gatepass, role)
        cleanup("clusterrole", role["metadata"]["name"])
    # The operator holds every one of these permissions: the API server's own check would let it bind them all.
    for role, where in roles:
        for verb, group, resource, name in permissions(role["rules"]):
            assert may(gatepass, "operator", verb, group, resource, where or namespace, name), (verb, resource)

    policy_name = unique("t-own")
    offered = [{"name": f"own-{i}", "clusterRole": role["metadata"]["name"], "namespaces": scopes[where],
                "clusterWide": not where} for i, (role, where) in enumerate(roles)]
    # Accepted, with one warning per role: counted a few roles at a time, since the API server passes on only
    # so many warnings of one answer.
    warned = 0
    for start in range(0, len(offered), 8):
        part = unique("t-own-part")
        said = apply(gatepass, policy(part, offered[start:start + 8]))
        gatepass.kubectl("delete", "accesspolicy", part)
        warned += len([line for line in said.stderr.splitlines() if "the operator may not bind" in line])
    assert warned == len(roles)
    result = apply(gatepass, policy(policy_name, offered))
    cleanup("accesspolicy", policy_name)
    assert "the operator may not bind" in result.stderr

    everything = sorted({combo for role, _ in roles for combo in permissions(role["rules"])})
    checked = (namespace, "", "gatepass-system")
    before = {(scope, combo): may(gatepass, "bob", *combo[:3], scope, combo[3]) for scope in checked
              for combo in everything}
    assert not all(before.values()), "the roles would give bob something he does not have"

    asks = {unique("own-ns"): ([o["name"] for o in offered if o["clusterWide"]], [namespace]),
            unique("own-cluster"): ([o["name"] for o in offered if o["clusterWide"]], []),
            unique("own-system"): ([o["name"] for o in offered if not o["clusterWide"]], ["gatepass-system"])}
    for name, (asked, namespaces) in asks.items():
        create_request(gatepass, name, roles=asked, namespaces=namespaces)
        cleanup("accessrequest", name)
        approve(gatepass, name, "alice")
    for name in asks:
        body = wait_blocked(gatepass, name, "BindForbidden")
        assert body["status"]["state"] == "Approved" and body["status"]["approvals"] == 1
        assert "gatepass-operator-bind" in condition(body, "Granted")["message"]
        assert owned_bindings(gatepass, name) == []
    after = {(scope, combo): may(gatepass, "bob", *combo[:3], scope, combo[3]) for scope in checked
             for combo in everything}
    gained = sorted(key for key, allowed in after.items() if allowed and not before[key])
    assert gained == []


def test_a_role_in_the_bind_set_is_still_bound_and_draws_no_warning(gatepass, namespace, cleanup):
    policy_name, name = unique("t-dba"), unique("dba")
    result = apply(gatepass, policy(policy_name, [{"name": "t-dba", "clusterRole": "dba", "namespaces": [namespace]}]))
    cleanup("accesspolicy", policy_name)
    assert "may not bind" not in result.stderr
    create_request(gatepass, name, roles=["t-dba"], namespaces=[namespace])
    cleanup("accessrequest", name)
    approve(gatepass, name, "alice")
    wait_for(lambda: condition(get(gatepass, "accessrequest", name), "Granted").get("status") == "True",
             timeout=WAIT, what="the grant")
    wait_for(lambda: can_i(gatepass, "bob", "get", "secrets", namespace) == "yes", what="bob's access")


# -- approved requests that cannot be granted (issue 11, item 4) ---------------------------------------------

CONFIGMAPS = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]


def test_a_missing_namespace_blocks_the_grant_until_it_is_created(gatepass, cleanup):
    namespace, policy_name, name = unique("t-later"), unique("t-ns"), unique("nsgone")
    gatepass.kubectl("create", "namespace", namespace)
    cleanup("namespace", namespace)
    role = cluster_role(unique("t-cm"), CONFIGMAPS)
    apply(gatepass, role)
    cleanup("clusterrole", role["metadata"]["name"])
    bind = bind_rule(role["metadata"]["name"])
    apply(gatepass, bind)
    cleanup("clusterrole", bind["metadata"]["name"])
    apply(gatepass, policy(policy_name, [{"name": "cm", "clusterRole": role["metadata"]["name"],
                                          "namespaces": [namespace]}]))
    cleanup("accesspolicy", policy_name)
    # The namespace goes after the policy was accepted (whatever admission says about missing namespaces).
    gatepass.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=120s")

    create_request(gatepass, name, roles=["cm"], namespaces=[namespace])
    cleanup("accessrequest", name)
    approve(gatepass, name, "alice")
    may = ("list", "configmaps", namespace)
    assert_recorded_and_not_granted(gatepass, name, "NamespaceNotFound", user_may=may)

    gatepass.kubectl("create", "namespace", namespace)
    assert_granted_at_last(gatepass, name, user_may=may)


def test_a_missing_cluster_role_blocks_the_grant_until_it_is_created(gatepass, namespace, cleanup):
    policy_name, name = unique("t-role"), unique("rolegone")
    role = cluster_role(unique("t-cm"), CONFIGMAPS)
    apply(gatepass, role)
    bind = bind_rule(role["metadata"]["name"])
    apply(gatepass, bind)
    cleanup("clusterrole", bind["metadata"]["name"])
    apply(gatepass, policy(policy_name, [{"name": "cm", "clusterRole": role["metadata"]["name"],
                                          "namespaces": [namespace]}]))
    cleanup("accesspolicy", policy_name)
    # The role goes after the policy was accepted (whatever admission says about missing roles).
    gatepass.kubectl("delete", "clusterrole", role["metadata"]["name"])

    create_request(gatepass, name, roles=["cm"], namespaces=[namespace])
    cleanup("accessrequest", name)
    approve(gatepass, name, "alice")
    may = ("list", "configmaps", namespace)
    assert_recorded_and_not_granted(gatepass, name, "RoleNotFound", user_may=may)

    apply(gatepass, role)
    cleanup("clusterrole", role["metadata"]["name"])
    assert_granted_at_last(gatepass, name, user_may=may)


def test_a_role_the_operator_may_not_bind_is_granted_once_an_administrator_allows_it(gatepass, namespace, cleanup):
    policy_name, name = unique("t-bind"), unique("nobind")
    role = cluster_role(unique("t-cm"), CONFIGMAPS)
    apply(gatepass, role)
    cleanup("clusterrole", role["metadata"]["name"])
    result = apply(gatepass, policy(policy_name, [{"name": "cm", "clusterRole": role["metadata"]["name"],
                                                   "namespaces": [namespace]}]))
    cleanup("accesspolicy", policy_name)
    [warning] = [line for line in result.stderr.splitlines() if "may not bind" in line]
    assert f'role "cm": the operator may not bind ClusterRole {role["metadata"]["name"]} ({namespace})' in warning

    create_request(gatepass, name, roles=["cm"], namespaces=[namespace])
    cleanup("accessrequest", name)
    approve(gatepass, name, "alice")
    may = ("list", "configmaps", namespace)
    assert_recorded_and_not_granted(gatepass, name, "BindForbidden", user_may=may)

    bind = bind_rule(role["metadata"]["name"])
    apply(gatepass, bind)
    cleanup("clusterrole", bind["metadata"]["name"])
    assert_granted_at_last(gatepass, name, user_may=may)


def test_kubectl_access_says_an_approved_grant_is_not_bound_and_fails(gatepass, namespace, cleanup):
    """bob's `kubectl access request create` waits for the approval; when the grant cannot be bound, it says why
    and exits 3 (not granted) instead of promising access."""
    policy_name = unique("t-cli-bind")
    role = cluster_role(unique("t-cm"), CONFIGMAPS)
    apply(gatepass, role)
    cleanup("clusterrole", role["metadata"]["name"])
    apply(gatepass, policy(policy_name, [{"name": "cm", "clusterRole": role["metadata"]["name"],
                                          "namespaces": [namespace]}]))
    cleanup("accesspolicy", policy_name)
    command = [sys.executable, "-m", "gatepass.cli.main", f"--kubeconfig={gatepass.cluster.kubeconfig}",
               "--context=bob", "request", "create", "--roles=cm", f"--namespaces={namespace}", "--reason=r"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    try:
        name = process.stdout.readline().strip()  # printed before waiting
        cleanup("accessrequest", name)
        wait_for(lambda: (get(gatepass, "accessrequest", name).get("status") or {}).get("state") == "Pending",
                 timeout=60, what=f"{name} to be Pending")
        approve(gatepass, name, "alice")
        _, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, err
    last = err.strip().splitlines()[-1]
    assert f"AccessRequest {name} is Approved but not granted (BindForbidden): " in last, last
    assert "access starts" not in err
