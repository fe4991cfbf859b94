"""The install files generated from one source each, so kustomize, Helm and the code cannot drift.

  * manifests/webhook/webhooks.yaml and charts/gatepass/templates/webhooks.yaml
    from the hooks in gatepass.webhooks.config (the operator serves those paths);
  * charts/gatepass/templates/crds/ from crds/ (themselves generated from the models);
  * charts/gatepass/templates/rbac/ from manifests/rbac/, the RBAC the end-to-end
    tests run the operator with.

    python -m gatepass.installgen          # write them (make manifests)
    python -m gatepass.installgen --check  # exit 1 if any is out of date (make lint)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gatepass.webhooks import config

REPO = Path(__file__).resolve().parents[2]
GENERATE_COMMAND = "make manifests"
NAMESPACE = "gatepass-system"
WEBHOOK_SERVICE = "gatepass-webhook"
CHART = Path("charts") / "gatepass"
# manifests/rbac files that are not the chart's: the chart installs into the release's namespace.
RBAC_NOT_IN_CHART = ("namespace.yaml", "kustomization.yaml")
# Only needed when the operator keeps the certificate itself (not with cert-manager).
RBAC_FOR_OPERATOR_CERTIFICATES = ("webhook_role.yaml",)

_NS = "__RELEASE_NAMESPACE__"
_LABELS = "__CHART_LABELS__"
_ANNOTATIONS = "__WEBHOOK_ANNOTATIONS__"


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
    return config.configurations(client, labels={"app.kubernetes.io/name": "gatepass"})


def kustomize_webhooks() -> str:
    return _header("operator/gatepass/webhooks/config.py") + _dump(webhook_configurations())


def helm_webhooks() -> str:
    docs = webhook_configurations(namespace=_NS)
    for doc in docs:
        doc["metadata"]["labels"] = {_LABELS: "x"}
        doc["metadata"]["annotations"] = {_ANNOTATIONS: "x"}
    text = _dump(docs)
    text = text.replace(f"    {_ANNOTATIONS}: x\n", '    {{- include "gatepass.webhookAnnotations" . | nindent 4 }}\n')
    return _helm_header("operator/gatepass/webhooks/config.py") + _helmify(text)


def _helmify(text: str) -> str:
    text = text.replace(f"  labels:\n    {_LABELS}: x\n", '  labels:\n    {{- include "gatepass.labels" . | nindent 4 }}\n')
    return text.replace(_NS, "{{ .Release.Namespace }}")


# --- CRDs ----------------------------------------------------------------------------------------------


def helm_crd(text: str, source: str) -> str:
    """A CRD as a chart template: installed when crds.enabled, kept on uninstall when crds.keep."""
    doc = yaml.safe_load(text)
    doc["metadata"]["annotations"] = {_ANNOTATIONS: "x"}
    doc["metadata"]["labels"] = {_LABELS: "x"}
    body = _dump([doc]).replace(
        f"    {_ANNOTATIONS}: x\n",
        '    {{- if .Values.crds.keep }}\n    helm.sh/resource-policy: keep\n    {{- end }}\n',
    )
    return _helm_header(source) + "{{- if .Values.crds.enabled }}\n" + _helmify(body) + "{{- end }}\n"


# --- RBAC ----------------------------------------------------------------------------------------------


def helm_rbac(text: str, source: str, only_with_operator_certificates: bool = False) -> str:
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in docs:
        meta = doc["metadata"]
        if "namespace" in meta:
            meta["namespace"] = _NS
        meta["labels"] = {_LABELS: "x"}
        for subject in doc.get("subjects") or ():
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = _NS
        if "aggregationRule" in doc:
            doc.pop("rules", None)  # the controller manager fills them in; an upgrade must not empty them
    body = _helmify(_dump(docs))
    head = _helm_header(source)
    if only_with_operator_certificates:
        return head + '{{- if eq .Values.webhook.certificates "operator" }}\n' + body + "{{- end }}\n"
    return head + body


# --- all of them -------------------------------------------------------------------------------------


def rendered(repo: Path = REPO) -> dict[Path, str]:
    """Relative path -> content of every generated file."""
    files: dict[Path, str] = {
        Path("manifests/webhook/webhooks.yaml"): kustomize_webhooks(),
        CHART / "templates" / "webhooks.yaml": helm_webhooks(),
    }
    for crd in sorted((repo / "crds").glob("*.gatepass.dev.yaml")):
        files[CHART / "templates" / "crds" / crd.name] = helm_crd(crd.read_text(), f"crds/{crd.name}")
    for source in sorted((repo / "manifests" / "rbac").glob("*.yaml")):
        if source.name in RBAC_NOT_IN_CHART:
            continue
        files[CHART / "templates" / "rbac" / source.name] = helm_rbac(
            source.read_text(), f"manifests/rbac/{source.name}", source.name in RBAC_FOR_OPERATOR_CERTIFICATES)
    return files


def drift(repo: Path = REPO) -> list[str]:
    problems = []
    expected = rendered(repo)
    for path, text in expected.items():
        target = repo / path
        if not target.exists():
            problems.append(f"{path} (missing)")
        elif target.read_text(encoding="utf-8") != text:
            problems.append(f"{path} (differs)")
    for folder in ("crds", "rbac"):
        for stray in sorted((repo / CHART / "templates" / folder).glob("*.yaml")):
            if stray.relative_to(repo) not in expected:
                problems.append(f"{stray.relative_to(repo)} (not generated from anything)")
    return problems


def write(repo: Path = REPO) -> list[Path]:
    changed = []
    for path, text in rendered(repo).items():
        target = repo / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatepass.installgen", description=__doc__.split("\n")[0])
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
