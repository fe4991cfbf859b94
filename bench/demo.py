"""The cluster the plugin and Web UI benchmarks run against: one control plane, the operator, the demo.

As `make dev` starts them (AccessPolicy demo-dba; bob requests, alice and ivan review).
"""

from __future__ import annotations

from pathlib import Path

from gatepass.devcluster import install
from gatepass.devcluster.controlplane import ControlPlane
from gatepass.devcluster.operator import OperatorProcess

from .run import say


class DemoCluster:
    def __init__(self, workdir: Path, bins: Path) -> None:
        self.workdir, self.bins = workdir, bins

    def setup(self) -> None:
        self.plane = ControlPlane(self.workdir / "plane", self.bins, log=say, keep_workdir=True).start()
        self.kubectl = install.kubectl_for(self.plane)
        install.install_crds(self.kubectl)
        install.install_operator_rbac(self.kubectl)
        install.add_operator_context(self.plane, self.kubectl)
        self.operator = OperatorProcess(self.plane, self.kubectl, self.workdir / "operator").start()
        install.install_demo(self.kubectl)

    def teardown(self) -> None:
        self.operator.stop()
        self.plane.stop()
