"""Running the control plane's own kubectl as one of the cluster's identities."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


class KubectlError(RuntimeError):
    pass


@dataclass(frozen=True)
class Kubectl:
    binary: Path
    kubeconfig: Path

    def run(self, *args: str, context: str = "admin", input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
        argv = [str(self.binary), f"--kubeconfig={self.kubeconfig}", f"--context={context}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} (as {context}) failed: {result.stderr.strip()}")
        return result

    def apply(self, *paths: Path, context: str = "admin", server_side: bool = False) -> str:
        args = ["apply"]
        if server_side:
            args += ["--server-side", "--force-conflicts"]
        for path in paths:
            args += ["-f", str(path)]
        return self.run(*args, context=context).stdout
