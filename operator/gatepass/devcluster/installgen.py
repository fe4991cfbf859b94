"""The install files generated from one source each, so kustomize, Helm and the code cannot drift.

  * manifests/webhook/webhooks.yaml and charts/gatepass/templates/webhooks.yaml
    from the hooks in gatepass.webhooks.config (the operator serves those paths);
  * charts/gatepass/templates/crds/ from crds/ (themselves generated from the models);
  * charts/gatepass/templates/rbac/ from manifests/rbac/ and manifests/credentials/, the RBAC the end-to-end
    tests run the operator with (in the chart, the operator's gatepass-* names follow
    gatepass.fullname, and its ServiceAccount serviceAccount.create/.name);
  * charts/gatepass/templates/_durations.tpl from gatepass.core.durations: the
    chart's check of operator.retention, which fails with the operator's message.

    python -m gatepass.devcluster.installgen          # write them (make manifests)
    python -m gatepass.devcluster.installgen --check  # exit 1 if any is out of date (make lint)
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gatepass.api.crdgen import stale_files, write_files
from gatepass.core import durations
from gatepass.core.credentials import DEFAULT_CREDENTIALS_NAMESPACE
from gatepass.webhooks import config

REPO = Path(__file__).resolve().parents[3]
GENERATE_COMMAND = "make manifests"
NAMESPACE = "gatepass-system"
WEBHOOK_SERVICE = "gatepass-webhook"
CHART = Path("charts") / "gatepass"
# manifests/rbac files that are not the chart's: the chart installs into the release's namespace.
RBAC_NOT_IN_CHART = ("namespace.yaml", "kustomization.yaml")
# Only needed when the operator keeps the certificate itself (not with cert-manager).
RBAC_FOR_OPERATOR_CERTIFICATES = ("webhook_role.yaml",)
# The roles people are bound to (gatepass-requester, -reviewer, -admin, -view) keep their names whatever the
# chart's fullname: bindings to them live outside the chart, and renaming them would drop everyone's access.
RBAC_NAMED_FOR_PEOPLE = ("user_roles.yaml", "aggregate_roles.yaml")

_NS = "__RELEASE_NAMESPACE__"
_CREDENTIALS_NS = "__CREDENTIALS_NAMESPACE__"
_LABELS = "__CHART_LABELS__"
_ANNOTATIONS = "__WEBHOOK_ANNOTATIONS__"
_FULLNAME = "__FULLNAME__"
_SERVICE_ACCOUNT = "__SERVICE_ACCOUNT__"
_SA_ANNOTATIONS = "__SERVICE_ACCOUNT_ANNOTATIONS__"
PREFIX = "gatepass-"  # names in manifests/ that are the chart's gatepass.fullname, then the rest
SERVICE_ACCOUNT = "gatepass-operator"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(docs: list[dict]) -> str:
    return "---\n".join(yaml.dump(doc, Dumper=_NoAliases, sort_keys=False, width=110) for doc in docs)


def _header(source: str) -> str:
    return f"# Generated from {source} by `{GENERATE_COMMAND}`; edit that instead.\n"


def _helm_header(source: str) -> str:
    return f"{{{{- /* Generated from {source} by `{GENERATE_COMMAND}`; edit that instead. */}}}}\n"


# --- webhooks ----------------------------------------------------------------------------------------


def webhook_configurations(namespace: str = NAMESPACE, service: str = WEBHOOK_SERVICE) -> list[dict]:
    """Both configurations, calling the operator through its Service; the caBundle is the operator's
    (or cert-manager's) to fill in, so it is not written here."""
    client = {"service": {"name": service, "namespace": namespace, "port": 443}}
    return config.configurations(client, labels={NAME_LABEL: "gatepass", COMPONENT_LABEL: "webhook"})


def kustomize_webhooks() -> str:
    return _header("operator/gatepass/webhooks/config.py") + _dump(webhook_configurations())


def helm_webhooks() -> str:
    docs = webhook_configurations(namespace=_NS, service=_chart_name(WEBHOOK_SERVICE))
    for doc in docs:
        doc["metadata"]["labels"] = _chart_labels(doc["metadata"]["labels"])
        doc["metadata"]["annotations"] = {_ANNOTATIONS: "x"}
    text = _dump(docs)
    text = text.replace(f"    {_ANNOTATIONS}: x\n", '    {{- include "gatepass.webhookAnnotations" . | nindent 4 }}\n')
    return _helm_header("operator/gatepass/webhooks/config.py") + _helmify(text)


def _chart_name(name: str) -> str:
    """A gatepass-* name of manifests/ as the chart names it: after its gatepass.fullname."""
    return _FULLNAME + name[len(PREFIX) - 1:] if name.startswith(PREFIX) else name


def _chart_labels(labels: dict[str, str]) -> dict[str, str]:
    """The chart's labels (gatepass.labels), then the object's component and its labels of other kinds."""
    return {_LABELS: "x", **{key: value for key, value in labels.items() if key != NAME_LABEL}}


def _helmify(text: str) -> str:
    text = text.replace(f"  labels:\n    {_LABELS}: x\n", '  labels:\n    {{- include "gatepass.labels" . | nindent 4 }}\n')
    text = text.replace(f"  {_SA_ANNOTATIONS}: x\n", "  {{- with .Values.serviceAccount.annotations }}\n"
                        "  annotations:\n    {{- toYaml . | nindent 4 }}\n  {{- end }}\n")
    text = text.replace(_FULLNAME, '{{ include "gatepass.fullname" . }}')
    text = text.replace(_SERVICE_ACCOUNT, '{{ include "gatepass.serviceAccountName" . }}')
    text = text.replace(_CREDENTIALS_NS, "{{ .Values.credentials.namespace }}")
    return text.replace(_NS, "{{ .Release.Namespace }}")


# --- CRDs ----------------------------------------------------------------------------------------------


def helm_crd(text: str, source: str) -> str:
    """A CRD as a chart template: installed when crds.enabled, kept on uninstall when crds.keep."""
    doc = yaml.safe_load(text)
    doc["metadata"]["annotations"] = {_ANNOTATIONS: "x"}
    doc["metadata"]["labels"] = {_LABELS: "x", COMPONENT_LABEL: "crd"}  # as manifests/crd/ labels them
    body = _dump([doc]).replace(
        f"    {_ANNOTATIONS}: x\n",
        '    {{- if .Values.crds.keep }}\n    helm.sh/resource-policy: keep\n    {{- end }}\n',
    )
    return _helm_header(source) + "{{- if .Values.crds.enabled }}\n" + _helmify(body) + "{{- end }}\n"


# --- RBAC ----------------------------------------------------------------------------------------------


def helm_rbac(text: str, source: str, only_with_operator_certificates: bool = False,
              fixed_names: bool = False, only_with_tokens: bool = False) -> str:
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    service_account = False
    for doc in docs:
        meta = doc["metadata"]
        if meta.get("namespace") == DEFAULT_CREDENTIALS_NAMESPACE:
            meta["namespace"] = _CREDENTIALS_NS
        elif "namespace" in meta:
            meta["namespace"] = _NS
        meta["labels"] = _chart_labels(meta.get("labels") or {})
        if doc["kind"] == "ServiceAccount":
            service_account = True
            meta["name"] = _SERVICE_ACCOUNT
            meta[_SA_ANNOTATIONS] = "x"
        elif not fixed_names:
            meta["name"] = _chart_name(meta["name"])
        if "roleRef" in doc:
            doc["roleRef"]["name"] = _chart_name(doc["roleRef"]["name"])
        if doc["kind"] == "ValidatingAdmissionPolicyBinding":
            doc["spec"]["policyName"] = _chart_name(doc["spec"]["policyName"])
        for subject in doc.get("subjects") or ():
            if subject.get("kind") == "ServiceAccount":
                assert subject["name"] == SERVICE_ACCOUNT, f"{source}: binds {subject['name']}"
                subject["name"] = _SERVICE_ACCOUNT
                subject["namespace"] = _NS
        for rule in doc.get("rules") or ():
            if "resourceNames" in rule:
                rule["resourceNames"] = [_chart_name(name) for name in rule["resourceNames"]]
        if "aggregationRule" in doc:
            doc.pop("rules", None)  # the controller manager fills them in; an upgrade must not empty them
    # A ValidatingAdmissionPolicy names the operator's ServiceAccount by the end of its username.
    body = _helmify(_dump(docs).replace(f"':{SERVICE_ACCOUNT}'", f"':{_SERVICE_ACCOUNT}'"))
    head = _helm_header(source)
    if only_with_tokens:
        return head + "{{- if .Values.credentials.tokens }}\n" + body + "{{- end }}\n"
    if only_with_operator_certificates:
        return head + '{{- if eq .Values.webhook.certificates "operator" }}\n' + body + "{{- end }}\n"
    if service_account:
        return head + "{{- if .Values.serviceAccount.create }}\n" + body + "{{- end }}\n"
    return head + body


# --- durations -----------------------------------------------------------------------------------------

# A token of a duration: a number (digits, then maybe "." and digits) and what follows it up to the next
# number; a duration is a run of them, and parse_duration reads it token by token the same way.
_TOKEN = r"[0-9]*(\.[0-9]*)?[^0-9.]*"
_NUMBER = r"^[0-9]*(\.[0-9]*)?"


def _go(text: str) -> str:
    """A Go string literal (JSON's escapes are Go's)."""
    return json.dumps(text)


def _printf(template: str, **args: str) -> str:
    """A Go ``printf`` call giving what ``template.format(**args)`` gives: args are template expressions."""
    parts, values = [], []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(literal.replace("%", "%%"))
        if name is not None:
            parts.append("%s")
            values.append(args[name])
    return " ".join(["printf", _go("".join(parts)), *values])


def helm_durations() -> str:
    """The named template gatepass.checkedDuration, written from gatepass.core.durations: it returns a
    duration setting as it is, or fails with the message checked_duration gives for it (so `helm install`
    says what the operator would), prefixed with the setting's name.

    Called with (dict "name" "operator.retention" "value" .Values.operator.retention "zero" true); ``zero``
    allows "0". Sums are floats: a duration within a float's precision of the 2562047h limit may pass here
    and be refused by the operator when it starts."""
    d = durations
    units = " ".join(f"{_go(unit)} {_go(str(ns))}" for unit, ns in d.NS_PER_UNIT.items())
    hint = _go(d.UNITS_HINT)
    unknown_hint = f'(ternary {_go(d.DAY_HINT)} {hint} (eq $unit "d"))'
    lines = [
        '{{- define "gatepass.checkedDuration" -}}',
        "{{- $text := toString .value -}}",
        f"{{{{- $units := dict {units} -}}}}",
        "{{- $rest := $text -}}",
        "{{- $negative := false -}}",
        '{{- if or (hasPrefix "-" $rest) (hasPrefix "+" $rest) -}}',
        '{{- $negative = hasPrefix "-" $rest -}}',
        "{{- $rest = substr 1 -1 $rest -}}",
        "{{- end -}}",
        '{{- $problem := "" -}}',
        "{{- $total := 0.0 -}}",
        '{{- if eq $rest "0" -}}',
        '{{- else if eq $rest "" -}}',
        f"{{{{- $problem = {_printf(d.EMPTY, hint=hint)} -}}}}",
        "{{- else -}}",
        "{{- $left := $rest -}}",
        f"{{{{- range $token := regexFindAll {_go(_TOKEN)} $rest -1 -}}}}",
        "{{- if not $problem -}}",
        f"{{{{- $number := regexFind {_go(_NUMBER)} $token -}}}}",
        "{{- $unit := trimPrefix $number $token -}}",
        '{{- $whole := regexFind "^[0-9]*" $number -}}',
        '{{- $fraction := trimPrefix "." (trimPrefix $whole $number) -}}',
        "{{- if not $number -}}",
        f"{{{{- $problem = {_printf(d.EXPECTED_NUMBER, rest='$left')} -}}}}",
        "{{- else if and (not $whole) (not $fraction) -}}",
        f"{{{{- $problem = {_go(d.NEEDS_A_DIGIT)} -}}}}",
        "{{- else if not $unit -}}",
        f"{{{{- $problem = {_printf(d.MISSING_UNIT, hint=hint)} -}}}}",
        "{{- else if not (hasKey $units $unit) -}}",
        f"{{{{- $problem = {_printf(d.UNKNOWN_UNIT, unit='$unit', hint=unknown_hint)} -}}}}",
        "{{- else -}}",
        '{{- $total = addf $total (mulf (float64 (printf "0%s" $number)) (float64 (get $units $unit))) -}}',
        f"{{{{- if gt $total {float(d.MAX_NS)!r} -}}}}",
        f"{{{{- $problem = {_go(d.TOO_LONG)} -}}}}",
        "{{- end -}}",
        "{{- end -}}",
        "{{- $left = trimPrefix $token $left -}}",
        "{{- end -}}",
        "{{- end -}}",
        "{{- end -}}",
        # A result is whole microseconds, as timedelta holds it: less than 1000ns is zero.
        "{{- if $problem -}}",
        "{{- else if and $negative (ge $total 1000.0) -}}",
        f"{{{{- $problem = ternary {_go(d.MUST_NOT_BE_NEGATIVE)} {_go(d.MUST_BE_POSITIVE)} .zero -}}}}",
        "{{- else if and (not .zero) (lt $total 1000.0) -}}",
        f"{{{{- $problem = {_go(d.MUST_BE_POSITIVE)} -}}}}",
        "{{- end -}}",
        "{{- if $problem -}}",
        f"{{{{- fail (printf \"%s: %s\" .name ({_printf(d.INVALID, text='$text', problem='$problem')})) -}}}}",
        "{{- end -}}",
        "{{- $text -}}",
        "{{- end -}}",
    ]
    doc = ("{{/* gatepass.checkedDuration: a duration setting as it is, or fail with the operator's message for\n"
           '   it. (dict "name" "operator.retention" "value" .Values.operator.retention "zero" true) */}}\n')
    return _helm_header("operator/gatepass/core/durations.py") + doc + "\n".join(lines) + "\n"


# --- all of them -------------------------------------------------------------------------------------


def rendered(repo: Path = REPO) -> dict[Path, str]:
    """Relative path -> content of every generated file."""
    files: dict[Path, str] = {
        Path("manifests/webhook/webhooks.yaml"): kustomize_webhooks(),
        CHART / "templates" / "webhooks.yaml": helm_webhooks(),
        CHART / "templates" / "_durations.tpl": helm_durations(),
    }
    for crd in sorted((repo / "crds").glob("*.gatepass.dev.yaml")):
        files[CHART / "templates" / "crds" / crd.name] = helm_crd(crd.read_text(), f"crds/{crd.name}")
    for source in sorted((repo / "manifests" / "rbac").glob("*.yaml")):
        if source.name in RBAC_NOT_IN_CHART:
            continue
        files[CHART / "templates" / "rbac" / source.name] = helm_rbac(
            source.read_text(), f"manifests/rbac/{source.name}", source.name in RBAC_FOR_OPERATOR_CERTIFICATES,
            source.name in RBAC_NAMED_FOR_PEOPLE)
    # Token mode's rights, a kustomization of their own (manifests/credentials/); the chart's credentials.tokens.
    tokens = repo / "manifests" / "credentials" / "tokens.yaml"
    files[CHART / "templates" / "rbac" / "credentials_tokens.yaml"] = helm_rbac(
        tokens.read_text(), "manifests/credentials/tokens.yaml", only_with_tokens=True)
    return files


def drift(repo: Path = REPO) -> list[str]:
    """The install files that differ from what their sources generate, each with what is wrong."""
    strays = [stray.relative_to(repo) for folder in ("crds", "rbac")
              for stray in sorted((repo / CHART / "templates" / folder).glob("*.yaml"))]
    return stale_files(repo, rendered(repo), strays, "not generated from anything")


def write(repo: Path = REPO) -> list[Path]:
    """Writes the install files that are missing or differ; returns their paths."""
    return write_files(repo, rendered(repo))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatepass.devcluster.installgen",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a file is out of date")
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        problems = drift(args.repo)
        if problems:
            print(f"install files out of date: {', '.join(problems)}; regenerate with: {GENERATE_COMMAND}",
                  file=sys.stderr)
            return 1
        print("install files are up to date")
        return 0
    for path in write(args.repo):
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
