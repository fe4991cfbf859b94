"""Installing Gatepass and the demo into a running control plane, with kubectl as admin."""

from __future__ import annotations

from pathlib import Path

import yaml

from .controlplane import ControlPlane
from .identities import OPERATOR_CONTEXT, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT
from .kubectl import Kubectl

REPO = Path(__file__).resolve().parents[3]


def kubectl_for(plane: ControlPlane) -> Kubectl:
    return Kubectl(plane.bin_dir / "kubectl", plane.kubeconfig)


def install_crds(kubectl: Kubectl, repo: Path = REPO) -> None:
    files = sorted(path for path in (repo / "crds").glob("*.yaml") if path.name != "kustomization.yaml")
    if not files:
        raise FileNotFoundError(f"no CRDs in {repo / 'crds'}")
    kubectl.apply(*files)
    names = [yaml.safe_load(f.read_text())["metadata"]["name"] for f in files]
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])


def install_operator_rbac(kubectl: Kubectl, repo: Path = REPO) -> None:
    """The namespace, ServiceAccount and RBAC exactly as they ship in manifests/rbac, and token mode's
    (manifests/credentials)."""
    kubectl.run("apply", "-k", str(repo / "manifests" / "rbac"))
    kubectl.run("apply", "-k", str(repo / "manifests" / "credentials"))


def operator_token(kubectl: Kubectl, duration: str = "720h") -> str:
    result = kubectl.run(
        "create", "token", OPERATOR_SERVICE_ACCOUNT, "-n", OPERATOR_NAMESPACE, f"--duration={duration}"
    )
    return result.stdout.strip()


def add_operator_context(plane: ControlPlane, kubectl: Kubectl) -> None:
    plane.add_token_user(OPERATOR_CONTEXT, operator_token(kubectl))


def demo_objects(repo: Path = REPO) -> list[tuple[str, str]]:
    """(kind, name) of every object of examples/demo, in the kustomization's order; name is namespace/name
    for a namespaced object."""
    folder = repo / "examples" / "demo"
    found = []
    for resource in yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]:
        for doc in yaml.safe_load_all((folder / resource).read_text()):
            if doc:
                meta = doc["metadata"]
                found.append((doc["kind"], f"{meta['namespace']}/{meta['name']}" if "namespace" in meta
                              else meta["name"]))
    return found


def demo_summary(repo: Path = REPO) -> str:
    """'installing the demo: Namespace payments, Secret payments/db-password, ...', from the demo's files."""
    return "installing the demo: " + ", ".join(f"{kind} {name}" for kind, name in demo_objects(repo))


def install_demo(kubectl: Kubectl, repo: Path = REPO) -> None:
    """examples/demo, what `make dev` and the end-to-end tests start from (the README's walkthrough)."""
    kubectl.run("apply", "-k", str(repo / "examples" / "demo"))
