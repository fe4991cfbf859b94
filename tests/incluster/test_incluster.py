"""Gatepass as users install it: the chart's pods on a real node, proven with real users.

The tests run in file order, as one story: Helm install, the walkthrough,
refusals, the Web UI behind a token-forwarding proxy, a leader lost mid-grant,
an upgrade during live grants, an upgrade to other names and an existing
ServiceAccount, failing closed with no pods, uninstall, a second install from
kustomize, and a clean teardown.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from gatepass.devcluster import incluster as chart
from gatepass.devcluster.incluster import leftovers
from gatepass.devcluster.node import cgroup_pids

from ..e2e.helpers import (approve, can_i, create_request, get, parse_time, refused, request_manifest, unique,
                           wait_for, wait_state)

pytestmark = pytest.mark.e2e

NAMESPACE = "gatepass-system"
REPO = Path(__file__).resolve().parents[2]


def pods(incluster) -> list[dict]:
    out = incluster.kubectl("-n", NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/name=gatepass", "-o", "json")
    return [p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", ()))


def leader(incluster) -> str:
    lease = json.loads(incluster.kubectl("-n", NAMESPACE, "get", "lease", "gatepass-operator", "-o", "json").stdout)
    return (lease["spec"].get("holderIdentity") or "").split("_")[0]  # empty: handed back, nobody holds it


def events(incluster, name: str) -> list[str]:
    out = incluster.kubectl("get", "events", "-n", "default", "--field-selector", f"involvedObject.name={name}",
                            "-o", "json")
    return [e["reason"] for e in json.loads(out.stdout)["items"]]


def rollout(incluster, deployment: str = chart.DEPLOYMENT) -> None:
    incluster.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{deployment}", "--timeout=180s",
                      timeout=240)


def test_two_replicas_run_from_this_checkouts_image(incluster):
    running = wait_for(lambda: (found := pods(incluster)) and len(found) == 2 and all(map(ready, found)) and found,
                       timeout=120, what="2 Ready operator pods")
    image_id = (incluster.images / "operator.id").read_text().strip()
    for pod in running:
        [status] = pod["status"]["containerStatuses"]
        assert status["image"].endswith(f"{chart.IMAGE_REPOSITORY}:{chart.IMAGE_TAG}")
        assert status["imageID"].endswith(image_id.removeprefix("sha256:")), status["imageID"]
        assert status["restartCount"] == 0
    assert leader(incluster) in {p["metadata"]["name"] for p in running}


def test_the_running_pod_is_hardened(incluster):
    [pod, *_] = pods(incluster)
    name = pod["metadata"]["name"]

    def run(*argv: str, check: bool = True):
        return incluster.kubectl("-n", NAMESPACE, "exec", name, "--", *argv, check=check)

    assert run("python", "-c", "import os; print(os.getuid(), os.getgid())").stdout.split() == ["65532", "65532"]
    write = run("python", "-c", "open('/probe', 'w')", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr
    # The one token in the pod is the chart's ServiceAccount's.
    claims = run("python", "-c", "import base64, json; t = open('/var/run/secrets/kubernetes.io/serviceaccount/"
                 "token').read().split('.')[1]; print(json.loads(base64.urlsafe_b64decode(t + '=='))['sub'])")
    assert claims.stdout.strip() == f"system:serviceaccount:{NAMESPACE}:gatepass-operator"
    [container] = pod["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert set(container["resources"]["requests"]) >= {"cpu", "memory"}, container["resources"]
    assert "memory" in container["resources"]["limits"], container["resources"]


def test_kubectl_logs_work_on_the_operator_pods(incluster):
    for pod in pods(incluster):
        text = incluster.kubectl("-n", NAMESPACE, "logs", pod["metadata"]["name"], "--tail=50").stdout
        assert "gatepass" in text


def test_the_walkthrough_as_bob_alice_and_ivan(incluster):
    name = unique("walk")
    assert can_i(incluster, "bob") == "no"
    create_request(incluster, name)
    approve(incluster, name, "alice", "ivan")
    body = wait_state(incluster, name, "Approved", timeout=60)
    assert [r["reviewer"] for r in body["status"]["reviews"]] == ["alice", "ivan"]
    wait_for(lambda: can_i(incluster, "bob") == "yes", timeout=30, what="bob's access")
    incluster.kubectl("get", "secrets", "-n", "payments", user="bob")
    incluster.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done", user="bob")
    wait_state(incluster, name, "Revoked", timeout=60)
    wait_for(lambda: can_i(incluster, "bob") == "no", timeout=30, what="bob's access to end")


def test_forged_identities_and_unpermitted_requests_are_refused(incluster):
    name = unique("forged")
    manifest = json.loads(request_manifest(name))
    manifest["spec"]["requester"] = {"username": "alice", "groups": ["dba-leads"]}
    incluster.kubectl("apply", "-f", "-", user="bob", input=json.dumps(manifest))
    assert wait_state(incluster, name, "Pending")["spec"]["requester"]["username"] == "bob"
    result = incluster.kubectl("apply", "-f", "-", user="carol", input=request_manifest(unique("carol")),
                               check=False)
    assert "carol may not request role \"dba\"" in refused(result)
    incluster.kubectl("delete", "accessrequest", name, user="bob")



def ui_get(pod_ip: str, path: str, headers: dict) -> tuple[int, str]:
    import http.client

    connection = http.client.HTTPConnection(pod_ip, 8080, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": "ui.test", **headers})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_the_chart_s_web_ui_serves_each_bearer_token_as_its_own_user(incluster):
    """ui.enabled on the node: the pod runs from the image with no token of its own and serves whoever the
    forwarded bearer token says, seeing what that user's RBAC lets them see."""
    account = unique("ui-user")
    binding = f"{account}-requester"
    chart.install_chart(incluster.helm, incluster.sandbox.plane, incluster.sandbox.kubectl,
                        "ui.enabled=true", "ui.allowedHosts={ui.test}")
    try:
        rollout(incluster, "gatepass-ui")
        [pod] = [p for p in pods(incluster) if p["metadata"]["labels"].get("app.kubernetes.io/component") == "ui"]
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert not [v for v in pod["spec"].get("volumes", ()) if "projected" in v or "secret" in v]
        incluster.kubectl("create", "serviceaccount", account, "-n", "default")
        incluster.kubectl("create", "clusterrolebinding", binding, "--clusterrole=gatepass-requester",
                          f"--serviceaccount=default:{account}")
        token = incluster.kubectl("create", "token", account, "-n", "default", "--duration=10m").stdout.strip()
        ip = pod["status"]["podIP"]

        status, body = ui_get(ip, "/", {"X-Forwarded-User": "alice"})
        assert status == 401 and body.count("\n") == 1
        status, body = ui_get(ip, "/", {"Authorization": f"Bearer {token}", "X-Forwarded-User": "alice"})
        assert status == 200, body
        assert f'Signed in as <strong class="user" hx-disable>system:serviceaccount:default:{account}</strong>' in body
        assert "alice" not in body.split("<main>")[0]
        status, _ = ui_get(ip, "/static/vendor/htmx.min.js", {})
        assert status == 200  # the vendored files ship in the image
        assert ui_get(ip, "/healthz", {"Host": pod["status"]["podIP"]})[0] == 200
    finally:
        incluster.kubectl("delete", "clusterrolebinding", binding, check=False)
        incluster.kubectl("delete", "serviceaccount", account, "-n", "default", check=False)
        chart.install_chart(incluster.helm, incluster.sandbox.plane, incluster.sandbox.kubectl)
        wait_for(lambda: not [p for p in pods(incluster)
                              if p["metadata"]["labels"].get("app.kubernetes.io/component") == "ui"],
                 timeout=120, what="the UI's pod to go")

def test_the_leader_pod_deleted_mid_grant(incluster):
    name = unique("leader")
    create_request(incluster, name, duration="40s")
    approve(incluster, name, "alice", "ivan")
    body = wait_state(incluster, name, "Approved", timeout=60)
    expires_at = parse_time(body["status"]["expiresAt"])
    wait_for(lambda: can_i(incluster, "bob") == "yes", timeout=30, what="bob's access")
    first = leader(incluster)
    incluster.kubectl("-n", NAMESPACE, "delete", "pod", first, "--wait=false")
    wait_for(lambda: leader(incluster) not in ("", first), timeout=90, what="another pod to take the lease")
    seconds_left = (expires_at - datetime.now(timezone.utc)).total_seconds()
    ended = wait_state(incluster, name, "Expired", timeout=max(seconds_left, 0) + 90)
    assert can_i(incluster, "bob") == "no"
    assert ended["status"]["expiresAt"] == body["status"]["expiresAt"]  # not extended
    wait_for(lambda: "Expired" in events(incluster, name), what="the Expired event")
    assert events(incluster, name).count("Granted") == 1
    ended_at = next(parse_time(c["lastTransitionTime"]) for c in ended["status"]["conditions"]
                    if c["type"] == "Expired")
    print(f"\nthe grant ended {(ended_at - expires_at).total_seconds():.0f} s after its deadline, "
          f"the leader having been deleted {seconds_left:.0f} s before it")
    rollout(incluster)


def test_helm_upgrade_with_live_grants_loses_and_extends_nothing(incluster):
    name = unique("upgrade")
    create_request(incluster, name)
    approve(incluster, name, "alice", "ivan")
    before = wait_state(incluster, name, "Approved", timeout=60)
    wait_for(lambda: can_i(incluster, "bob") == "yes", timeout=30, what="bob's access")
    try:
        chart.install_chart(incluster.helm, incluster.sandbox.plane, incluster.sandbox.kubectl,
                            "operator.workers=4", "operator.verbose=true")
        for pod in pods(incluster):  # the rollout replaced both pods
            args = pod["spec"]["containers"][0]["args"]
            assert "--workers=4" in args and "--log-level=debug" in args, args  # operator.verbose: debug logging
        after = get(incluster, "accessrequest", name)
        assert after["status"]["state"] == "Approved"
        for key in ("grantedAt", "expiresAt", "bindings", "reviews"):
            assert after["status"][key] == before["status"][key], key
        assert can_i(incluster, "bob") == "yes"
    finally:  # the tests after this one start with bob holding nothing
        incluster.kubectl("delete", "accessrequest", name, user="bob", check=False)
    wait_for(lambda: can_i(incluster, "bob") == "no", timeout=30, what="bob's access to end")



def test_helm_upgrade_to_other_names_and_an_existing_service_account(incluster):
    """fullnameOverride renames every object (the Lease, the certificate Secret and the webhook Service
    included) and serviceAccount.create=false runs the operator as an existing ServiceAccount that the
    chart's bindings bind: access is still granted and ended. Then back to the defaults."""
    sandbox = incluster.sandbox
    incluster.kubectl("-n", NAMESPACE, "create", "serviceaccount", "platform-operator")
    chart.helm(incluster.helm, sandbox.plane, "upgrade", chart.RELEASE, str(REPO / "charts" / "gatepass"),
               "--namespace", NAMESPACE, *chart.chart_values("fullnameOverride=access", "serviceAccount.create=false",
                                                             "serviceAccount.name=platform-operator"))
    try:
        rollout(incluster, "access-operator")
        running = wait_for(lambda: (found := pods(incluster)) and len(found) == 2 and all(map(ready, found)) and found,
                           timeout=120, what="2 Ready access-operator pods")
        assert {p["spec"]["serviceAccountName"] for p in running} == {"platform-operator"}
        for kind in ("deployment", "serviceaccount"):  # renamed; the chart made no ServiceAccount
            gone = incluster.kubectl("-n", NAMESPACE, "get", kind, "gatepass-operator", check=False)
            assert gone.returncode != 0 and "NotFound" in gone.stderr, kind
        name = unique("renamed")
        create_request(incluster, name)
        approve(incluster, name, "alice", "ivan")
        wait_state(incluster, name, "Approved", timeout=90)
        wait_for(lambda: can_i(incluster, "bob") == "yes", timeout=30, what="bob's access")
        lease = json.loads(incluster.kubectl("-n", NAMESPACE, "get", "lease", "access-operator", "-o", "json").stdout)
        assert lease["spec"]["holderIdentity"].split("_")[0] in {p["metadata"]["name"] for p in running}
        secret = json.loads(incluster.kubectl("-n", NAMESPACE, "get", "secret", "access-webhook-tls", "-o",
                                              "json").stdout)
        assert {"tls.crt", "ca.crt"} <= set(secret["data"])
        incluster.kubectl("delete", "accessrequest", name, user="bob")
        wait_for(lambda: can_i(incluster, "bob") == "no", timeout=30, what="bob's access to end")
    finally:
        chart.install_chart(incluster.helm, sandbox.plane, sandbox.kubectl)
        incluster.kubectl("-n", NAMESPACE, "delete", "serviceaccount", "platform-operator")
    rollout(incluster)


def test_webhooks_fail_closed_with_no_pods(incluster):
    incluster.kubectl("-n", NAMESPACE, "scale", "deployment", chart.DEPLOYMENT, "--replicas=0")
    wait_for(lambda: not pods(incluster), timeout=90, what="no operator pods")
    result = incluster.kubectl("apply", "-f", "-", user="bob", input=request_manifest(unique("closed")), check=False)
    assert "failed calling webhook" in refused(result)
    assert can_i(incluster, "bob") == "no"
    incluster.kubectl("-n", NAMESPACE, "scale", "deployment", chart.DEPLOYMENT, "--replicas=2")
    rollout(incluster)


def test_helm_uninstall_keeps_the_crds_and_the_requests(incluster):
    name = unique("kept")
    create_request(incluster, name)
    chart.helm(incluster.helm, incluster.sandbox.plane, "uninstall", chart.RELEASE, "--namespace", NAMESPACE,
               "--wait")
    wait_for(lambda: not pods(incluster), timeout=90, what="the pods to go")
    crds = incluster.kubectl("get", "crd", "-o", "name").stdout
    for kind in ("accessrequests", "accessreviews", "accesspolicies"):
        assert f"{kind}.gatepass.dev" in crds
    assert get(incluster, "accessrequest", name)["spec"]["requester"]["username"] == "bob"


def test_kustomize_installs_it_again(incluster, tmp_path):
    base = os.path.relpath(REPO / "manifests", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": [base],
        "images": [{"name": "ghcr.io/gatepass/gatepass-operator", "newName": chart.IMAGE_REPOSITORY,
                    "newTag": chart.IMAGE_TAG}],
        "patches": [{"target": {"kind": "Deployment", "name": chart.DEPLOYMENT},
                     "patch": json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/imagePullPolicy",
                                           "value": "Never"}])}]}))
    incluster.kubectl("apply", "-k", str(tmp_path), "--server-side", "--force-conflicts", timeout=180)
    rollout(incluster)
    name = unique("kustomize")
    create_request(incluster, name)
    approve(incluster, name, "alice", "ivan")
    wait_state(incluster, name, "Approved", timeout=60)
    wait_for(lambda: can_i(incluster, "bob") == "yes", timeout=30, what="bob's access")
    incluster.kubectl("delete", "accessrequest", name, user="bob")
    wait_for(lambda: can_i(incluster, "bob") == "no", timeout=30, what="bob's access to end")


def test_teardown_leaves_nothing_behind(incluster):
    sandbox = incluster.sandbox
    network, cgroup = sandbox.network, sandbox.network.cgroup
    workdir = sandbox.workdir
    started = time.monotonic()
    sandbox.stop()
    print(f"\nthe sandbox stopped in {time.monotonic() - started:.1f}s")
    assert leftovers(network) == []
    assert cgroup_pids(cgroup) == set()
    mounts = Path("/proc/self/mounts").read_text()
    assert str(workdir) not in mounts
