"""``make dev`` and ``make dev-down``: the local cluster with Gatepass and the demo, in the background."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import install
from .controlplane import STATE_FILE, ControlPlane, ControlPlaneError
from .identities import ADMIN, OPERATOR_CONTEXT, USERS, User
from .kubectl import KubectlError
from .operator import OperatorProcess
from .processes import command_of, stop_pid

OPERATOR_STATE = "operator.json"


def up(workdir: Path, bin_dir: Path) -> int:
    workdir = workdir.resolve()
    if (workdir / STATE_FILE).exists():
        print(f"already running (see {workdir / 'kubeconfig'}); `make dev-down` stops it", file=sys.stderr)
        return 1
    plane = ControlPlane(workdir, bin_dir, tied_to_parent=False, keep_workdir=True,
                         log=lambda line: print(line, flush=True))
    try:
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
        print(f"make dev failed: {error}", file=sys.stderr)
        down(workdir)
        return 1
    config = workdir / "kubeconfig"
    kubectl_bin = bin_dir / "kubectl"
    print(f"""
Gatepass is running. Logs: {workdir}/logs/ and {workdir}/operator/operator.log

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


def down(workdir: Path) -> int:
    workdir = workdir.resolve()
    state = workdir / OPERATOR_STATE
    if state.exists():
        pid = json.loads(state.read_text()).get("pid")
        if pid and "gatepass" in command_of(pid):
            stop_pid(pid)
        state.unlink()
    if (workdir / STATE_FILE).exists():
        plane = ControlPlane.attach(workdir, Path("/nonexistent"))
        plane.stop()
        print("stopped the control plane and the operator")
    else:
        print("nothing running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gatepass-devcluster")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start the control plane, the operator and the demo in the background")
    start.add_argument("--dir", type=Path, default=Path(".dev"))
    start.add_argument("--bin-dir", type=Path, required=True)
    stop = sub.add_parser("down", help="stop what `up` started")
    stop.add_argument("--dir", type=Path, default=Path(".dev"))
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.dir, args.bin_dir)
    return down(args.dir)


if __name__ == "__main__":
    sys.exit(main())
