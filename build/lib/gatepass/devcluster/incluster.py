"""The operator as users run it: the Helm chart's Deployment on the local node (``make dev-incluster``).

The chart is installed with the image built from this checkout (hack/node/images.sh, imported into
the node's containerd, never pulled) and its defaults otherwise: two replicas with leader election,
webhooks reached through the Service, certificates kept by the operator.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from . import install
from .controlplane import ControlPlane, ControlPlaneError
from .identities import OPERATOR_NAMESPACE
from .install import REPO
from .kubectl import Kubectl
from .node import CGROUP_ROOT, Node, NodeNetwork, _run
from .node import STATE_FILE as NODE_STATE

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


class InClusterSandbox:
    """The whole sandbox of ``make dev-incluster``: the node's network, the control plane serving it, the
    node, the chart installed on it, the operator context and the demo. ``stop()`` removes all of it."""

    def __init__(self, workdir: Path, bin_dir: Path, helm_bin: Path, images: Path, *,
                 log=print, tied_to_parent: bool = True, demo: bool = True) -> None:
        self.workdir, self.bin_dir, self.helm_bin, self.images = workdir, bin_dir, helm_bin, images
        self.log, self.tied_to_parent, self.demo = log, tied_to_parent, demo
        self.network: NodeNetwork | None = None
        self.plane: ControlPlane | None = None
        self.node: Node | None = None

    @property
    def kubectl(self) -> Kubectl:
        assert self.plane is not None
        return install.kubectl_for(self.plane)

    def start(self) -> "InClusterSandbox":
        try:
            self.network = NodeNetwork.for_folder(self.workdir)
            self.network.create()
            (self.workdir / "node").mkdir(parents=True, exist_ok=True)
            (self.workdir / "node" / NODE_STATE).write_text(json.dumps({"index": self.network.index}))
            self.plane = ControlPlane(self.workdir, self.bin_dir, tied_to_parent=self.tied_to_parent,
                                      keep_workdir=True, log=self.log, address=self.network.host_ip,
                                      service_cidr=self.network.service_cidr, node=True)
            self.plane.start()
            self.log("starting the node: containerd, kubelet and kube-proxy in their own namespaces")
            self.node = Node(self.plane, self.network, self.workdir / "node", self.images, log=self.log,
                             tied_to_parent=self.tied_to_parent).start()
            self.log("installing charts/gatepass: the operator as a Deployment of 2 replicas")
            install_chart(self.helm_bin, self.plane, self.kubectl)
            install.add_operator_context(self.plane, self.kubectl)
            if self.demo:
                self.log("installing the demo: namespace payments, ClusterRole dba, AccessPolicy demo-dba")
                install.install_demo(self.kubectl)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()  # the network goes with it
        elif self.network is not None:
            self.network.remove()
        if self.plane is not None:
            self.plane.stop()
        (self.workdir / "node" / NODE_STATE).unlink(missing_ok=True)


def leftovers(network: NodeNetwork) -> list[str]:
    """What of a stopped node is still on the machine (nothing, when its teardown worked)."""
    found = []
    if network.netns in _run("ip", "netns", "list", check=False).stdout.split():
        found.append(f"network namespace {network.netns}")
    if Path(f"/sys/class/net/{network.host_if}").exists():
        found.append(f"interface {network.host_if}")
    if network.pod_cidr.split("/")[0] in _run("ip", "route", "show", check=False).stdout:
        found.append(f"route to {network.pod_cidr}")
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else ():
        if (hierarchy / network.cgroup.lstrip("/")).exists():
            found.append(f"cgroup {hierarchy.name}{network.cgroup}")
    return found
