"""GitOps: a pipeline files requests on a user's behalf, and what git holds never drifts from the cluster."""

from __future__ import annotations

import json
import pytest

from gatepass.process.logs import audit_records

from .helpers import bindings_of, can_i, get, refused, request_manifest, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e


@pytest.fixture
def pipeline(gatepass, namespace):
    """A deployment pipeline's ServiceAccount, allowed to use Gatepass, and a policy that trusts it."""
    username = f"system:serviceaccount:{namespace}:deployer"
    gatepass.kubectl("create", "serviceaccount", "deployer", "-n", namespace)
    binding = f"gatepass-requester-{namespace}"
    gatepass.kubectl("create", "clusterrolebinding", binding, "--clusterrole=gatepass-requester",
                     f"--serviceaccount={namespace}:deployer")
    token = gatepass.kubectl("create", "token", "deployer", "-n", namespace, "--duration=1h").stdout.strip()
    context = f"deployer-{namespace}"
    gatepass.cluster.plane.add_token_user(context, token)
    policy = f"gitops-{namespace}"
    gatepass.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(policy_manifest(policy, username)))
    try:
        yield context, username, policy
    finally:
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)
        gatepass.kubectl("delete", "clusterrolebinding", binding, check=False)


def policy_manifest(name: str, submitter: str) -> dict:
    return {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": name},
            "spec": {"requesters": {"groups": ["developers"]},
                     "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
                     "reviewers": {"users": ["alice", "ivan"]},
                     "thresholds": [{"name": "both", "approvals": 2}],
                     "trustedSubmitters": {"users": [submitter]},
                     "maxDuration": "1h"}}


def on_behalf(name: str, user: str = "bob", groups=("developers",), **spec) -> str:
    manifest = json.loads(request_manifest(name, **spec))
    manifest["spec"]["onBehalfOf"] = {"username": user, "groups": list(groups)}
    return json.dumps(manifest)


def test_a_trusted_pipeline_files_for_a_user_and_is_recorded(gatepass, pipeline):
    context, submitter, policy = pipeline
    name = unique("gitops")
    gatepass.kubectl("apply", "-f", "-", user=context, input=on_behalf(name))
    try:
        body = wait_state(gatepass, name, "Pending")
        assert body["spec"]["requester"]["username"] == "bob"
        assert body["spec"]["requester"]["groups"] == ["developers"]
        assert body["spec"]["submitter"]["username"] == submitter
        assert body["status"]["policy"] == policy  # demo-dba comes first by name but does not trust the pipeline

        for reviewer in ("alice", "ivan"):
            gatepass.kubectl("annotate", "accessrequest", name, f"gatepass.dev/approve=ok from {reviewer}",
                             user=reviewer)
        wait_state(gatepass, name, "Approved")
        wait_for(lambda: can_i(gatepass, "bob") == "yes", what="bob's access")

        def audit_lines() -> list[dict]:
            return [r for r in audit_records(gatepass.operator.log()) if r.get("request") == name]

        granted = wait_for(lambda: [line for line in audit_lines() if line["event"] == "Granted"],
                           what="audit line")
        assert granted[0]["submitter"] == submitter and granted[0]["requester"] == "bob"
        assert f"filed by {submitter} on bob's behalf" in granted[0]["message"]
    finally:
        # Removing the file from git prunes the request: the pipeline may delete what it filed.
        gatepass.kubectl("delete", "accessrequest", name, user=context)
    wait_for(lambda: bindings_of(gatepass, name) == [], what="the binding to go")
    wait_for(lambda: can_i(gatepass, "bob") == "no", what="bob's access to end")


def test_only_trusted_submitters_may_file_for_others(gatepass, pipeline):
    result = gatepass.kubectl("apply", "-f", "-", user="carol", check=False, input=on_behalf(unique("forged")))
    assert "carol may not request role" in refused(result) or "carol may not file requests" in refused(result)
    result = gatepass.kubectl("apply", "-f", "-", user="bob", check=False,
                              input=on_behalf(unique("forged"), user="ivan", groups=("developers",)))
    assert "bob may not file requests on behalf of ivan" in refused(result)
    context, _, _ = pipeline
    result = gatepass.kubectl("apply", "-f", "-", user=context, check=False,
                              input=on_behalf(unique("outsider"), user="carol", groups=("contractors",)))
    assert 'carol may not request role "dba"' in refused(result)


def test_naming_yourself_is_an_ordinary_request(gatepass):
    name = unique("self")
    gatepass.kubectl("apply", "-f", "-", user="bob", input=on_behalf(name, user="bob"))
    body = wait_state(gatepass, name, "Pending")
    assert body["spec"]["requester"]["username"] == "bob"
    assert "submitter" not in body["spec"]


@pytest.mark.parametrize("server_side", [True, False], ids=["server-side apply", "client-side apply"])
def test_what_git_applies_shows_no_diff_after_the_operator_acted(gatepass, pipeline, tmp_path, server_side):
    """Flux applies server-side, Argo CD client-side by default: neither sees a perpetual diff."""
    context, submitter, policy = pipeline
    name = unique("nodiff")
    flags = ("--server-side",) if server_side else ()
    request = tmp_path / "request.json"
    request.write_text(on_behalf(name))
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy_manifest(policy, submitter)))

    gatepass.kubectl("apply", *flags, "-f", str(policy_file))
    gatepass.kubectl("apply", *flags, "-f", str(request), user=context)
    try:
        wait_state(gatepass, name, "Pending")
        gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/approve=ok", user="alice")
        wait_for(lambda: get(gatepass, "accessrequest", name)["status"].get("approvals") == 1, what="the review")
        wait_for(lambda: get(gatepass, "accesspolicy", policy).get("status", {}).get("roles"), what="policy status")

        for path, user in ((request, context), (policy_file, "admin")):
            result = gatepass.kubectl("diff", *flags, "-f", str(path), user=user, check=False)
            assert result.returncode == 0, f"kubectl diff {path.name} shows: {result.stdout}{result.stderr}"
        gatepass.kubectl("apply", *flags, "-f", str(request), user=context)
        body = get(gatepass, "accessrequest", name)
        assert body["spec"]["requester"]["username"] == "bob"
        assert body["spec"]["submitter"]["username"] == submitter  # kept through the re-apply
        assert body["status"]["approvals"] == 1
        for obj in (body, get(gatepass, "accesspolicy", policy)):
            assert not [key for key in obj["metadata"].get("annotations") or {} if "kopf" in key]
    finally:
        gatepass.kubectl("delete", "accessrequest", name, user=context, check=False)
