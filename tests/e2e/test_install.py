"""Installing Gatepass as a platform team would: kustomize and Helm, checked by the API server itself.

Both are applied with a server-side dry run (a real Deployment would need a kubelet and an image
registry, neither of which this control plane has); the operator that runs the rest of the suite
holds exactly the RBAC of manifests/rbac. The webhook certificate the operator makes for itself
is proven here for real, with the API server calling the operator through it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from gatepass.core.durations import checked_duration

from .conftest import IN_CI
from .helpers import request_manifest, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "gatepass"
INSTALL_DOC = REPO / "docs" / "install.md"
NAMESPACE = "gatepass-system"
RECOMMENDED_LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                      "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"}


@pytest.fixture(scope="module")
def helm() -> str:
    """hack/helm/build.sh's helm (built once through the Go module proxy, then cached)."""
    result = subprocess.run(["bash", str(REPO / "hack" / "helm" / "build.sh")], capture_output=True, text=True)
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["no output"])[-1]
        if IN_CI or os.environ.get("GATEPASS_REQUIRE_HELM"):
            pytest.fail(f"building helm failed: {message}")
        pytest.skip(f"helm unavailable: {message}")
    return result.stdout.strip().splitlines()[-1]


def run(*argv: str, input: str | None = None) -> str:
    result = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(argv[:3])} failed: {result.stderr}{result.stdout}"
    return result.stdout


def docs(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(cluster, path: Path) -> str:
    return run(str(cluster.kubectl.binary), "kustomize", str(path))


def template(helm: str, *values: str) -> str:
    flags = [arg for value in values for arg in ("--set", value)]
    return run(helm, "template", "gatepass", str(CHART), "--namespace", NAMESPACE, *flags)


def dry_run(cluster, manifests: str, *flags: str) -> str:
    result = cluster.kubectl.run("apply", "--dry-run=server", *flags, "-f", "-", input=manifests)
    return result.stdout


def by_key(objects: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}


def overlay(tmp_path: Path, *components: str) -> Path:
    """A user's overlay of manifests/ with some of its components (relative paths, as kustomize wants)."""
    base = os.path.relpath(REPO / "manifests", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [base], "components": [f"{base}/components/{c}" for c in components]}))
    return tmp_path


# --- kustomize -------------------------------------------------------------------------------------


def test_apply_k_manifests_passes_a_server_side_dry_run(gatepass):
    out = gatepass.cluster.kubectl.run("apply", "-k", str(REPO / "manifests"), "--dry-run=server").stdout
    for what in ("deployment.apps/gatepass-operator", "service/gatepass-webhook", "service/gatepass-metrics",
                 "mutatingwebhookconfiguration.admissionregistration.k8s.io/gatepass.dev",
                 "validatingwebhookconfiguration.admissionregistration.k8s.io/gatepass.dev",
                 "customresourcedefinition.apiextensions.k8s.io/accessrequests.gatepass.dev",
                 "role.rbac.authorization.k8s.io/gatepass-operator", "secret/gatepass-webhook-tls",
                 "poddisruptionbudget.policy/gatepass-operator"):
        assert what in out, out
    assert "(server dry run)" in out


def test_the_samples_pass_a_server_side_dry_run(gatepass):
    policy = (REPO / "manifests" / "samples" / "accesspolicy.yaml").read_text()
    assert "created (server dry run)" in dry_run(gatepass.cluster, policy)


def test_components_build_for_cert_manager_and_prometheus(cluster, tmp_path):
    objects = by_key(docs(kustomize(cluster, overlay(tmp_path, "cert-manager", "prometheus"))))
    assert ("Secret", NAMESPACE, "gatepass-webhook-tls") not in objects  # cert-manager's to make
    assert ("Certificate", NAMESPACE, "gatepass-webhook") in objects
    assert ("ServiceMonitor", NAMESPACE, "gatepass-operator") in objects
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        annotations = objects[(kind, "", "gatepass.dev")]["metadata"]["annotations"]
        assert annotations == {"cert-manager.io/inject-ca-from": f"{NAMESPACE}/gatepass-webhook"}
    pod = objects[("Deployment", NAMESPACE, "gatepass-operator")]["spec"]["template"]["spec"]
    assert "--webhook-cert=/certs/tls.crt" in pod["containers"][0]["args"]
    assert {"name": "certs", "secret": {"secretName": "gatepass-webhook-tls"}} in pod["volumes"]


def test_the_notifications_component_mounts_the_secret_the_overlay_makes(cluster, tmp_path):
    from gatepass.process.args import parse_args

    base = os.path.relpath(REPO / "manifests", tmp_path)
    (tmp_path / "notifications.yaml").write_text("receivers: []\n")
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": [base],
        "components": [f"{base}/components/cert-manager", f"{base}/components/notifications"],
        "secretGenerator": [{"name": "gatepass-notifications", "namespace": NAMESPACE,
                             "files": ["notifications.yaml"]}]}))
    objects = by_key(docs(kustomize(cluster, tmp_path)))
    [secret] = [key for key in objects if key[0] == "Secret" and key[2].startswith("gatepass-notifications-")]
    pod = objects[("Deployment", NAMESPACE, "gatepass-operator")]["spec"]["template"]["spec"]
    args = parse_args(pod["containers"][0]["args"])
    assert args.notifications == "/etc/gatepass/notifications/notifications.yaml"
    assert args.webhook_cert == "/certs/tls.crt"  # listed after cert-manager, both apply
    assert {"name": "notifications", "secret": {"secretName": secret[2]}} in pod["volumes"]
    assert {"name": "notifications", "mountPath": "/etc/gatepass/notifications", "readOnly": True} in \
        pod["containers"][0]["volumeMounts"]


def _only_route(ingress: dict) -> dict:
    """The Ingress's one path of its one rule (and no default backend: nothing else is routed)."""
    assert "defaultBackend" not in ingress["spec"]
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    return {"host": rule["host"], **path}


SLACK_ROUTE = {"path": "/slack/actions", "pathType": "Exact",
               "backend": {"service": {"name": "gatepass-metrics", "port": {"name": "http-metrics"}}}}


def test_the_slack_ingress_component_passes_a_server_side_dry_run(gatepass, tmp_path):
    base = os.path.relpath(REPO / "manifests", tmp_path)
    host = "gatepass.mycompany.com"
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({  # as the component's comment says to patch it
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": [base],
        "components": [f"{base}/components/slack-ingress"],
        "patches": [{"target": {"kind": "Ingress", "name": "gatepass-slack"}, "patch": yaml.safe_dump([
            {"op": "replace", "path": "/spec/rules/0/host", "value": host},
            {"op": "replace", "path": "/spec/tls/0/hosts/0", "value": host},
            {"op": "add", "path": "/spec/ingressClassName", "value": "nginx"}])}]}))
    built = kustomize(gatepass.cluster, tmp_path)
    objects = by_key(docs(built))
    ingress = objects[("Ingress", NAMESPACE, "gatepass-slack")]
    assert _only_route(ingress) == {"host": host, **SLACK_ROUTE}
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "gatepass-slack-tls"}]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert [k for k in objects if k[0] == "Ingress"] == [("Ingress", NAMESPACE, "gatepass-slack")]
    assert "ingress.networking.k8s.io/gatepass-slack created (server dry run)" in dry_run(gatepass.cluster, built)


# --- the overlays docs/install.md shows ----------------------------------------------------------------


def doc_overlays() -> list[str]:
    """Every ```yaml block of docs/install.md that starts with `# kustomization.yaml`, as it is written."""
    blocks = re.findall(r"^```yaml\n(# kustomization\.yaml\n.*?)^```", INSTALL_DOC.read_text(), re.M | re.S)
    assert len(blocks) >= 2, "docs/install.md shows no overlay"
    return blocks


def write_doc_overlay(text: str, tmp_path: Path) -> Path:
    """The overlay next to a checkout named gatepass, as the page puts it (../gatepass is this repository)."""
    folder = tmp_path / "overlay"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(text.replace("../gatepass/", os.path.relpath(REPO, folder) + "/"))
    return folder


CERT_MANAGER_KINDS = {"Certificate": "certificates", "Issuer": "issuers"}


@pytest.fixture(scope="module")
def cert_manager_kinds(cluster):
    """cert-manager's Certificate and Issuer kinds (open schemas: the API server checks what it may check of
    them, and everything else in full), removed afterwards."""
    crds = [{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
             "metadata": {"name": f"{plural}.cert-manager.io"},
             "spec": {"group": "cert-manager.io", "scope": "Namespaced",
                      "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                      "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                          "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
            for kind, plural in CERT_MANAGER_KINDS.items()]
    text = "---\n".join(yaml.safe_dump(crd) for crd in crds)
    cluster.kubectl.run("apply", "-f", "-", input=text)
    names = [f"crd/{crd['metadata']['name']}" for crd in crds]
    cluster.kubectl.run("wait", "--for=condition=Established", "--timeout=60s", *names)
    yield
    cluster.kubectl.run("delete", "--wait=false", *names)


@pytest.mark.parametrize("index", range(len(doc_overlays())))
def test_every_overlay_of_the_docs_builds_and_passes_a_server_side_dry_run(gatepass, cert_manager_kinds, tmp_path,
                                                                           index):
    text = doc_overlays()[index]
    overlay = yaml.safe_load(text)
    built = kustomize(gatepass.cluster, write_doc_overlay(text, tmp_path))
    objects = docs(built)
    namespace = overlay.get("namespace", NAMESPACE)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "CustomResourceDefinition", "MutatingWebhookConfiguration"} <= kinds
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    for image in overlay.get("images") or ():  # the override took effect
        assert container["image"] == f"{image['newName']}:{image['newTag']}"
    for obj in objects:
        assert RECOMMENDED_LABELS <= set(obj["metadata"]["labels"]), obj["metadata"]["name"]
        if obj["kind"] not in ("Namespace", "CustomResourceDefinition") and "namespace" in obj["metadata"]:
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]
        for subject in obj.get("subjects") or ():
            assert subject["namespace"] == namespace
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        [config] = [o for o in objects if o["kind"] == kind]
        assert {hook["clientConfig"]["service"]["namespace"] for hook in config["webhooks"]} == {namespace}
        if "Certificate" in kinds:
            assert config["metadata"]["annotations"] == {
                "cert-manager.io/inject-ca-from": f"{namespace}/gatepass-webhook"}
    if "Certificate" in kinds:
        [certificate] = [o for o in objects if o["kind"] == "Certificate"]
        assert certificate["spec"]["dnsNames"] == [f"gatepass-webhook.{namespace}.svc",
                                                   f"gatepass-webhook.{namespace}.svc.cluster.local"]
    if namespace != NAMESPACE:  # the objects in it are checked against the namespace that exists
        gatepass.cluster.kubectl.run("create", "namespace", namespace)
    try:
        without_namespace = "---\n".join(yaml.safe_dump(o) for o in objects if o["kind"] != "Namespace")
        out = dry_run(gatepass.cluster, without_namespace)
    finally:
        if namespace != NAMESPACE:
            gatepass.cluster.kubectl.run("delete", "namespace", namespace, "--wait=false")
    assert out.count("(server dry run)") == len([o for o in objects if o["kind"] != "Namespace"]), out
    for kind in CERT_MANAGER_KINDS:
        assert (f"{kind.lower()}.cert-manager.io/" in out) == (kind in kinds)


def test_kustomize_labels_every_object_and_keeps_the_selectors(cluster, tmp_path):
    components = sorted(p.name for p in (REPO / "manifests" / "components").iterdir() if p.is_dir())
    objects = docs(kustomize(cluster, overlay(tmp_path, *components)))
    selector = {"app.kubernetes.io/name": "gatepass", "app.kubernetes.io/component": "operator"}
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert RECOMMENDED_LABELS <= set(labels), f"{obj['kind']} {obj['metadata']['name']}: {labels}"
        assert (labels["app.kubernetes.io/managed-by"], labels["app.kubernetes.io/part-of"]) == ("kustomize",
                                                                                                 "gatepass")
        spec = obj.get("spec") or {}
        if obj["kind"] in ("Deployment", "PodDisruptionBudget", "ServiceMonitor"):
            assert spec["selector"] == {"matchLabels": selector}
        if obj["kind"] == "Service":
            assert spec["selector"] == selector
        if obj["kind"] == "Deployment":
            assert RECOMMENDED_LABELS <= set(spec["template"]["metadata"]["labels"])


# --- Helm ----------------------------------------------------------------------------------------------


def test_helm_lint(helm):
    out = run(helm, "lint", str(CHART), "--strict")
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    bad = subprocess.run([helm, "lint", str(CHART), "--strict", "--set", "webhook.certificates=vault"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "/webhook/certificates" in bad.stdout + bad.stderr  # values.schema.json


# Every kind of mistake parse_duration names (tests/unit/test_durations.py), and some good values.
RETENTIONS = ["1d", "1w", "5y", "1H", "", "-", "3", "90", "s", ".", "-.", ".s", "+.s", "1h 30m", " 1h", "1h-30m",
              "1.2.3s", "\uff11h", "3000000h", "-1h", "-0.5s", "0", "-0s", "720h", "1h30m", "1.5h", ".5h", "1.h",
              "300ms", "2\u00b5s", "2us", "+8h"]


@pytest.mark.parametrize("value", RETENTIONS)
def test_helm_says_of_a_bad_retention_what_the_operator_says(helm, value):
    result = subprocess.run([helm, "template", "gatepass", str(CHART), "--set-string", f"operator.retention={value}"],
                            capture_output=True, text=True)
    try:
        checked_duration(value, zero=True)
    except ValueError as error:
        assert result.returncode != 0
        line = result.stderr.strip().splitlines()[0]  # then helm's "Use --debug flag ..."
        assert line.startswith("Error: execution error at (gatepass/templates/deployment.yaml:")
        assert line.endswith(f"): operator.retention: {error}"), line
        return
    assert result.returncode == 0, result.stderr
    [deployment] = [d for d in docs(result.stdout) if d["kind"] == "Deployment"]
    assert f"--retention={value}" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_helm_takes_a_retention_of_zero_given_as_a_number(helm):
    [deployment] = [d for d in docs(template(helm, "operator.retention=0")) if d["kind"] == "Deployment"]
    assert "--retention=0" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_helm_template_passes_a_server_side_dry_run(helm, gatepass):
    out = dry_run(gatepass.cluster, template(helm))
    assert "deployment.apps/gatepass-operator" in out and "(server dry run)" in out


def test_helm_values_toggle_crds_and_certificates(helm):
    default = by_key(docs(template(helm)))
    crds = [key for key in default if key[0] == "CustomResourceDefinition"]
    assert len(crds) == 3
    assert all(default[key]["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"} for key in crds)
    assert not [k for k in by_key(docs(template(helm, "crds.enabled=false"))) if k[0] == "CustomResourceDefinition"]
    assert not by_key(docs(template(helm, "crds.keep=false")))[crds[0]]["metadata"].get("annotations")

    managed = by_key(docs(template(helm, "webhook.certificates=cert-manager", "metrics.serviceMonitor.enabled=true",
                                   "replicaCount=3", "nodeSelector.pool=system",
                                   "tolerations[0].key=dedicated", "tolerations[0].operator=Exists")))
    assert ("Secret", NAMESPACE, "gatepass-webhook-tls") not in managed
    assert ("ClusterRole", "", "gatepass-operator-webhooks") not in managed  # cert-manager injects the CA
    assert {("Certificate", NAMESPACE, "gatepass-webhook"), ("Issuer", NAMESPACE, "gatepass-selfsigned"),
            ("ServiceMonitor", NAMESPACE, "gatepass-operator")} <= set(managed)
    deployment = managed[("Deployment", NAMESPACE, "gatepass-operator")]["spec"]
    assert deployment["replicas"] == 3
    assert deployment["template"]["spec"]["nodeSelector"] == {"pool": "system"}
    assert deployment["template"]["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert "--webhook-cert=/certs/tls.crt" in deployment["template"]["spec"]["containers"][0]["args"]
    webhooks = managed[("MutatingWebhookConfiguration", "", "gatepass.dev")]["metadata"]["annotations"]
    assert webhooks == {"cert-manager.io/inject-ca-from": f"{NAMESPACE}/gatepass-webhook"}


WHO_INSTALLED = ("app.kubernetes.io/managed-by", "helm.sh/chart")


def _comparable(obj: dict) -> dict:
    """An object without what only tells who installed it (those labels, Helm's annotations)."""
    obj = json.loads(json.dumps(obj))
    for labels in (obj["metadata"].get("labels") or {},
                   obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels") or {}):
        for key in WHO_INSTALLED:
            labels.pop(key, None)
    obj["metadata"].pop("annotations", None)
    if obj["kind"] == "ClusterRole" and "aggregationRule" in obj:
        obj.pop("rules", None)
    return obj


def test_helm_and_kustomize_install_the_same_objects(helm, cluster):
    kustomized = by_key(docs(kustomize(cluster, REPO / "manifests")))
    helmed = by_key(docs(template(helm)))
    del kustomized[("Namespace", "", NAMESPACE)]  # Helm installs into the release's namespace
    assert set(kustomized) == set(helmed)
    for key in kustomized:
        assert _comparable(kustomized[key]) == _comparable(helmed[key]), f"{key} differs"


def test_helm_and_kustomize_mount_the_notifications_secret_alike(helm, cluster, tmp_path):
    kustomized = by_key(docs(kustomize(cluster, overlay(tmp_path, "notifications"))))
    helmed = by_key(docs(template(helm, "notifications.secretName=gatepass-notifications")))
    key = ("Deployment", NAMESPACE, "gatepass-operator")
    assert _comparable(kustomized[key]) == _comparable(helmed[key])
    assert "--notifications=/etc/gatepass/notifications/notifications.yaml" in \
        helmed[key]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--notifications" not in json.dumps(by_key(docs(template(helm)))[key])  # off by default


SLACK_INGRESS = ("slack.ingress.enabled=true", "slack.ingress.host=gatepass.example.com",
                 "slack.ingress.tls.secretName=gatepass-slack-tls")


def test_helm_slack_ingress_routes_only_the_buttons_path_and_passes_a_server_side_dry_run(helm, gatepass):
    assert not [key for key in by_key(docs(template(helm))) if key[0] == "Ingress"]  # off by default
    rendered = template(helm, *SLACK_INGRESS, "slack.ingress.className=nginx", "metrics.port=9090",
                        "slack.ingress.annotations.cert-manager\\.io/cluster-issuer=letsencrypt")
    objects = by_key(docs(rendered))
    assert [key for key in objects if key[0] == "Ingress"] == [("Ingress", NAMESPACE, "gatepass-slack")]
    ingress = objects[("Ingress", NAMESPACE, "gatepass-slack")]
    assert _only_route(ingress) == {"host": "gatepass.example.com", **SLACK_ROUTE}
    assert ingress["spec"]["tls"] == [{"hosts": ["gatepass.example.com"], "secretName": "gatepass-slack-tls"}]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    # The named port is the operator's --http-port, whatever metrics.port says.
    [port] = objects[("Service", NAMESPACE, "gatepass-metrics")]["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http-metrics", 9090, "http-metrics")
    [container] = objects[("Deployment", NAMESPACE, "gatepass-operator")]["spec"]["template"]["spec"]["containers"]
    assert {"name": "http-metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    assert "--http-port=9090" in container["args"]
    assert "ingress.networking.k8s.io/gatepass-slack created (server dry run)" in dry_run(gatepass.cluster, rendered)

    without_tls = by_key(docs(template(helm, "slack.ingress.enabled=true", "slack.ingress.host=gatepass.example.com")))
    assert "tls" not in without_tls[("Ingress", NAMESPACE, "gatepass-slack")]["spec"]
    bad = subprocess.run([helm, "template", "gatepass", str(CHART), "--set", "slack.ingress.enabled=true"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "/slack/ingress/host" in bad.stdout + bad.stderr  # values.schema.json


def test_helm_and_kustomize_make_the_same_slack_ingress(helm, cluster, tmp_path):
    kustomized = by_key(docs(kustomize(cluster, overlay(tmp_path, "slack-ingress"))))
    helmed = by_key(docs(template(helm, *SLACK_INGRESS)))
    key = ("Ingress", NAMESPACE, "gatepass-slack")
    assert _comparable(kustomized[key]) == _comparable(helmed[key])


MONITORING = REPO / "manifests" / "components" / "monitoring"
MONITORING_KEYS = (("PrometheusRule", NAMESPACE, "gatepass-operator"), ("ConfigMap", NAMESPACE, "gatepass-dashboard"))


def test_the_monitoring_component_builds_the_alerts_and_the_dashboard(cluster, tmp_path):
    objects = by_key(docs(kustomize(cluster, overlay(tmp_path, "prometheus", "monitoring"))))
    rule, dashboard = (objects[key] for key in MONITORING_KEYS)
    assert rule["spec"] == yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]
    assert dashboard["data"] == {"gatepass.json": (MONITORING / "dashboard.json").read_text()}
    assert json.loads(dashboard["data"]["gatepass.json"])["uid"] == "gatepass"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"  # what Grafana's sidecar looks for
    assert ("ServiceMonitor", NAMESPACE, "gatepass-operator") in objects
    assert not [key for key in by_key(docs(kustomize(cluster, REPO / "manifests"))) if key in MONITORING_KEYS]


def test_helm_monitoring_values_are_off_by_default_and_render_what_kustomize_does(helm, cluster, tmp_path):
    assert not [key for key in by_key(docs(template(helm))) if key in MONITORING_KEYS]
    kustomized = by_key(docs(kustomize(cluster, overlay(tmp_path, "monitoring"))))
    plain = by_key(docs(template(helm, "monitoring.prometheusRule.enabled=true", "monitoring.dashboard.enabled=true")))
    for key in MONITORING_KEYS:
        assert _comparable(kustomized[key]) == _comparable(plain[key]), f"{key} differs"
    helmed = by_key(docs(template(helm, "monitoring.prometheusRule.enabled=true", "monitoring.dashboard.enabled=true",
                                  "monitoring.prometheusRule.labels.release=kube-prometheus-stack",
                                  "monitoring.dashboard.annotations.grafana_folder=Gatepass")))
    rule, dashboard = (helmed[key] for key in MONITORING_KEYS)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Gatepass"}
    only_rule = by_key(docs(template(helm, "monitoring.prometheusRule.enabled=true")))
    assert [key for key in only_rule if key in MONITORING_KEYS] == [MONITORING_KEYS[0]]
    elsewhere = by_key(docs(template(helm, "monitoring.dashboard.enabled=true",
                                     "monitoring.dashboard.namespace=grafana")))
    assert ("ConfigMap", "grafana", "gatepass-dashboard") in elsewhere
    bad = subprocess.run([helm, "template", "gatepass", str(CHART), "--set", "operator.logLevel=loud"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "logLevel" in bad.stdout + bad.stderr  # values.schema.json


def test_helm_labels_every_object(helm):
    rendered = docs(template(helm, "webhook.certificates=cert-manager", "metrics.serviceMonitor.enabled=true",
                             *SLACK_INGRESS))
    for obj in rendered:
        labels = obj["metadata"]["labels"]
        assert RECOMMENDED_LABELS <= set(labels), f"{obj['kind']} {obj['metadata']['name']}: {labels}"
        assert (labels["app.kubernetes.io/managed-by"], labels["app.kubernetes.io/instance"]) == ("Helm", "gatepass")
    [deployment] = [o for o in rendered if o["kind"] == "Deployment"]
    assert RECOMMENDED_LABELS <= set(deployment["spec"]["template"]["metadata"]["labels"])
    assert deployment["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "gatepass",
                                                              "app.kubernetes.io/component": "operator"}}


def test_helm_fullname_override_and_an_existing_service_account_pass_a_server_side_dry_run(helm, gatepass):
    values = ("fullnameOverride=access", "serviceAccount.create=false", "serviceAccount.name=platform-operator")
    rendered = template(helm, *values)
    objects = docs(rendered)
    assert "ServiceAccount" not in {o["kind"] for o in objects}
    named = {o["metadata"]["name"] for o in objects
             if o["kind"] not in ("CustomResourceDefinition", "MutatingWebhookConfiguration",
                                  "ValidatingWebhookConfiguration")}
    assert named == {"access-operator", "access-webhook", "access-metrics", "access-webhook-tls",
                     "access-operator-bind", "access-operator-webhooks",
                     "access-operator-certificates", "access-operator-approvals",  # CSRs of grants
                     # people's roles keep their names: bindings to them live outside the chart
                     "gatepass-view", "gatepass-requester", "gatepass-reviewer", "gatepass-admin"}
    by = by_key(objects)
    pod = by[("Deployment", NAMESPACE, "access-operator")]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "platform-operator"
    args = pod["containers"][0]["args"]
    assert {"--webhook-secret=access-webhook-tls", "--webhook-service=access-webhook",
            "--lease-name=access-operator"} <= set(args)
    subjects = [s for o in objects for s in o.get("subjects") or ()]
    assert len(subjects) == 5
    assert all(s == {"kind": "ServiceAccount", "name": "platform-operator", "namespace": NAMESPACE} for s in subjects)
    bindings = {o["metadata"]["name"]: o["roleRef"]["name"] for o in objects if "roleRef" in o}
    assert bindings == {"access-operator": "access-operator", "access-operator-bind": "access-operator-bind",
                        "access-operator-webhooks": "access-operator-webhooks",
                        "access-operator-certificates": "access-operator-certificates"}
    [approvals] = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    assert "endsWith(':platform-operator')" in approvals["spec"]["matchConditions"][0]["expression"]
    tokens = docs(template(helm, *values, "credentials.tokens=true", "credentials.namespace=grant-tokens"))
    [token_role] = [o for o in tokens if o["kind"] == "Role" and o["metadata"]["name"] == "access-operator-tokens"]
    assert token_role["metadata"]["namespace"] == "grant-tokens"
    [token_binding] = [o for o in tokens if o["kind"] == "RoleBinding"
                       and o["metadata"]["name"] == "access-operator-tokens"]
    assert token_binding["subjects"] == [{"kind": "ServiceAccount", "name": "platform-operator",
                                          "namespace": NAMESPACE}]
    assert ("Namespace", "", "grant-tokens") in by_key(tokens)
    [role] = [o for o in objects if o["kind"] == "Role"]
    assert [r.get("resourceNames") for r in role["rules"]] == [None, ["access-operator"], ["access-webhook-tls"]]
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        hooks = by[(kind, "", "gatepass.dev")]["webhooks"]
        assert {h["clientConfig"]["service"]["name"] for h in hooks} == {"access-webhook"}

    out = dry_run(gatepass.cluster, rendered)
    for what in ("deployment.apps/access-operator created", "service/access-webhook created",
                 "clusterrolebinding.rbac.authorization.k8s.io/access-operator created",
                 "rolebinding.rbac.authorization.k8s.io/access-operator created"):
        assert f"{what} (server dry run)" in out, out

    managed = by_key(docs(template(helm, "fullnameOverride=access", "webhook.certificates=cert-manager")))
    certificate = managed[("Certificate", NAMESPACE, "access-webhook")]["spec"]
    assert certificate["dnsNames"] == [f"access-webhook.{NAMESPACE}.svc", f"access-webhook.{NAMESPACE}.svc.cluster.local"]
    assert (certificate["secretName"], certificate["issuerRef"]["name"]) == ("access-webhook-tls", "access-selfsigned")
    assert managed[("MutatingWebhookConfiguration", "", "gatepass.dev")]["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": f"{NAMESPACE}/access-webhook"}
    assert ("ServiceAccount", NAMESPACE, "access-operator") in managed  # created unless told otherwise


def test_helm_refuses_no_service_account_without_a_name(helm):
    bad = subprocess.run([helm, "template", "gatepass", str(CHART), "--set", "serviceAccount.create=false"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "/serviceAccount/name" in bad.stdout + bad.stderr  # values.schema.json
    named = by_key(docs(template(helm, "nameOverride=jit")))
    deployment = named[("Deployment", NAMESPACE, "jit-operator")]
    assert deployment["metadata"]["labels"]["app.kubernetes.io/name"] == "jit"
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "jit"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "jit-operator"


# --- the operator's own webhook certificate -----------------------------------------------------------


@contextmanager
def session_operator_paused(gatepass):
    """Stops the suite's operator (it hands its lease back) and brings it back, webhooks included."""
    gatepass.operator.stop()
    try:
        yield
    finally:
        gatepass.operator.start()


def test_the_operator_makes_its_own_webhook_certificate_and_injects_the_ca(gatepass, tmp_path):
    from gatepass.devcluster.operator import OperatorProcess

    cluster = gatepass.cluster
    cluster.kubectl.run("apply", "-f", str(REPO / "manifests" / "webhook" / "secret.yaml"))
    with session_operator_paused(gatepass):
        operator = OperatorProcess(cluster.plane, cluster.kubectl, tmp_path, name="own-certificate",
                                   own_certificate="gatepass-webhook-tls")
        try:
            operator.start()
            secret = json.loads(cluster.kubectl.run("get", "secret", "gatepass-webhook-tls", "-n", NAMESPACE,
                                                    "-o", "json").stdout)
            assert set(secret["data"]) == {"ca.crt", "ca.key", "tls.crt", "tls.key"}

            def bundles() -> set[str]:
                found = set()
                for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
                    config = json.loads(cluster.kubectl.run("get", kind, "gatepass.dev", "-o", "json").stdout)
                    found |= {hook["clientConfig"].get("caBundle", "") for hook in config["webhooks"]}
                return found

            wait_for(lambda: bundles() == {secret["data"]["ca.crt"]}, what="the CA in every webhook")
            name = unique("owncert")
            gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest(name))  # through the webhook
            assert wait_state(gatepass, name, "Pending")["spec"]["requester"]["username"] == "bob"

            # A second start reuses the certificate in the Secret rather than making another.
            operator.stop()
            operator.start()
            again = json.loads(cluster.kubectl.run("get", "secret", "gatepass-webhook-tls", "-n", NAMESPACE,
                                                   "-o", "json").stdout)
            assert again["data"] == secret["data"]
        finally:
            operator.stop()


def test_helm_log_values_become_the_operator_s_flags(helm):
    key = ("Deployment", NAMESPACE, "gatepass-operator")

    def args(*values):
        return by_key(docs(template(helm, *values)))[key]["spec"]["template"]["spec"]["containers"][0]["args"]

    assert not [a for a in args() if a.startswith("--log")]
    assert {"--log-format=json", "--log-level=warning"} <= set(args("operator.logFormat=json", "operator.logLevel=warning"))
    assert "--log-level=debug" in args("operator.verbose=true")
