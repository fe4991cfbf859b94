"""Running the real operator against the local control plane, with its webhook on loopback.

The operator runs as its own process, authenticated as the ``operator``
context: a token of the ServiceAccount from manifests/rbac, so it holds exactly
the RBAC that ships. The webhook's serving certificate is signed by the
cluster's CA and the webhook configurations point the API server at
https://127.0.0.1:<port>; they fail closed.
"""

from __future__ import annotations

import base64
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from gatepass.webhooks.config import NAME, configurations

from .controlplane import ControlPlane, ControlPlaneError, free_port
from .identities import OPERATOR_CONTEXT
from .kubectl import Kubectl
from .processes import Process


def webhook_manifests(plane: ControlPlane, port: int, ca_bundle: bool = True) -> str:
    """The configurations calling https://127.0.0.1:<port>, trusting the cluster's CA
    (without ``ca_bundle``, the operator is to put its own CA in)."""
    client = {"url": f"https://127.0.0.1:{port}"}
    if ca_bundle:
        client["caBundle"] = base64.b64encode(plane.ca_pem).decode()
    return yaml.safe_dump_all(configurations(client), sort_keys=False)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class OperatorProcess:
    """The operator as a child process; ``start()`` returns once it serves webhooks and is healthy.

    With ``own_certificate`` the operator makes its own webhook certificate (kept in the Secret
    ``own_certificate`` names, as in a cluster without cert-manager) and puts its CA into the
    webhook configurations, instead of being handed one signed by the cluster's CA."""

    def __init__(self, plane: ControlPlane, kubectl: Kubectl, folder: Path, *, name: str = "operator",
                 tied_to_parent: bool = True, webhook_port: int | None = None, health_port: int | None = None,
                 extra_args: tuple[str, ...] = (), own_certificate: str | None = None):
        self.plane, self.kubectl, self.folder, self.name = plane, kubectl, folder, name
        self.tied_to_parent = tied_to_parent
        self.own_certificate = own_certificate
        self.webhook_port = webhook_port or free_port()
        self.health_port = health_port or free_port()
        self.extra_args = extra_args
        self.process: Process | None = None

    def start(self, timeout: float = 60.0, install_webhooks: bool = True) -> "OperatorProcess":
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.own_certificate:
            certificate = [f"--webhook-secret={self.own_certificate}", "--webhook-host=127.0.0.1",
                           f"--cert-dir={self.folder / f'{self.name}-certs'}"]
            if install_webhooks:  # first, so that the operator finds them to put its CA in
                self.install_webhooks()
        else:
            cert, key = self.plane.serving_cert(["127.0.0.1", "localhost"]).write(self.folder, f"{self.name}-webhook")
            certificate = [f"--webhook-cert={cert}", f"--webhook-key={key}"]
        argv = [
            sys.executable, "-m", "gatepass",
            f"--kubeconfig={self.plane.kubeconfig}", f"--context={OPERATOR_CONTEXT}",
            "--webhook-addr=127.0.0.1", f"--webhook-port={self.webhook_port}",
            *certificate,
            f"--health-port={self.health_port}",
            # One name across restarts, as a pod keeps its name when its container restarts:
            # a restarted operator takes its own lease back at once.
            f"--leader-identity={self.name}",
            *self.extra_args,
        ]
        self.process = Process(self.name, argv, self.folder / f"{self.name}.log")
        self.process.start(tied_to_parent=self.tied_to_parent)
        deadline = time.monotonic() + timeout
        while not (_listening(self.webhook_port) and _healthy(self.health_port)):
            code = self.process.exited()
            if code is not None:
                raise ControlPlaneError(f"the operator exited with code {code}: {self.process.tail(3)}")
            if time.monotonic() > deadline:
                self.stop()
                raise ControlPlaneError(f"the operator did not become ready in {timeout:.0f}s: {self.process.tail(3)}")
            time.sleep(0.1)
        if install_webhooks and not self.own_certificate:
            self.install_webhooks()
        return self

    def install_webhooks(self) -> None:
        """Points the API server's webhook configurations at this operator."""
        manifests = webhook_manifests(self.plane, self.webhook_port, ca_bundle=not self.own_certificate)
        if self.own_certificate:  # made anew: the caBundle is the operator's to fill in
            self.kubectl.run("delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration",
                             NAME, "--ignore-not-found")
            self.kubectl.run("create", "-f", "-", input=manifests)
        else:
            self.kubectl.run("apply", "-f", "-", input=manifests)

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        """GET http://127.0.0.1:<health port><path>: /metrics, /healthz or /readyz."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def log(self) -> str:
        return self.process.log.read_text(errors="replace") if self.process else ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None:
            self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.popen is not None:
            self.process.popen.kill()
            self.process.popen.wait()
