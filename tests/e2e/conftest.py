"""End-to-end fixtures: a real control plane (or an existing cluster), clients per identity.

The control plane is started once per run. With CI=true nothing here is ever
skipped: if the binaries can't be built or the API server can't start, the run
stops with one line saying why. Outside CI, the end-to-end tests are skipped only
when there is no Go toolchain to build the control plane with.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import pytest

from gatepass.devcluster.binaries import BinariesUnavailable, ensure_binaries, have_go
from gatepass.devcluster.controlplane import ControlPlane, ControlPlaneError
from gatepass.devcluster.kubectl import Kubectl

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class Cluster:
    kubeconfig: Path
    kubectl: Kubectl
    plane: ControlPlane | None  # None when running against an existing cluster

    def api(self, context: str = "admin") -> kubernetes.client.ApiClient:
        return kubernetes.config.new_client_from_config(str(self.kubeconfig), context=context)

    def core(self, context: str = "admin") -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api(context))

    def custom(self, context: str = "admin") -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api(context))


def _fail(message: str) -> None:
    if IN_CI or have_go():
        pytest.exit(f"control plane unavailable: {message}", returncode=1)
    pytest.skip(f"control plane unavailable (no Go toolchain): {message}")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    external = os.environ.get("GATEPASS_KUBECONFIG")
    if external:
        kubectl_bin = Path(os.environ.get("GATEPASS_KUBECTL", "kubectl"))
        yield Cluster(Path(external), Kubectl(kubectl_bin, Path(external)), None)
        return
    try:
        bins = ensure_binaries()
    except BinariesUnavailable as error:
        _fail(str(error))
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), bins, log=lambda line: print(line, flush=True))
    try:
        plane.start()
    except ControlPlaneError as error:
        _fail(str(error))
    try:
        yield Cluster(plane.kubeconfig, Kubectl(bins / "kubectl", plane.kubeconfig), plane)
    finally:
        plane.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = cluster.core()
    core.create_namespace({"metadata": {"name": name, "labels": {"gatepass.dev/test": "true"}}})
    yield name
    core.delete_namespace(name)


@dataclass
class Gatepass:
    """Gatepass installed in the cluster, with its operator running as the ``operator`` identity."""

    cluster: Cluster
    operator: object  # devcluster.operator.OperatorProcess

    def kubectl(self, *args: str, user: str = "admin", check: bool = True, input: str | None = None):
        return self.cluster.kubectl.run(*args, context=user, check=check, input=input)


@pytest.fixture(scope="session")
def gatepass(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gatepass]:
    from gatepass.devcluster import install
    from gatepass.devcluster.operator import OperatorProcess

    if cluster.plane is None:
        pytest.skip("installing the operator into an existing cluster is done by its manifests")
    kubectl = cluster.kubectl
    install.install_crds(kubectl)
    install.install_operator_rbac(kubectl)
    install.add_operator_context(cluster.plane, kubectl)
    operator = OperatorProcess(cluster.plane, kubectl, tmp_path_factory.mktemp("operator"))
    try:
        operator.start()
    except ControlPlaneError as error:
        _fail(str(error))
    install.install_demo(kubectl)
    try:
        yield Gatepass(cluster, operator)
    finally:
        operator.stop()
        log = operator.log()
        if log:
            print("\n--- operator log (last 60 lines) ---\n" + "\n".join(log.splitlines()[-60:]))
