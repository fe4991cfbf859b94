"""The in-cluster suite: Gatepass installed as users install it, on a real node (``make dev-incluster``).

One sandbox per run: a network namespace with containerd, kubelet and
kube-proxy, the control plane serving it, and charts/gatepass installed with
the image built from this checkout. It needs root (network and mount
namespaces, cgroups) and the Debian packages of hack/node/packages.sh. With
CI=true nothing here is ever skipped: if the node cannot start, the run stops
with one line saying why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatepass.devcluster.controlplane import ControlPlaneError
from gatepass.devcluster.incluster import InClusterSandbox
from gatepass.devcluster.kubectl import KubectlError

from ..e2e.conftest import IN_CI

REPO = Path(__file__).resolve().parents[2]


def _fail(message: str) -> None:
    if IN_CI or os.geteuid() == 0:
        pytest.exit(f"in-cluster node unavailable: {message}", returncode=1)
    pytest.skip(f"in-cluster node unavailable (needs root): {message}")


def _script(script: str) -> Path:
    """Runs a hack/ script; its last line of output (a path), or one line saying why it failed."""
    result = subprocess.run(["bash", str(REPO / script)], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        _fail(f"{script}: {(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    return Path((result.stdout.strip().splitlines() or [""])[-1])


class InCluster:
    """The sandbox, with kubectl as any of its identities (the same shape as the e2e suite's ``gatepass``)."""

    def __init__(self, sandbox: InClusterSandbox, helm: Path, images: Path) -> None:
        self.sandbox, self.helm, self.images = sandbox, helm, images

    @property
    def cluster(self):
        return self

    def kubectl(self, *args: str, user: str = "admin", check: bool = True, input: str | None = None,
                timeout: float = 120):
        return self.sandbox.kubectl.run(*args, context=user, check=check, input=input, timeout=timeout)


@pytest.fixture(scope="session")
def incluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InCluster]:
    if os.geteuid() != 0:
        _fail("network and mount namespaces and cgroups need root")
    _script("hack/node/packages.sh")
    bins = _script("hack/node/build.sh")
    helm = _script("hack/helm/build.sh")
    images = _script("hack/node/images.sh")
    sandbox = InClusterSandbox(tmp_path_factory.mktemp("incluster"), bins, helm, images,
                               log=lambda line: print(line, flush=True))
    try:
        sandbox.start()
    except (ControlPlaneError, KubectlError, OSError) as error:
        _fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
    try:
        yield InCluster(sandbox, helm, images)
    finally:
        sandbox.stop()
