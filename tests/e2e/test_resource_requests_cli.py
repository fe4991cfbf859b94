"""Resource requests from `kubectl access`, as bob, alice and ivan against the real API server and operator.

bob searches for what he may ask for (listed with his own credentials), asks for single resources with
`request create --resource`, and lets `exec` ask for exactly what a refused `kubectl logs` needs. The pods
are real objects that no node runs here: once access is granted their log reads as empty (or, for exec, the
API server answers that there is no host), so access itself is checked with `kubectl auth can-i` for bob.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from .helpers import unique, wait_for, wait_state
from .test_cli import WAIT, access, approve_when_asked, ok, one_error_line, requests_of

pytestmark = pytest.mark.e2e

BOUND = "cli-pod-debug"
POLICY = "cli-pod-debug"
PODS = ("db-1", "db-2")  # as tests/e2e/test_resource_requests.py makes them: the same objects


def can(gatepass, user: str, verb: str, what: str, namespace: str = "payments") -> bool:
    """`kubectl auth can-i VERB TYPE[/NAME] [--subresource SUB]` as ``user``; ``what`` is 'pods', 'pods/log',
    'pods/log/db-1' or 'pods/db-1' (a second part that is a known subresource is one)."""
    parts = what.split("/")
    subresource = parts.pop(1) if len(parts) > 1 and parts[1] in ("log", "exec") else ""
    argv = ["auth", "can-i", verb, "/".join(parts), "-n", namespace, "--as", user]
    if subresource:
        argv.append(f"--subresource={subresource}")
    return gatepass.kubectl(*argv, check=False).stdout.strip() == "yes"


def apply(gatepass, *objects: dict) -> None:
    gatepass.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


@pytest.fixture(scope="module")
def bounded(gatepass):
    """A ClusterRole bounding what developers may ask for in payments (pods and their logs), a policy naming
    it (alice and ivan approve), the operator bound to it (so that RBAC lets it grant those rules), and two
    pods that no node will run (left in place, like the demo's objects)."""
    operator = {"kind": "ServiceAccount", "name": "gatepass-operator", "namespace": "gatepass-system"}
    apply(gatepass,
          {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": BOUND},
           "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}]},
          {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": f"gatepass-operator-{BOUND}"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": BOUND},
           "subjects": [operator]},
          {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": POLICY},
           "spec": {"requesters": {"groups": ["developers"]},
                    "resources": [{"clusterRole": BOUND, "namespaces": ["payments"]}],
                    "reviewers": {"users": ["alice", "ivan"]},
                    "thresholds": [{"name": "two-leads", "approvals": 2}], "maxDuration": "1h"}},
          *({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": "payments"},
             "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}} for pod in PODS))
    yield
    gatepass.kubectl("delete", "accesspolicy", POLICY, "--ignore-not-found", check=False)
    gatepass.kubectl("delete", "clusterrolebinding", f"gatepass-operator-{BOUND}", "--ignore-not-found", check=False)


def drop_all(gatepass, user: str = "bob") -> None:
    for body in requests_of(gatepass, user):
        if (body.get("status") or {}).get("state") in ("Pending", "Approved", None):
            gatepass.kubectl("annotate", "accessrequest", body["metadata"]["name"],
                             "gatepass.dev/revoke=test cleanup", "--overwrite", check=False)


@pytest.fixture
def bob_clean(gatepass, bounded):
    drop_all(gatepass)
    wait_for(lambda: not can(gatepass, "bob", "get", "pods/log/db-1"), timeout=WAIT, what="bob without pod logs")
    yield
    drop_all(gatepass)


def test_search_lists_only_what_bob_may_read_and_shows_the_pattern_elsewhere(gatepass, bounded):
    # bob may not list pods: the search shows what he could ask for, as the bound's pattern, and no names.
    assert not can(gatepass, "bob", "list", "pods")
    result = ok(access(gatepass, "bob", "request", "search", "-n", "payments"))
    rows = [re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines()]
    assert rows[0] == ["RESOURCE", "NAMESPACE", "NAME", "VERBS", "POLICY"]
    mine = [row for row in rows[1:] if POLICY in row[4].split(",")]
    assert [row[:4] for row in mine] == [["pods", "payments", "(any name)", "get,list"],
                                         ["pods/log", "payments", "(any name)", "get,list"]]
    assert "db-1" not in result.stdout and "db-2" not in result.stdout
    assert "You may not list pods in payments, so no names are shown there: ask for a name you know" in result.stderr

    # Nothing outside the bound: secrets are in no bound of bob's, and carol is in no policy with one.
    assert "secrets" not in ok(access(gatepass, "bob", "request", "search", "--kind", "secrets")).stdout
    assert ok(access(gatepass, "carol", "request", "search")).stdout == ""


def test_search_lists_names_once_bob_may_list_them_himself(gatepass, bob_clean):
    # Granted list on pods (a resource request for any pod name), the search lists the names as bob.
    created = ok(access(gatepass, "bob", "request", "create", "--resource", "pods", "--verbs", "list", "-n",
                        "payments", "--reason=search test", "--nowait"))
    name = created.stdout.strip()
    ok(access(gatepass, "alice", "review", "--approve", "--reason=ok", name))
    ok(access(gatepass, "ivan", "review", "--approve", "--reason=ok", name))
    wait_state(gatepass, name, "Approved", timeout=WAIT)
    wait_for(lambda: can(gatepass, "bob", "list", "pods"), timeout=WAIT, what="bob's list access")

    result = ok(access(gatepass, "bob", "request", "search", "--kind", "pods", "-n", "payments", "*-1"))
    rows = [re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines()[1:]]
    assert ["pods", "payments", "db-1", "get,list"] in [row[:4] for row in rows]
    assert ["pods/log", "payments", "db-1", "get,list"] in [row[:4] for row in rows]
    assert "db-2" not in result.stdout  # the pattern narrows
    assert "--resource pods/db-1 --verbs" in result.stderr


def test_create_resource_asks_for_exactly_the_flags_and_show_says_each_rule(gatepass, bob_clean):
    created = ok(access(gatepass, "bob", "request", "create", "--resource", "pods/db-1", "--verbs", "get,logs",
                        "-n", "payments", "--reason=INC-4711", "--duration=30m", "--nowait"))
    name = created.stdout.strip()
    assert re.fullmatch(r"bob-pods-db-1-[a-z0-9]{5}", name), created.stdout
    assert (f"Created AccessRequest {name}: get pods db-1 in payments; get pods/log db-1 in payments for 30m."
            in created.stderr)
    body = wait_state(gatepass, name, "Pending", timeout=WAIT)
    assert body["spec"]["resources"] == [
        {"apiGroup": "", "resource": "pods", "namespace": "payments", "names": ["db-1"], "verbs": ["get"]},
        {"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
         "verbs": ["get"]}]
    assert "roles" not in body["spec"] or body["spec"]["roles"] == []

    shown = ok(access(gatepass, "alice", "request", "show", name)).stdout
    assert re.search(r"^Resources:\s+get pods db-1 in payments$", shown, re.M), shown
    assert re.search(r"^\s+get pods/log db-1 in payments$", shown, re.M), shown
    listed = ok(access(gatepass, "alice", "request", "ls", "--reviewable")).stdout
    row = next(line for line in listed.splitlines() if line.startswith(name + " "))
    assert re.split(r"\s{2,}", row)[2:4] == ["get pods db-1; get pods/log db-1", "payments"]

    ok(access(gatepass, "alice", "review", "--approve", "--reason=ok", name))
    ok(access(gatepass, "ivan", "review", "--approve", "--reason=ok", name))
    wait_state(gatepass, name, "Approved", timeout=WAIT)
    wait_for(lambda: can(gatepass, "bob", "get", "pods/log/db-1"), timeout=WAIT, what="bob's log access")
    assert can(gatepass, "bob", "get", "pods/db-1")
    assert not can(gatepass, "bob", "get", "pods/log/db-2")
    assert not can(gatepass, "bob", "create", "pods/exec/db-1")
    assert not can(gatepass, "bob", "list", "secrets")


def test_create_outside_the_bound_is_one_line_naming_the_rule(gatepass, bounded):
    result = access(gatepass, "bob", "request", "create", "--resource", "pods/db-1", "--verbs", "exec",
                    "-n", "payments", "--reason=x", "--nowait")
    line = one_error_line(result)
    assert line.startswith("create pods/exec db-1 in payments exceeds the bound: create pods/exec db-1 is not "
                           "allowed by ClusterRole "), line
    assert not [r for r in requests_of(gatepass, "bob") if r["spec"].get("reason") == "x"
                and (r["spec"].get("resources") or [{}])[0].get("subresource") == "exec"]  # nothing was stored


@pytest.mark.parametrize("argv, complaint", [
    (["--resource", "pods/db-1", "-n", "payments"], "--resource needs --verbs"),
    (["--verbs", "get"], "name what to ask for: --roles, or --resource with --verbs"),
    (["--resource", "secrets/x", "--verbs", "logs"], "--verbs logs applies to pods only"),
])
def test_resource_flags_that_do_not_fit_are_refused_before_anything_is_sent(gatepass, argv, complaint):
    result = access(gatepass, "bob", "request", "create", "--reason=x", "--nowait", *argv)
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr
    assert complaint in result.stderr.splitlines()[-1]


def test_exec_asks_for_the_least_kubectl_logs_needs(gatepass, bob_clean):
    kubectl = str(gatepass.cluster.kubectl.binary)
    command = [kubectl, f"--kubeconfig={gatepass.cluster.kubeconfig}", "--context=bob",
               "logs", "db-1", "-n", "payments"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert first.returncode != 0 and "Forbidden" in first.stderr

    reason = unique("logs")
    errors: list = []
    reviewers = approve_when_asked(gatepass, reason, errors)
    result = access(gatepass, "bob", "exec", f"--reason={reason}", "--", *command)
    reviewers.join(timeout=WAIT)
    assert not errors, errors

    err = result.stderr
    assert 'User "bob" cannot get resource "pods" in API group "" in the namespace "payments"' in err
    assert "Access denied: bob may not get pods db-1 in namespace payments." in err
    assert re.search(r"^Least access that allows it: get pods db-1 in payments; get pods/log db-1 in payments "
                     r"\(AccessPolicy [\w-]+\)\.$", err, re.M), err
    assert "Running the command again." in err
    # The request filed is exactly the minimal one: the pod, and its log, by name, in payments.
    [request] = [r for r in requests_of(gatepass, "bob") if r["spec"].get("reason") == reason]
    assert not request["spec"].get("roles")
    assert request["spec"]["resources"] == [
        {"apiGroup": "", "resource": "pods", "namespace": "payments", "names": ["db-1"], "verbs": ["get"]},
        {"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
         "verbs": ["get"]}]
    assert request["status"]["state"] == "Approved"
    # No node runs db-1: the second run reads an empty log (or the API server's "no host" answer), not a
    # refusal; RBAC says bob may read the log of db-1 and nothing more.
    assert "Forbidden" not in err.split("Running the command again.")[1]
    assert result.returncode == 0 or "host" in err.split("Running the command again.")[1], err
    assert can(gatepass, "bob", "get", "pods/log/db-1")
    assert not can(gatepass, "bob", "get", "pods/log/db-2")
    assert not can(gatepass, "bob", "create", "pods/exec/db-1")


def test_exec_whole_role_asks_for_the_role(gatepass, bob_clean):
    kubectl = str(gatepass.cluster.kubectl.binary)
    command = [kubectl, f"--kubeconfig={gatepass.cluster.kubeconfig}", "--context=bob",
               "get", "pods", "db-1", "-n", "payments"]
    reason = unique("role")
    errors: list = []
    reviewers = approve_when_asked(gatepass, reason, errors)
    result = access(gatepass, "bob", "exec", "--whole-role", f"--reason={reason}", "--", *command)
    reviewers.join(timeout=WAIT)
    assert not errors, errors
    assert result.returncode == 0, result.stderr
    assert "db-1" in result.stdout
    assert "Role dba in payments (AccessPolicy demo-dba) allows it." in result.stderr
    [request] = [r for r in requests_of(gatepass, "bob") if r["spec"].get("reason") == reason]
    assert request["spec"]["roles"] == ["dba"] and not request["spec"].get("resources")


def test_the_search_reads_names_only_so_listing_secrets_reads_no_secret_data(gatepass):
    from gatepass.cli.kube import METADATA_ONLY, Kube

    kube = Kube.connect(str(gatepass.cluster.kubeconfig), "admin")  # may read every secret's data
    assert ("payments", "db-password") in kube.list_names("", "secrets", "payments").found
    response = kube.transport.request("GET", "/api/v1/namespaces/payments/secrets", accept=METADATA_ONLY)
    listed = json.loads(response.read())
    assert listed["kind"] == "PartialObjectMetadataList" and listed["items"]
    assert all(set(item) <= {"kind", "apiVersion", "metadata"} for item in listed["items"]), listed["items"][0]


def test_exec_asks_for_a_role_and_says_why_when_no_bound_allows_the_least(gatepass, bob_clean):
    # kubectl exec reads the pod, then creates an exec on it: the bound (pods and their logs) allows only the
    # first, so exec asks for the role that allows both, and says why.
    kubectl = str(gatepass.cluster.kubectl.binary)
    command = [kubectl, f"--kubeconfig={gatepass.cluster.kubeconfig}", "--context=bob",
               "exec", "db-1", "-n", "payments", "--", "true"]
    reason = unique("exec")
    errors: list = []
    reviewers = approve_when_asked(gatepass, reason, errors)
    result = access(gatepass, "bob", "exec", f"--reason={reason}", "--", *command)
    reviewers.join(timeout=WAIT)
    assert not errors, errors
    err = result.stderr
    assert ("Asking for a role instead: no AccessPolicy's resource bound allows bob get pods db-1 in payments; "
            "create pods/exec db-1 in payments.") in err.splitlines(), err
    assert "Role dba in payments (AccessPolicy demo-dba) allows it." in err
    [request] = [r for r in requests_of(gatepass, "bob") if r["spec"].get("reason") == reason]
    assert request["spec"]["roles"] == ["dba"] and not request["spec"].get("resources")
    # No node runs db-1: the second run gets as far as the API server's answer that it has no host.
    assert "Forbidden" not in err.split("Running the command again.")[1], err
    assert can(gatepass, "bob", "create", "pods/exec/db-1")
