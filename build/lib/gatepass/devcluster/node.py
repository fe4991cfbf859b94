"""A real node for the local control plane: containerd, kubelet and kube-proxy in a network namespace.

Everything the node needs from the machine is created here and removed by
``stop()``, and nothing else is touched:

* a network namespace ``gpn-<id>`` joined to the machine by a veth pair
  (``gph-<id>`` outside, ``eth0`` inside) with a /30 of 10.250.<i>.0, and one
  route on the machine, to the node's pod range 10.251.<i>.0/24, through it;
* inside the namespace, a bridge CNI network for the pods and kube-proxy in
  nftables mode, whose rules live in the namespace only;
* one private mount namespace shared by containerd, kubelet and kube-proxy,
  where files with the values kubelet expects are bind-mounted over
  vm.overcommit_memory, kernel.panic and kernel.panic_on_oops, so that kubelet
  (``protectKernelDefaults: true``) finds them and never writes the machine's;
* the cgroups under ``/gatepass-<id>`` in each hierarchy (kubelet's cgroupRoot).

State (containerd's root, kubelet's root dir, CNI's address book, logs) stays
in the work folder. The control plane must listen on ``NodeNetwork.host_ip``
(``ControlPlane(address=..., service_cidr=..., node=True)``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from . import certs
from .controlplane import NODE_NAME, ControlPlane, ControlPlaneError
from .processes import Process, command_of, stop_pid

STATE_FILE = "node.json"
# What kubelet's protectKernelDefaults expects of the three settings it would otherwise write.
KERNEL_DEFAULTS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
CNI_BIN = Path("/usr/lib/cni")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ControlPlaneError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result


@dataclass(frozen=True)
class NodeNetwork:
    """The names and addresses of one node's network, derived from a small index."""

    index: int

    @classmethod
    def for_folder(cls, workdir: Path) -> "NodeNetwork":
        """The network for ``workdir``: stable for the folder, and not one in use by another node."""
        start = int(hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:4], 16) % 250
        in_use = set(_run("ip", "netns", "list", check=False).stdout.split())
        for offset in range(250):
            network = cls((start + offset) % 250)
            if network.netns not in in_use and not Path(f"/sys/class/net/{network.host_if}").exists():
                return network
        raise ControlPlaneError("no free node network (gpn-*) left")

    @property
    def tag(self) -> str:
        return f"{self.index:03d}"

    @property
    def netns(self) -> str:
        return f"gpn-{self.tag}"

    @property
    def host_if(self) -> str:
        return f"gph-{self.tag}"

    @property
    def host_ip(self) -> str:
        return f"10.250.{self.index}.1"

    @property
    def node_ip(self) -> str:
        return f"10.250.{self.index}.2"

    @property
    def pod_cidr(self) -> str:
        return f"10.251.{self.index}.0/24"

    @property
    def service_cidr(self) -> str:
        return f"10.252.{self.index}.0/24"

    @property
    def cgroup(self) -> str:
        return f"/gatepass-{self.tag}"

    # ------------------------------------------------------------- create
    def create(self) -> None:
        peer = f"gpx-{self.tag}"
        _run("ip", "netns", "add", self.netns)
        _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", self.netns)
        inside = ("ip", "netns", "exec", self.netns)
        _run(*inside, "ip", "link", "set", peer, "name", "eth0")
        _run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        _run("ip", "link", "set", self.host_if, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
        _run(*inside, "ip", "addr", "add", f"{self.node_ip}/30", "dev", "eth0")
        _run(*inside, "ip", "link", "set", "eth0", "up")
        _run(*inside, "ip", "route", "add", "default", "via", self.host_ip)
        _run(*inside, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")  # the namespace's own setting
        _run("ip", "route", "add", self.pod_cidr, "via", self.node_ip, "dev", self.host_if)

    def remove(self) -> None:
        """Removes the namespace (and with it the veth pair, the route and the rules inside); any process
        still in it is ended first."""
        # The pods' processes are in the node's cgroups (not in its network namespace: each pod has its own).
        stop_all(cgroup_pids(self.cgroup) | set(map(int, _run(
            "ip", "netns", "pids", self.netns, check=False).stdout.split())))
        _run("ip", "route", "del", self.pod_cidr, check=False)
        if Path(f"/sys/class/net/{self.host_if}").exists():
            _run("ip", "link", "del", self.host_if, check=False)
        _run("ip", "netns", "del", self.netns, check=False)
        remove_cgroups(self.cgroup)


def stop_all(pids: set[int], timeout: float = 5.0) -> None:
    """SIGTERM these processes together, then SIGKILL those still there after ``timeout`` (each by pid, not by
    group: the node's processes share groups with nothing of ours to keep)."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.05)
        pids = {pid for pid in pids if Path(f"/proc/{pid}").exists()}
        if not pids:
            return


def cgroup_pids(root: str) -> set[int]:
    """The processes in ``root`` or below, in any cgroup hierarchy."""
    pids: set[int] = set()
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else ():
        top = hierarchy / root.lstrip("/")
        for procs in top.rglob("cgroup.procs") if top.is_dir() else ():
            try:
                pids.update(int(line) for line in procs.read_text().split())
            except (OSError, ValueError):
                continue
    return pids


def make_cgroups(root: str) -> None:
    """Creates ``root`` in every cgroup v1 hierarchy (kubelet wants its cgroupRoot to exist); a new cpuset
    starts with the parent's CPUs and memory nodes, or no process could join it."""
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else ():
        if not (hierarchy / "cgroup.procs").exists():
            continue  # not a mounted hierarchy (e.g. an empty "unified")
        folder = hierarchy / root.lstrip("/")
        folder.mkdir(exist_ok=True)
        for setting in ("cpuset.cpus", "cpuset.mems"):
            if (folder / setting).exists() and not (folder / setting).read_text().strip():
                (folder / setting).write_text((hierarchy / setting).read_text())


def remove_cgroups(root: str) -> None:
    """Removes ``root`` and everything under it in every cgroup hierarchy, deepest first."""
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else ():
        top = hierarchy / root.lstrip("/")
        if not top.is_dir():
            continue
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
            try:
                folder.rmdir()
            except OSError:
                pass


@dataclass
class Node:
    plane: ControlPlane
    network: NodeNetwork
    workdir: Path
    images: Path  # folder with pause.tar and operator.tar (hack/node/images.sh)
    log: Callable[[str], None] = print
    tied_to_parent: bool = True
    process: Process | None = None

    @property
    def socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    def binary(self, name: str) -> str:
        return self.plane.binary(name)

    # ------------------------------------------------------------------ start
    def start(self, timeout: float = 180.0) -> "Node":
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self._write_files()
        make_cgroups(self.network.cgroup)
        script = self.workdir / "node-run.sh"
        # nsenter, not `ip netns exec`: that mounts a fresh /sys, without the cgroup hierarchies kubelet needs.
        argv = ["nsenter", f"--net=/run/netns/{self.network.netns}", "unshare", "--mount", "--propagation",
                "private", "--", "bash", str(script)]
        self.process = Process("node", argv, self.workdir / "logs" / "node.log")
        self.process.start(tied_to_parent=self.tied_to_parent)
        (self.workdir / STATE_FILE).write_text(json.dumps({"pid": self.process.pid, "index": self.network.index}))
        self._wait_ready(timeout)
        self.log(f"node {NODE_NAME} ready in {time.monotonic() - started:.1f}s")
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_note = time.monotonic()
        while time.monotonic() < deadline:
            if self.process is not None and self.process.exited() is not None:
                raise ControlPlaneError(f"the node exited during start-up: {self.process.tail(3)}")
            status, body = self.plane.get(f"/api/v1/nodes/{NODE_NAME}")
            if status == 200:
                conditions = json.loads(body).get("status", {}).get("conditions") or []
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                    return
            if time.monotonic() - last_note > 15:
                self.log("still waiting for the node to be Ready...")
                last_note = time.monotonic()
            time.sleep(0.5)
        raise ControlPlaneError(f"timed out after {timeout:.0f}s waiting for node {NODE_NAME} to be Ready: "
                                f"{self._tail('kubelet')}")

    def _tail(self, name: str) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        try:
            return " | ".join(path.read_text(errors="replace").strip().splitlines()[-3:])
        except FileNotFoundError:
            return "(no log)"

    # ------------------------------------------------------------------ files
    def _write_files(self) -> None:
        work, pki, net = self.workdir, self.plane.pki, self.network
        for name in ("containerd/root", "containerd/state", "containerd/opt", "cni/conf", "cni/ipam",
                     "kubelet", "sysctl"):
            (work / name).mkdir(parents=True, exist_ok=True)
        certs.serving_cert(self.plane._load_ca_key(), self.plane._load_ca_cert(),
                           [net.node_ip, NODE_NAME]).write(pki, "kubelet-serving")
        for key, value in KERNEL_DEFAULTS.items():
            (work / "sysctl" / key.replace("/", ".")).write_text(value + "\n")
        (work / "containerd" / "config.toml").write_text(self._containerd_config())
        (work / "cni" / "conf" / "10-gatepass.conflist").write_text(json.dumps(self._cni_config(), indent=2))
        (work / "kubelet" / "config.yaml").write_text(yaml.safe_dump(self._kubelet_config(), sort_keys=False))
        (work / "kubelet" / "kubeconfig").write_text(yaml.safe_dump(self._kubeconfig("node"), sort_keys=False))
        (work / "kube-proxy.kubeconfig").write_text(yaml.safe_dump(self._kubeconfig("kube-proxy"), sort_keys=False))
        (work / "kube-proxy.yaml").write_text(yaml.safe_dump(self._proxy_config(), sort_keys=False))
        (work / "node-run.sh").write_text(self._script())

    def _kubeconfig(self, stem: str) -> dict:
        import base64

        pki = self.plane.pki
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "node",
            "clusters": [{"name": "gatepass-dev", "cluster": {
                "server": self.plane.server,
                "certificate-authority-data": base64.b64encode((pki / "ca.crt").read_bytes()).decode()}}],
            "users": [{"name": stem, "user": {"client-certificate": str(pki / f"{stem}.crt"),
                                              "client-key": str(pki / f"{stem}.key")}}],
            "contexts": [{"name": "node", "context": {"cluster": "gatepass-dev", "user": stem}}],
        }

    def _containerd_config(self) -> str:
        work = self.workdir / "containerd"
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        return f"""version = 2
root = "{work / 'root'}"
state = "{work / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.socket}"

[ttrpc]
  address = "{self.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{work / 'opt'}"

[{cri}]
  sandbox_image = "localhost/gatepass-pause:1"
  # No CAP_SYS_RESOURCE here: runc may not lower a container's oom_score_adj below its parent's.
  restrict_oom_score_adj = true
  enable_selinux = false
  # Pods' network namespaces under the state folder, not in the machine's /run/netns.
  netns_mounts_under_state_dir = true

[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{self.workdir / 'cni' / 'conf'}"

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
"""

    def _cni_config(self) -> dict:
        net = self.network
        subnet = ipaddress.ip_network(net.pod_cidr)
        return {
            "cniVersion": "1.0.0",
            "name": "gatepass",
            "plugins": [
                {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True, "hairpinMode": True,
                 "ipam": {"type": "host-local", "dataDir": str(self.workdir / "cni" / "ipam"),
                          "ranges": [[{"subnet": str(subnet), "gateway": str(next(subnet.hosts()))}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }

    def _kubelet_config(self) -> dict:
        pki, net = self.plane.pki, self.network
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": net.node_ip,
            "port": 10250,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "tlsCertFile": str(pki / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(pki / "ca.crt")}},
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            # The machine: cgroup v1, swap, no CAP_SYS_RESOURCE; kubelet must not change kernel settings.
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": net.cgroup,
            "failCgroupV1": False,
            "failSwapOn": False,
            "protectKernelDefaults": True,
            "resolvConf": "",
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "serializeImagePulls": False,
            "localStorageCapacityIsolation": False,
            "makeIPTablesUtilChains": False,
        }

    def _proxy_config(self) -> dict:
        return {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.workdir / "kube-proxy.kubeconfig")},
            "hostnameOverride": NODE_NAME,
            "mode": "nftables",
            "clusterCIDR": self.network.pod_cidr,
            "bindAddress": self.network.node_ip,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            # Leave conntrack's settings alone: 0 means "do not change".
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }

    def _script(self) -> str:
        work, net = self.workdir, self.network
        mounts = "\n".join(
            f"mount --bind {work / 'sysctl' / key.replace('/', '.')} /proc/sys/{key}" for key in KERNEL_DEFAULTS)
        return f"""#!/usr/bin/env bash
# Runs in the node's network namespace and its own private mount namespace
# (gatepass.devcluster.node). Ends the node's processes when one of them ends.
set -euo pipefail
cd {work}
# kubelet reads these and finds what it expects; the machine's own values stay as they are.
{mounts}
children=()
trap 'kill "${{children[@]}}" 2>/dev/null || true; wait' EXIT TERM INT
containerd --config {work / 'containerd' / 'config.toml'} >> logs/containerd.log 2>&1 &
children+=($!)
for _ in $(seq 1 100); do [ -S {self.socket} ] && break; sleep 0.1; done
ctr --address {self.socket} -n k8s.io images import --all-platforms {self.images / 'pause.tar'} >> logs/images.log 2>&1
ctr --address {self.socket} -n k8s.io images import --all-platforms {self.images / 'operator.tar'} >> logs/images.log 2>&1
{self.binary('kubelet')} --config={work / 'kubelet' / 'config.yaml'} \\
  --kubeconfig={work / 'kubelet' / 'kubeconfig'} --root-dir={work / 'kubelet' / 'root'} \\
  --hostname-override={NODE_NAME} --node-ip={net.node_ip} --v=1 >> logs/kubelet.log 2>&1 &
children+=($!)
{self.binary('kube-proxy')} --config={work / 'kube-proxy.yaml'} --v=1 >> logs/kube-proxy.log 2>&1 &
children+=($!)
wait -n
"""

    # ------------------------------------------------------------------- stop
    def stop(self) -> None:
        state_path = self.workdir / STATE_FILE
        pid = self.process.pid if self.process else None
        if pid is None and state_path.exists():
            pid = json.loads(state_path.read_text()).get("pid")
        if pid and "node-run.sh" in command_of(pid):
            stop_pid(pid)
        self.network.remove()  # whatever is left in the namespace: shims, pod processes
        kubelet_root = self.workdir / "kubelet" / "root"
        if kubelet_root.exists():
            shutil.rmtree(kubelet_root, ignore_errors=True)
        state_path.unlink(missing_ok=True)
