"""The chart's in-cluster Web UI (ui.enabled): off by default; when on, no token, no RBAC, hardened, probed.

Rendered with hack/helm/build.sh's helm (cached after its first build); with CI=true a missing helm fails.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "gatepass"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
NAMESPACE = "gatepass-system"
ENABLED = ("ui.enabled=true", "ui.publicURL=https://gatepass.example.com")


@pytest.fixture(scope="module")
def helm() -> str:
    result = subprocess.run(["bash", str(REPO / "hack" / "helm" / "build.sh")], capture_output=True, text=True)
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["no output"])[-1]
        if IN_CI:
            pytest.fail(f"building helm failed: {message}")
        pytest.skip(f"helm unavailable: {message}")
    return result.stdout.strip().splitlines()[-1]


def render(helm: str, *values: str) -> subprocess.CompletedProcess:
    flags = [arg for value in values for arg in ("--set", value)]
    return subprocess.run([helm, "template", "gatepass", str(CHART), "--namespace", NAMESPACE, *flags],
                          capture_output=True, text=True, timeout=120)


def objects(helm: str, *values: str) -> list[dict]:
    result = render(helm, *values)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def ui_objects(docs: list[dict]) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in docs
            if doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "ui"}


def test_the_ui_is_off_by_default(helm):
    docs = objects(helm)
    assert ui_objects(docs) == {}
    assert not [doc for doc in docs if doc["metadata"]["name"].endswith("-ui")]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["ui"]["enabled"] is False


def test_enabled_it_is_a_deployment_a_service_and_a_service_account_without_a_token(helm):
    ui = ui_objects(objects(helm, *ENABLED))
    assert set(ui) == {"Deployment", "Service", "ServiceAccount"}
    assert {doc["metadata"]["name"] for doc in ui.values()} == {"gatepass-ui"}
    assert ui["ServiceAccount"]["automountServiceAccountToken"] is False
    pod = ui["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gatepass-ui" and pod["automountServiceAccountToken"] is False
    for volume in pod["volumes"]:
        assert "secret" not in volume and "projected" not in volume, volume  # no token, no secrets at all
    [container] = pod["containers"]
    assert "env" not in container and "envFrom" not in container


def test_no_rbac_object_mentions_the_ui_s_service_account(helm):
    for doc in objects(helm, *ENABLED):
        if doc["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
            assert "gatepass-ui" not in json.dumps(doc), doc["metadata"]["name"]


def test_it_runs_the_plugin_s_in_cluster_ui_answering_only_to_its_hosts(helm):
    [container] = ui_objects(objects(helm, *ENABLED))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/gatepass/gatepass-operator:0.1.0"  # the operator image
    assert container["command"] == ["kubectl-access", "ui", "--in-cluster", "--address", "0.0.0.0", "--port", "8080",
                                    "--allowed-host", "gatepass.example.com"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    hosts = ("ui.enabled=true", "ui.allowedHosts={a.example.com,b.example.com}")
    [container] = ui_objects(objects(helm, *hosts))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["command"][-4:] == ["--allowed-host", "a.example.com", "--allowed-host", "b.example.com"]


def test_the_command_is_one_the_plugin_accepts(helm):
    from gatepass.cli import args as cli_args

    [container] = ui_objects(objects(helm, *ENABLED))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["command"][0] == "kubectl-access"
    parsed = cli_args.parse(container["command"][1:])
    assert (parsed.verb, parsed.in_cluster, parsed.address, parsed.port) == ("ui", True, "0.0.0.0", 8080)
    assert parsed.allowed_host == ["gatepass.example.com"]
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert any(parsed.ca_file.startswith(path.rstrip("/") + "/") or parsed.ca_file == path for path in mounted)


def test_enabled_without_a_host_is_refused(helm):
    result = render(helm, "ui.enabled=true")
    assert result.returncode != 0
    assert "/ui/allowedHosts" in result.stderr and "/ui/publicURL" in result.stderr


def test_it_is_hardened_like_the_operator_and_probed_on_healthz(helm):
    docs = objects(helm, *ENABLED)
    [operator] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "gatepass-operator"]
    pod = ui_objects(docs)["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"] == operator["spec"]["template"]["spec"]["securityContext"]
    [container] = pod["containers"]
    [operator_container] = operator["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"] == operator_container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert container["resources"] == values["ui"]["resources"] and container["resources"]["limits"]


def test_the_api_server_ca_comes_from_the_namespace_s_kube_root_ca(helm):
    pod = ui_objects(objects(helm, *ENABLED))["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/gatepass-ui"]
    assert mount["readOnly"] is True
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"] == {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}


def test_the_service_reaches_the_ui_pods_only_and_the_operator_services_do_not(helm):
    docs = objects(helm, *ENABLED, "ui.service.port=8000")
    ui = ui_objects(docs)
    pod_labels = ui["Deployment"]["spec"]["template"]["metadata"]["labels"]
    selector = ui["Service"]["spec"]["selector"]
    assert selector.items() <= pod_labels.items() and selector == ui["Deployment"]["spec"]["selector"]["matchLabels"]
    assert ui["Service"]["spec"]["type"] == "ClusterIP"
    assert ui["Service"]["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
    for service in docs:
        if service["kind"] == "Service" and service is not ui["Service"]:
            assert not service["spec"]["selector"].items() <= pod_labels.items(), service["metadata"]["name"]


def test_the_values_say_it_needs_a_proxy_that_forwards_the_user_s_token():
    text = (CHART / "values.yaml").read_text()
    section = text.split("\nui:\n", 1)[1].split("\n\n", 1)[0]
    assert "--pass-authorization-header" in section and "X-Forwarded-User" in section
    assert "no RBAC" in section and "kube-root-ca.crt" in section
    schema = json.loads((CHART / "values.schema.json").read_text())["properties"]["ui"]
    values = yaml.safe_load(text)["ui"]
    assert set(schema["properties"]) == set(values)
    assert set(schema["properties"]["service"]["properties"]) == set(values["service"])
