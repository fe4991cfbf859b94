"""``make dev`` and ``make dev-down``: the local cluster with Gatepass and the demo, in the background."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import incluster as incluster_install
from . import install
from .controlplane import STATE_FILE, ControlPlane, ControlPlaneError
from .identities import ADMIN, OPERATOR_CONTEXT, USERS, User
from .kubectl import KubectlError
from .node import STATE_FILE as NODE_STATE
from .node import Node, NodeNetwork
from .operator import OperatorProcess
from .processes import command_of, stop_pid

OPERATOR_STATE = "operator.json"


def up(workdir: Path, bin_dir: Path, *, incluster: bool = False, helm_bin: Path | None = None,
       images: Path | None = None) -> int:
    workdir = workdir.resolve()
    target = "make dev-incluster" if incluster else "make dev"
    if running(workdir):
        print(f"already running (see {workdir / 'kubeconfig'}); `make dev-down` stops it", file=sys.stderr)
        return 1
    if (workdir / STATE_FILE).exists() or node_state(workdir) is not None:
        # A run that died half-way: what it left (processes, node, network, cgroups) goes first.
        print("removing what an earlier run left behind", flush=True)
        down(workdir)
    log = lambda line: print(line, flush=True)  # noqa: E731
    try:
        if incluster:
            incluster_install.InClusterSandbox(workdir, bin_dir, helm_bin, images, log=log,
                                               tied_to_parent=False).start()
        else:
            plane = ControlPlane(workdir, bin_dir, tied_to_parent=False, keep_workdir=True, log=log)
            plane.start()
            kubectl = install.kubectl_for(plane)
            print("installing the CRDs and the operator's RBAC", flush=True)
            install.install_crds(kubectl)
            install.install_operator_rbac(kubectl)
            install.add_operator_context(plane, kubectl)
            print("starting the operator", flush=True)
            operator = OperatorProcess(plane, kubectl, workdir / "operator", tied_to_parent=False).start()
            (workdir / OPERATOR_STATE).write_text(json.dumps({"pid": operator.pid}))
            print("installing the demo: namespace payments, ClusterRole dba, AccessPolicy demo-dba", flush=True)
            install.install_demo(kubectl)
    except (ControlPlaneError, KubectlError, FileNotFoundError) as error:
        print(f"{target} failed: {error}", file=sys.stderr)
        down(workdir)
        return 1
    config = workdir / "kubeconfig"
    kubectl_bin = bin_dir / "kubectl"
    where = (f"{workdir}/logs/, {workdir}/node/logs/ and kubectl -n gatepass-system logs deploy/gatepass-operator"
             if incluster else f"{workdir}/logs/ and {workdir}/operator/operator.log")
    print(f"""
Gatepass is running. Logs: {where}

  export KUBECONFIG={config}
  alias kubectl={kubectl_bin}
  kubectl --context admin version
  kubectl --context bob apply -f examples/requests/accessrequest.yaml
  kubectl --context bob get accessrequests
  kubectl --context alice annotate accessrequest bob-dba gatepass.dev/approve="proceed with caution"
  kubectl --context ivan annotate accessrequest bob-dba gatepass.dev/approve="ok"
  kubectl --context bob get secrets -n payments

  export PATH=$PWD/.venv/bin:$PATH    # the kubectl-access plugin
  kubectl access --context bob request ls

{contexts_summary(USERS)}
`make dev-down` stops everything.""")
    return 0


def contexts_summary(users: tuple[User, ...]) -> str:
    """'Contexts: admin, operator, alice, ivan (dba-leads), bob (developers), ...' from the identities."""
    parts = [ADMIN.name, OPERATOR_CONTEXT]
    people = [user for user in users if user != ADMIN]
    for index, user in enumerate(people):
        following = people[index + 1] if index + 1 < len(people) else None
        if following is not None and following.groups == user.groups:
            parts.append(user.name)
        else:
            parts.append(f"{user.name} ({', '.join(user.groups)})")
    return "Contexts: " + ", ".join(parts) + "."


def running(workdir: Path) -> bool:
    """Whether the control plane recorded in ``workdir`` still has its API server."""
    path = workdir / STATE_FILE
    if not path.exists():
        return False
    state = json.loads(path.read_text())
    pid = state.get("pids", {}).get("kube-apiserver")
    return bool(pid) and state.get("commands", {}).get("kube-apiserver", "?") in command_of(pid)


def node_state(workdir: Path) -> dict | None:
    path = workdir / "node" / NODE_STATE
    return json.loads(path.read_text()) if path.exists() else None


def down(workdir: Path) -> int:
    workdir = workdir.resolve()
    stopped = False
    node = node_state(workdir)
    if node is not None:
        network = NodeNetwork(node["index"])
        plane = ControlPlane(workdir, Path("/nonexistent"), tied_to_parent=False, keep_workdir=True)
        Node(plane, network, workdir / "node", Path("/nonexistent")).stop()  # removes the network too
        stopped = True
    state = workdir / OPERATOR_STATE
    if state.exists():
        pid = json.loads(state.read_text()).get("pid")
        if pid and "gatepass" in command_of(pid):
            stop_pid(pid)
        state.unlink()
    if (workdir / STATE_FILE).exists():
        plane = ControlPlane.attach(workdir, Path("/nonexistent"))
        plane.stop()
        print("stopped the control plane and the operator" + (" and the node" if stopped else ""))
    elif stopped:
        print("removed the node")
    else:
        print("nothing running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gatepass-devcluster")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start the control plane, the operator and the demo in the background")
    start.add_argument("--dir", type=Path, default=Path(".dev"))
    start.add_argument("--bin-dir", type=Path, required=True)
    start.add_argument("--incluster", action="store_true",
                       help="add a real node and run the operator on it from charts/gatepass")
    start.add_argument("--helm", type=Path, help="the helm binary (with --incluster)")
    start.add_argument("--images", type=Path, help="the folder of pause.tar and operator.tar (with --incluster)")
    stop = sub.add_parser("down", help="stop what `up` started")
    stop.add_argument("--dir", type=Path, default=Path(".dev"))
    args = parser.parse_args(argv)
    if args.command == "up":
        if args.incluster and (args.helm is None or args.images is None):
            parser.error("--incluster needs --helm and --images")
        return up(args.dir, args.bin_dir, incluster=args.incluster, helm_bin=args.helm, images=args.images)
    return down(args.dir)


if __name__ == "__main__":
    sys.exit(main())
