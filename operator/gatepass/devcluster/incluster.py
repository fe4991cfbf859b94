"""The operator as users run it: the Helm chart's Deployment on the local node (``make dev-incluster``).

The chart is installed with the image built from this checkout (hack/node/images.sh, imported into
the node's containerd, never pulled) and its defaults otherwise: two replicas with leader election,
webhooks reached through the Service, certificates kept by the operator.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .controlplane import ControlPlane, ControlPlaneError
from .identities import OPERATOR_NAMESPACE
from .install import REPO
from .kubectl import Kubectl

RELEASE = "gatepass"
IMAGE_REPOSITORY = "localhost/gatepass-operator"
IMAGE_TAG = "dev"
DEPLOYMENT = "gatepass-operator"


def helm(helm_bin: Path, plane: ControlPlane, *args: str, check: bool = True,
         timeout: float = 300) -> subprocess.CompletedProcess:
    argv = [str(helm_bin), f"--kubeconfig={plane.kubeconfig}", "--kube-context=admin", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise ControlPlaneError(f"helm {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result


def chart_values(*extra: str) -> list[str]:
    """The --set flags for this checkout's image (present on the node, so never pulled)."""
    values = [f"image.repository={IMAGE_REPOSITORY}", f"image.tag={IMAGE_TAG}", "image.pullPolicy=Never", *extra]
    return [flag for value in values for flag in ("--set", value)]


def install_chart(helm_bin: Path, plane: ControlPlane, kubectl: Kubectl, *extra_values: str,
                  timeout: str = "180s") -> None:
    """``helm upgrade --install`` of charts/gatepass, then waits until every replica is Ready."""
    helm(helm_bin, plane, "upgrade", "--install", RELEASE, str(REPO / "charts" / "gatepass"),
         "--namespace", OPERATOR_NAMESPACE, "--create-namespace", *chart_values(*extra_values))
    kubectl.run("-n", OPERATOR_NAMESPACE, "rollout", "status", f"deployment/{DEPLOYMENT}", f"--timeout={timeout}",
                timeout=float(timeout.rstrip("s")) + 30)
