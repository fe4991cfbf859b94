"""The install files: generated ones up to date, and the properties a platform team relies on.

Rendering with kustomize and Helm, and the server-side dry runs, are in tests/e2e/test_install.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from gatepass.devcluster import installgen
from gatepass.core import durations
from gatepass.core.credentials import CLIENT_SIGNER, DEFAULT_CREDENTIALS_NAMESPACE, MAX_LIFETIME_SECONDS
from gatepass.api import parse_any
from gatepass.process.args import parse_args
from gatepass.notify import slack_actions
from gatepass.webhooks import config

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
CHART = REPO / "charts" / "gatepass"


def load(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def deployment() -> dict:
    [doc] = load(MANIFESTS / "manager" / "deployment.yaml")
    return doc


def container() -> dict:
    [operator] = deployment()["spec"]["template"]["spec"]["containers"]
    return operator


def rbac_rules(credentials: bool = False) -> list[tuple[str, dict]]:
    """(role name, rule) of every role in manifests/rbac, or (``credentials``) in manifests/credentials: the
    token-mode grants' namespace, which holds their ServiceAccounts and Secrets only."""
    rules = []
    for path in sorted((MANIFESTS / ("credentials" if credentials else "rbac")).glob("*.yaml")):
        for doc in load(path):
            for rule in doc.get("rules") or ():
                rules.append((doc["metadata"]["name"], rule))
    return rules


def test_generated_files_are_up_to_date():
    assert installgen.drift() == [], f"regenerate with: {installgen.GENERATE_COMMAND}"


def test_every_kustomization_lists_files_that_exist():
    for kustomization in MANIFESTS.rglob("kustomization.yaml"):
        content = yaml.safe_load(kustomization.read_text())
        for entry in [*(content.get("resources") or ()), *(content.get("transformers") or ())]:
            assert (kustomization.parent / entry).exists(), f"{kustomization}: {entry}"


RECOMMENDED_LABELS = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                      "app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"}
COMPONENTS = {"operator", "webhook", "rbac", "crd"}


def test_the_base_labels_every_object_without_touching_the_selectors():
    """The base's labels transformer adds five recommended labels, each folder the component (rendered with
    every component in tests/e2e/test_install.py); the objects the components add carry all six."""
    [labels] = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["labels"]
    assert labels["includeSelectors"] is False and labels["includeTemplates"] is True
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert labels["pairs"] == {"app.kubernetes.io/name": "gatepass", "app.kubernetes.io/instance": "gatepass",
                               "app.kubernetes.io/version": chart["appVersion"],
                               "app.kubernetes.io/part-of": "gatepass", "app.kubernetes.io/managed-by": "kustomize"}
    [crd_labels] = yaml.safe_load((MANIFESTS / "crd" / "kustomization.yaml").read_text())["labels"]
    assert crd_labels["pairs"] == {"app.kubernetes.io/component": "crd"}
    for folder in ("rbac", "manager", "webhook"):
        for path in (MANIFESTS / folder).glob("*.yaml"):
            for doc in load(path):
                if doc.get("kind") != "Kustomization":
                    assert doc["metadata"]["labels"]["app.kubernetes.io/component"] in COMPONENTS, path
    for path in (MANIFESTS / "components").rglob("*.yaml"):
        for doc in load(path):
            if doc["kind"] not in ("Component", "Kustomization", "ReplacementTransformer"):
                assert {**doc["metadata"]["labels"], **labels["pairs"]} == doc["metadata"]["labels"], path
                assert RECOMMENDED_LABELS <= set(doc["metadata"]["labels"]), path
                assert doc["metadata"]["labels"]["app.kubernetes.io/component"] in COMPONENTS, path


def test_the_deployment_names_the_image_the_chart_and_make_image_name():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert container()["image"] == f"{values['image']['repository']}:{chart['appVersion']}"
    assert "images" not in yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())  # overlays rename it
    assert f"IMAGE ?= {container()['image']}\n" in (REPO / "Makefile").read_text()


def test_the_cert_manager_namespace_transformer_follows_the_webhook_service():
    [transformer] = load(MANIFESTS / "components" / "cert-manager" / "namespace" / "replacements.yaml")
    [replacement] = transformer["replacements"]
    assert replacement["source"] == {"kind": "Service", "name": installgen.WEBHOOK_SERVICE,
                                     "fieldPath": "metadata.namespace"}
    [certificate] = [d for d in load(MANIFESTS / "components" / "cert-manager" / "certificate.yaml")
                     if d["kind"] == "Certificate"]
    targets = {t["select"]["kind"]: t for t in replacement["targets"]}
    assert targets["Certificate"]["select"]["name"] == certificate["metadata"]["name"]
    # Each DNS name's second label is the namespace.
    assert [name.split(".")[1] for name in certificate["spec"]["dnsNames"]] == [installgen.NAMESPACE] * 2
    assert targets["Certificate"]["fieldPaths"] == [f"spec.dnsNames.{i}" for i in range(2)]
    assert targets["Certificate"]["options"] == {"delimiter": ".", "index": 1}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert targets[kind]["fieldPaths"] == ["metadata.annotations.[cert-manager.io/inject-ca-from]"]
        assert targets[kind]["options"] == {"delimiter": "/", "index": 0}
    component = yaml.safe_load((MANIFESTS / "components" / "cert-manager" / "kustomization.yaml").read_text())
    assert component["transformers"] == ["namespace"]


def test_the_chart_names_the_operator_s_objects_after_its_fullname():
    """No chart template names an operator's object gatepass-* literally: fullnameOverride renames them all.
    The roles people are bound to keep their names."""
    for path in (CHART / "templates").rglob("*.yaml"):
        for line in path.read_text().splitlines():
            if "Generated from" in line or path.name in installgen.RBAC_NAMED_FOR_PEOPLE:
                continue
            if line.strip().startswith("mountPath:"):
                continue  # a path in the container (/etc/gatepass-ui), not an object's name
            assert "gatepass-" not in line.split("#")[0], f"{path}: {line}"
    people = [doc["metadata"]["name"] for name in installgen.RBAC_NAMED_FOR_PEOPLE
              for doc in load(MANIFESTS / "rbac" / name)]
    assert sorted(people) == ["gatepass-admin", "gatepass-requester", "gatepass-reviewer", "gatepass-view"]
    for name in installgen.RBAC_NAMED_FOR_PEOPLE:
        text = (CHART / "templates" / "rbac" / name).read_text()
        assert "gatepass.fullname" not in text and "  name: gatepass-" in text
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert '{{- define "gatepass.fullname" -}}' in helpers and "fullnameOverride" in helpers
    assert '{{- define "gatepass.serviceAccountName" -}}' in helpers


def test_the_chart_binds_the_service_account_it_runs_as():
    bound = [name for path in (CHART / "templates" / "rbac").glob("*.yaml")
             for name in re.findall(r"- kind: ServiceAccount\n  name: (.*)\n", path.read_text())]
    assert bound and set(bound) == {'{{ include "gatepass.serviceAccountName" . }}'}
    account = (CHART / "templates" / "rbac" / "service_account.yaml").read_text()
    assert "{{- if .Values.serviceAccount.create }}\n" in account and account.rstrip().endswith("{{- end }}")
    deployment_template = (CHART / "templates" / "deployment.yaml").read_text()
    assert 'serviceAccountName: {{ include "gatepass.serviceAccountName" . }}' in deployment_template
    schema = json.loads((CHART / "values.schema.json").read_text())
    account_schema = schema["properties"]["serviceAccount"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(account_schema["properties"]) == set(values["serviceAccount"]) == {"create", "name", "annotations"}
    assert account_schema["then"] == {"required": ["name"], "properties": {"name": {"minLength": 1}}}
    assert values["nameOverride"] == values["fullnameOverride"] == ""
    assert {"nameOverride", "fullnameOverride"} <= set(schema["properties"])


def test_the_chart_s_generated_rbac_keeps_the_aggregation_labels():
    aggregated = (CHART / "templates" / "rbac" / "aggregate_roles.yaml").read_text()
    for verb in ("view", "edit", "admin"):
        assert f"    rbac.authorization.k8s.io/aggregate-to-{verb}: 'true'\n" in aggregated


def test_operator_help_says_every_default():
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        parse_args(["--help"])
    options = out.getvalue().split("\noptions:\n")[1]
    helps = {}  # first flag of each option -> its help, on one line
    for entry in re.split(r"\n  (?=-)", "\n" + options):
        if entry.strip():
            helps[re.findall(r"--?[a-z][a-z-]*", entry)[0]] = " ".join(entry.split())
    defaults = vars(parse_args([]))
    for flag, value in (("webhook-port", 9443), ("http-port", 8080), ("lease-name", "gatepass-operator"),
                        ("lease-duration", 15), ("workers", 8), ("retention", "720h"),
                        ("webhook-configuration", "gatepass.dev"), ("log-format", "text"),
                        ("leader-elect", True)):
        assert defaults[flag.replace("-", "_")] == value
        assert helps[f"--{flag}"].endswith(f"(default: {value})"), helps[f"--{flag}"]
    for shown in ("None", "False", "[]"):
        assert f"(default: {shown})" not in out.getvalue()


def test_the_webhooks_call_the_service_on_every_hook_path_and_fail_closed():
    docs = load(MANIFESTS / "webhook" / "webhooks.yaml")
    assert [d["kind"] for d in docs] == ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
    hooks = [hook for doc in docs for hook in doc["webhooks"]]
    assert sorted(h["clientConfig"]["service"]["path"] for h in hooks) == sorted(f"/{h.id}" for h in config.HOOKS)
    for hook in hooks:
        assert hook["clientConfig"]["service"] == {**hook["clientConfig"]["service"], "name": "gatepass-webhook",
                                                   "namespace": "gatepass-system", "port": 443}
        assert "caBundle" not in hook["clientConfig"]  # the operator (or cert-manager) fills it in
        assert hook["failurePolicy"] == "Fail"
    [service] = load(MANIFESTS / "webhook" / "service.yaml")
    assert service["metadata"]["name"] == "gatepass-webhook"
    assert service["spec"]["ports"][0]["targetPort"] == "webhook"


def test_the_certificate_secret_ships_without_data():
    [secret] = load(MANIFESTS / "webhook" / "secret.yaml")
    assert secret["type"] == "Opaque" and "data" not in secret and "stringData" not in secret


def test_the_deployment_runs_two_hardened_replicas():
    spec = deployment()["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container()["securityContext"]
    assert context == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                       "capabilities": {"drop": ["ALL"]}}
    assert {"requests", "limits"} <= set(container()["resources"])
    assert set(container()["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["serviceAccountName"] == "gatepass-operator"


def test_probes_and_ports_match_the_operator_arguments():
    args = parse_args(container()["args"])
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert ports == {"webhook": args.webhook_port, "http-metrics": args.http_port}
    assert container()["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert container()["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    assert args.leader_elect and args.lease_name == "gatepass-operator"
    assert args.webhook_secret == "gatepass-webhook-tls" and args.webhook_service == "gatepass-webhook"
    assert args.cert_dir.startswith("/tmp/")  # the only writable mount
    assert [m["mountPath"] for m in container()["volumeMounts"]] == ["/tmp"]
    assert {e["name"] for e in container()["env"]} == {"POD_NAME", "POD_NAMESPACE"}


def test_the_cert_manager_component_passes_arguments_the_operator_accepts():
    component = yaml.safe_load((MANIFESTS / "components" / "cert-manager" / "kustomization.yaml").read_text())
    [patch] = [p for p in component["patches"] if p.get("target", {}).get("kind") == "Deployment"]
    [args] = [op["value"] for op in yaml.safe_load(patch["patch"]) if op["path"].endswith("/args")]
    parsed = parse_args(args)
    assert (parsed.webhook_cert, parsed.webhook_key, parsed.webhook_secret) == ("/certs/tls.crt", "/certs/tls.key",
                                                                                None)
    same = [a for a in container()["args"] if not a.startswith(("--webhook-secret", "--webhook-service", "--cert-dir"))]
    assert [a for a in args if not a.startswith(("--webhook-cert", "--webhook-key"))] == same


def test_rbac_is_least_privilege():
    for role, rule in rbac_rules():
        assert "*" not in rule.get("verbs", ()) and "*" not in rule.get("resources", ()), role
        assert not {"escalate", "impersonate"} & set(rule.get("verbs", ())), role
        if role.startswith("gatepass-operator"):
            sensitive = {"secrets", "leases", "mutatingwebhookconfigurations", "validatingwebhookconfigurations"}
            if sensitive & set(rule["resources"]) and rule["verbs"] != ["create"]:
                assert rule.get("resourceNames"), f"{role} may {rule['verbs']} any of {rule['resources']}"
            assert "bind" not in rule["verbs"] or role == "gatepass-operator-bind"
    operator_secrets = [rule for role, rule in rbac_rules() if role.startswith("gatepass-operator")
                        and "secrets" in rule["resources"]]
    assert operator_secrets == [{"apiGroups": [""], "resources": ["secrets"],
                                 "resourceNames": ["gatepass-webhook-tls"], "verbs": ["get", "update"]}]


def test_the_operator_reads_any_secret_only_in_the_credentials_namespace():
    """Token-mode grants' Secrets have per-grant names, so the operator may get, create and delete any Secret
    there (and make the Roles that let each requester read theirs); that namespace holds nothing else."""
    rules = rbac_rules(credentials=True)
    assert {role for role, _ in rules} == {"gatepass-operator-tokens"}
    namespaced = [doc for path in (MANIFESTS / "credentials").glob("*.yaml") for doc in load(path)
                  if "namespace" in (doc.get("metadata") or {})]
    assert namespaced and {doc["metadata"]["namespace"] for doc in namespaced} == {DEFAULT_CREDENTIALS_NAMESPACE}
    assert rules == [
        ("gatepass-operator-tokens", {"apiGroups": [""], "resources": ["serviceaccounts", "secrets"],
                                      "verbs": ["get", "create", "delete"]}),
        ("gatepass-operator-tokens", {"apiGroups": [""], "resources": ["serviceaccounts/token"],
                                      "verbs": ["create"]}),
        ("gatepass-operator-tokens", {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
                                      "verbs": ["create", "delete"]}),
    ]
    assert not {"escalate", "impersonate", "bind", "*"} & {verb for _, rule in rules for verb in rule["verbs"]}


def test_the_approvals_policy_allows_no_more_than_the_core_hands_out():
    [policy, binding] = load(MANIFESTS / "rbac" / "credentials_policy.yaml")
    expressions = " ".join(v["expression"] for v in policy["spec"]["validations"])
    assert f"<= {MAX_LIFETIME_SECONDS}" in expressions and f"'{CLIENT_SIGNER}'" in expressions
    assert "startsWith('system:')" in expressions
    [by] = [c["expression"] for c in policy["spec"]["matchConditions"] if c["name"] == "by-the-operator"]
    assert by == ("request.userInfo.username.startsWith('system:serviceaccount:') && "
                  "request.userInfo.username.endsWith(':gatepass-operator')")
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}


@pytest.mark.parametrize("path", sorted((MANIFESTS / "samples").glob("access*.yaml")), ids=lambda p: p.name)
def test_samples_are_valid_objects(path):
    [doc] = load(path)
    parse_any(doc)


def test_there_is_a_sample_of_every_kind():
    kinds = {load(p)[0]["kind"] for p in (MANIFESTS / "samples").glob("access*.yaml")}
    assert kinds == {"AccessPolicy", "AccessRequest", "AccessReview"}


def test_chart_values_and_manifests_agree_on_the_defaults():
    values = yaml.safe_load((REPO / "charts" / "gatepass" / "values.yaml").read_text())
    args = parse_args(container()["args"])
    assert values["replicaCount"] == deployment()["spec"]["replicas"]
    assert values["resources"] == container()["resources"]
    assert values["webhook"]["port"] == args.webhook_port and values["metrics"]["port"] == args.http_port
    election = values["operator"]["leaderElection"]
    assert (election["leaseDuration"], election["renewDeadline"], election["retryPeriod"]) == (
        args.lease_duration, args.lease_renew_deadline, args.lease_retry_period)
    assert (values["operator"]["workers"], values["operator"]["retention"]) == (args.workers, args.retention)


def test_the_notifications_component_passes_an_argument_the_operator_accepts():
    component = yaml.safe_load((MANIFESTS / "components" / "notifications" / "kustomization.yaml").read_text())
    [patch] = component["patches"]
    ops = yaml.safe_load(patch["patch"])
    [arg] = [op["value"] for op in ops if op["path"].endswith("/args/-")]
    [mount] = [op["value"] for op in ops if op["path"].endswith("/volumeMounts/-")]
    [volume] = [op["value"] for op in ops if op["path"].endswith("/volumes/-")]
    notifications = parse_args([arg]).notifications
    assert notifications.startswith(mount["mountPath"] + "/") and mount["readOnly"] is True
    assert volume == {"name": mount["name"], "secret": {"secretName": "gatepass-notifications"}}
    values = yaml.safe_load((REPO / "charts" / "gatepass" / "values.yaml").read_text())
    assert values["notifications"] == {"secretName": "", "key": notifications.rsplit("/", 1)[1]}


def test_the_slack_ingress_component_routes_only_the_buttons_path_to_the_http_port():
    [ingress] = load(MANIFESTS / "components" / "slack-ingress" / "ingress.yaml")
    assert (ingress["kind"], ingress["metadata"]["namespace"]) == ("Ingress", "gatepass-system")
    assert "defaultBackend" not in ingress["spec"]
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == (slack_actions.PATH, "Exact")
    assert rule["host"] == "gatepass.example.com"  # the placeholder the README says to patch
    assert ingress["spec"]["tls"] == [{"hosts": [rule["host"]], "secretName": "gatepass-slack-tls"}]
    # To the operator's --http-port, through a Service that stays inside the cluster.
    backend = path["backend"]["service"]
    [service] = [s for s in load(MANIFESTS / "manager" / "service.yaml") if s["metadata"]["name"] == backend["name"]]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    [port] = [p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]]
    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert ports[port["targetPort"]] == parse_args(container()["args"]).http_port
    component = yaml.safe_load((MANIFESTS / "components" / "slack-ingress" / "kustomization.yaml").read_text())
    assert component["kind"] == "Component" and component["resources"] == ["ingress.yaml"]


def test_the_slack_ingress_is_off_by_default():
    base = [doc for path in MANIFESTS.rglob("*.yaml") if "components" not in path.relative_to(MANIFESTS).parts
            for doc in load(path)]
    assert "Ingress" not in {doc.get("kind") for doc in base}
    assert "components" not in yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["slack"] == {"ingress": {"enabled": False, "className": "", "host": "", "annotations": {},
                                           "tls": {"secretName": ""}}}
    # The chart's template (rendered in tests/e2e/test_install.py): all of it under the switch, one Exact path.
    template = (CHART / "templates" / "slack-ingress.yaml").read_text()
    head, body = template.split("{{- if .Values.slack.ingress.enabled }}\n")
    assert head.startswith("{{- /*") and head.rstrip().endswith("*/}}") and head.count("}}") == 1  # a comment
    assert body.rstrip().endswith("{{- end }}")
    assert body.count("- path: ") == 1 and f"- path: {slack_actions.PATH}\n" in body
    assert body.count("pathType: Exact") == 1 and "defaultBackend" not in body


def test_the_chart_schema_knows_the_slack_ingress_values():
    schema = json.loads((CHART / "values.schema.json").read_text())
    ingress = schema["properties"]["slack"]["properties"]["ingress"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(ingress["properties"]) == set(values["slack"]["ingress"])
    assert set(ingress["properties"]["tls"]["properties"]) == set(values["slack"]["ingress"]["tls"])
    # Enabled without a host is refused (helm lint and helm template say /slack/ingress/host).
    assert ingress["if"]["properties"]["enabled"] == {"const": True}
    assert ingress["then"]["properties"]["host"]["minLength"] == 1


def test_the_chart_checks_the_retention_with_the_operator_s_messages():
    schema = json.loads((CHART / "values.schema.json").read_text())
    retention = schema["properties"]["operator"]["properties"]["retention"]
    assert "pattern" not in retention  # helm would answer with the regular expression
    assert retention["type"] == ["string", "integer"]  # --set operator.retention=0 is a number
    deployment_template = (CHART / "templates" / "deployment.yaml").read_text()
    assert ('--retention={{ include "gatepass.checkedDuration" (dict "name" "operator.retention" '
            '"value" .Values.operator.retention "zero" true) }}') in deployment_template
    helper = (CHART / "templates" / "_durations.tpl").read_text()
    for message in (durations.DAY_HINT, durations.NEEDS_A_DIGIT, durations.TOO_LONG, durations.MUST_NOT_BE_NEGATIVE):
        assert json.dumps(message) in helper


def test_the_operator_refuses_a_bad_retention_in_one_line(caplog):
    from gatepass.process.main import main

    with caplog.at_level("ERROR"):
        assert main(["--retention=-1h"]) == 2
    assert [r.getMessage() for r in caplog.records] == ['--retention: invalid duration "-1h": must not be negative']
