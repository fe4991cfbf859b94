"""etcd + kube-apiserver + kube-controller-manager on 127.0.0.1, started and stopped as one.

``ControlPlane(workdir, bin_dir).start()`` makes the certificates, starts the three
processes on free ports, waits until the API server is ready and the controller
manager has filled in the aggregated ClusterRoles, and writes a kubeconfig with
one context per identity. ``stop()`` ends every process and, unless asked to keep
it, removes the work folder. A state file lets another process stop a detached
control plane (``make dev-down``).
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from . import certs
from .identities import USERS
from .processes import Process, command_of, stop_pid

CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "clusterrole-aggregation-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    # Signs approved kubernetes.io/kube-apiserver-client CSRs with the dev CA (certificate-mode grants).
    "certificatesigningrequest-signing-controller",
    "certificatesigningrequest-cleaner-controller",  # decided CSRs go after an hour, as in a real cluster
)
STATE_FILE = "state.json"
SERVICE_CIDR = "10.96.0.0/16"
#: The node's name, and the identities its kubelet and kube-proxy authenticate as.
NODE_NAME = "gatepass-node"
NODE_USER = f"system:node:{NODE_NAME}"
PROXY_USER = "system:kube-proxy"  # bound to system:node-proxier by the API server's defaults


class ControlPlaneError(RuntimeError):
    """The control plane could not be started; the message is one line saying why."""


def service_ip(cidr: str) -> str:
    """The first address of the service range: the ``kubernetes`` Service's ClusterIP."""
    import ipaddress

    return str(next(ipaddress.ip_network(cidr).hosts()))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ControlPlane:
    workdir: Path
    bin_dir: Path
    log: Callable[[str], None] = print
    tied_to_parent: bool = True
    keep_workdir: bool = False
    processes: list[Process] = field(default_factory=list)
    server: str = ""
    ca_pem: bytes = b""
    _ca_key: object = None
    _ca_cert: object = None
    _users: dict[str, certs.KeyPair] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)
    #: Where the API server listens and what it advertises. With ``node`` set, it also serves a real node
    #: (gatepass.devcluster.node): Node authorization, Endpoints from leases, calls to kubelets and to
    #: webhook pods by their addresses, every controller, and a scheduler.
    address: str = "127.0.0.1"
    service_cidr: str = SERVICE_CIDR
    node: bool = False

    # ---------------------------------------------------------------- paths
    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    def binary(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.exists():
            raise ControlPlaneError(f"{path} is missing; build it with hack/k8s-bins/build.sh")
        return str(path)

    # ---------------------------------------------------------------- start
    def start(self, timeout: float = 120.0) -> "ControlPlane":
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.pki.mkdir(exist_ok=True)
        try:
            self._make_pki()
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url)
            self._wait_ready(timeout)
            self._write_kubeconfig()
            self._start_controller_manager()
            if self.node:
                self._start_scheduler()
            self._wait_aggregation(timeout)
        except BaseException:
            self.stop()
            raise
        self._save_state()
        self.log(f"control plane ready at {self.server} in {time.monotonic() - started:.1f}s")
        return self

    def _make_pki(self) -> None:
        ca_pair, self._ca_key, self._ca_cert = certs.make_ca()
        self.ca_pem = ca_pair.cert_pem
        ca_pair.write(self.pki, "ca")
        hosts = ["127.0.0.1", "localhost"]
        if self.address not in hosts:
            hosts.insert(0, self.address)
        if self.node:  # as Pods reach it: the Service's first address and its names
            hosts += [service_ip(self.service_cidr), "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                      "kubernetes.default.svc.cluster.local"]
        certs.serving_cert(self._ca_key, self._ca_cert, hosts).write(self.pki, "apiserver")
        certs.service_account_keys().write(self.pki, "sa")
        if self.node:
            certs.client_cert(self._ca_key, self._ca_cert, NODE_USER, ["system:nodes"]).write(self.pki, "node")
            certs.client_cert(self._ca_key, self._ca_cert, PROXY_USER, []).write(self.pki, "kube-proxy")
        for user in USERS:
            pair = certs.client_cert(self._ca_key, self._ca_cert, user.name, list(user.groups))
            self._users[user.name] = pair
            pair.write(self.pki, f"user-{user.name}")

    def serving_cert(self, hosts: list[str]) -> certs.KeyPair:
        """A serving certificate signed by this cluster's CA (for the operator's webhook)."""
        return certs.serving_cert(self._load_ca_key(), self._load_ca_cert(), hosts)

    def _load_ca_key(self):
        if self._ca_key is None:
            from cryptography.hazmat.primitives import serialization

            self._ca_key = serialization.load_pem_private_key((self.pki / "ca.key").read_bytes(), None)
        return self._ca_key

    def _load_ca_cert(self):
        if self._ca_cert is None:
            from cryptography import x509

            self._ca_cert = x509.load_pem_x509_certificate((self.pki / "ca.crt").read_bytes())
        return self._ca_cert

    def _spawn(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.workdir / "logs" / f"{name}.log")
        process.start(tied_to_parent=self.tied_to_parent)
        self.processes.append(process)
        return process

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        data = Path(tempfile.mkdtemp(prefix="gatepass-etcd-", dir=_fast_tmp())) 
        (self.workdir / "etcd-data").write_text(str(data))
        self._spawn(
            "etcd",
            [
                self.binary("etcd"),
                "--name=default",
                f"--data-dir={data}",
                f"--listen-client-urls=http://127.0.0.1:{client}",
                f"--advertise-client-urls=http://127.0.0.1:{client}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        return f"http://127.0.0.1:{client}"

    def _start_apiserver(self, etcd_url: str) -> None:
        port = free_port()
        self.server = f"https://{self.address}:{port}"
        pki = self.pki
        node_flags = [
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--endpoint-reconciler-type=lease",
            f"--kubelet-client-certificate={pki / 'user-admin.crt'}",
            f"--kubelet-client-key={pki / 'user-admin.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--enable-aggregator-routing=true",  # webhooks are called at their pods' addresses
        ] if self.node else ["--authorization-mode=RBAC", "--endpoint-reconciler-type=none"]
        self._spawn(
            "kube-apiserver",
            [
                self.binary("kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={self.address}",
                f"--advertise-address={self.address}",
                f"--secure-port={port}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                *node_flags,
                "--anonymous-auth=false",
                f"--service-account-key-file={pki / 'sa.crt'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-account-max-token-expiration=720h",
                f"--service-cluster-ip-range={self.service_cidr}",
                "--enable-priority-and-fairness=false",
                "--storage-media-type=application/vnd.kubernetes.protobuf",
            ],
        )

    def restart_controller_manager(self, signing_duration: str | None = None) -> None:
        """Starts the controller manager again, with ``--cluster-signing-duration`` (a Go duration) when given:
        the longest certificate it signs, whatever a CSR's expirationSeconds asks (a test of what happens at
        a certificate's NotAfter need not wait the API's 10-minute minimum). None: the default (a year)."""
        for process in [p for p in self.processes if p.name == "kube-controller-manager"]:
            process.stop()
            self.processes.remove(process)
        self._start_controller_manager(signing_duration)
        self._save_state()

    def _start_controller_manager(self, signing_duration: str | None = None) -> None:
        admin_config = self.workdir / "kubeconfig-admin"
        admin_config.write_text(yaml.safe_dump(self._kubeconfig_dict(only="admin")))
        admin_config.chmod(0o600)
        self._spawn(
            "kube-controller-manager",
            [
                *self._component("kube-controller-manager"),
                f"--controllers={'*' if self.node else ','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={self.pki / 'sa.key'}",
                f"--root-ca-file={self.pki / 'ca.crt'}",
                # The CA the API server's --client-ca-file trusts: the certificates it signs authenticate.
                f"--cluster-signing-cert-file={self.pki / 'ca.crt'}",
                f"--cluster-signing-key-file={self.pki / 'ca.key'}",
                "--use-service-account-credentials=false",
                "--concurrent-gc-syncs=10",
                *([f"--cluster-signing-duration={signing_duration}"] if signing_duration else []),
            ],
        )

    def _start_scheduler(self) -> None:
        self._spawn("kube-scheduler", self._component("kube-scheduler"))

    def _component(self, name: str) -> list[str]:
        """A controller manager's or scheduler's command line: admin's kubeconfig for everything, its secure
        port on a free loopback port, no leader election (there is one of each)."""
        admin_config = self.workdir / "kubeconfig-admin"
        return [
            self.binary(name),
            f"--kubeconfig={admin_config}",
            f"--authentication-kubeconfig={admin_config}",
            f"--authorization-kubeconfig={admin_config}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--leader-elect=false",
        ]

    # -------------------------------------------------------------- waiting
    def _ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        context.load_cert_chain(self.pki / "user-admin.crt", self.pki / "user-admin.key")
        return context

    def get(self, path: str) -> tuple[int, bytes]:
        """A GET as admin; for readiness checks (tests use real clients)."""
        request = urllib.request.Request(self.server + path)
        try:
            with urllib.request.urlopen(request, context=self._ssl(), timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def _check_alive(self) -> None:
        for process in self.processes:
            code = process.exited()
            if code is not None:
                raise ControlPlaneError(
                    f"{process.name} exited with code {code} during start-up: {process.tail(3)}"
                )

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_note = time.monotonic()
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if ready():
                    return
            except (OSError, urllib.error.URLError, ssl.SSLError):
                pass
            if time.monotonic() - last_note > 10:
                self.log(f"still waiting for {what}...")
                last_note = time.monotonic()
            time.sleep(0.2)
        raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for {what}")

    def _wait_ready(self, timeout: float) -> None:
        self._wait("kube-apiserver /readyz", lambda: self.get("/readyz")[0] == 200, timeout)

    def _wait_aggregation(self, timeout: float) -> None:
        def aggregated() -> bool:
            status, body = self.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/view")
            return status == 200 and bool(json.loads(body).get("rules"))

        self._wait("kube-controller-manager to aggregate the built-in ClusterRoles", aggregated, timeout)

    # ----------------------------------------------------------- kubeconfig
    def add_token_user(self, context: str, token: str) -> None:
        """Adds (or replaces) a context that authenticates with a bearer token."""
        self._tokens[context] = token
        self._write_kubeconfig()

    def _kubeconfig_dict(self, only: str | None = None) -> dict:
        ca = base64.b64encode(self.ca_pem).decode()
        users, contexts = [], []
        for name, pair in self._user_pairs().items():
            if only and name != only:
                continue
            users.append({
                "name": name,
                "user": {
                    "client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
                    "client-key-data": base64.b64encode(pair.key_pem).decode(),
                },
            })
            contexts.append({"name": name, "context": {"cluster": "gatepass-dev", "user": name}})
        for name, token in self._tokens.items():
            if only and name != only:
                continue
            users.append({"name": name, "user": {"token": token}})
            contexts.append({"name": name, "context": {"cluster": "gatepass-dev", "user": name}})
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "gatepass-dev", "cluster": {"server": self.server, "certificate-authority-data": ca}}],
            "users": users,
            "contexts": contexts,
            "current-context": only or "admin",
            "preferences": {},
        }

    def _user_pairs(self) -> dict[str, certs.KeyPair]:
        if not self._users:
            for user in USERS:
                self._users[user.name] = certs.KeyPair(
                    (self.pki / f"user-{user.name}.crt").read_bytes(),
                    (self.pki / f"user-{user.name}.key").read_bytes(),
                )
        return self._users

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(yaml.safe_dump(self._kubeconfig_dict(), sort_keys=False))
        self.kubeconfig.chmod(0o600)

    # ---------------------------------------------------------------- state
    def _save_state(self) -> None:
        state = {
            "server": self.server,
            "pids": {p.name: p.pid for p in self.processes},
            "commands": {p.name: p.argv[0] for p in self.processes},
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    @classmethod
    def attach(cls, workdir: Path, bin_dir: Path, log: Callable[[str], None] = print) -> "ControlPlane":
        """A handle on a control plane started by another process, from its state file."""
        state = json.loads((workdir / STATE_FILE).read_text())
        plane = cls(workdir, bin_dir, log=log, tied_to_parent=False, keep_workdir=True)
        plane.server = state["server"]
        plane.ca_pem = (workdir / "pki" / "ca.crt").read_bytes()
        config = yaml.safe_load((workdir / "kubeconfig").read_text())
        plane._tokens = {u["name"]: u["user"]["token"] for u in config["users"] if "token" in u["user"]}
        return plane

    # ----------------------------------------------------------------- stop
    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self._stop_from_state()
        self._remove_etcd_data()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_from_state(self) -> None:
        path = self.workdir / STATE_FILE
        if not path.exists():
            return
        state = json.loads(path.read_text())
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            pid = state["pids"].get(name)
            if pid and state["commands"][name] in command_of(pid):
                stop_pid(pid)
        path.unlink()

    def _remove_etcd_data(self) -> None:
        marker = self.workdir / "etcd-data"
        if marker.exists():
            shutil.rmtree(marker.read_text().strip(), ignore_errors=True)
            marker.unlink()


def _fast_tmp() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and shutil.disk_usage(shm).free > 512 * 2**20 else None
