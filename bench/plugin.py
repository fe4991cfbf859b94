"""`make bench-plugin` (and the end of `make bench`): how long each `kubectl access` command takes.

One control plane, the operator and the demo (AccessPolicy demo-dba; bob
requests, alice and ivan review), as `make dev` starts them. Bob creates
``--requests`` AccessRequests with the plugin; alice approves a third of them
and ivan denies another third, so every table has Pending, Approved and Denied
rows and ``--reviewable`` has work to do.

Then every command is run as its own process, as a user runs it
(``.venv/bin/kubectl-access`` with ``--kubeconfig`` and ``--context``), warm:
one run is thrown away, then ``--runs`` are timed, wall clock from start to
exit. Reported: median and p95 per command, against the targets (a read under
300 ms, ``--help`` under 150 ms), next to ``kubectl get accessrequests`` and
the start-up costs that explain the figures (Python itself, and importing the
``kubernetes`` client and pykube, which the plugin no longer does).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gatepass.devcluster.binaries import ensure_binaries

from .demo import DemoCluster
from .run import ROOT, machine, say, utc_now
from .stats import percentile

READ_TARGET_MS = 300.0
HELP_TARGET_MS = 150.0
PLUGIN = str(Path(sys.executable).with_name("kubectl-access"))


def timed(argv: list[str], runs: int, env: dict[str, str] | None = None) -> dict:
    """Wall time (median, p95, max) of ``argv`` over ``runs`` runs after one warm-up, and the CPU time the
    process used (user + system, median), which depends less on what else the machine is doing."""
    wall, cpu = [], []
    lines = 0
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)  # only waited-for children count
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=120)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.decode().strip()}")
        if i:
            wall.append(elapsed * 1000)
            cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        lines = len(result.stdout.splitlines())
    return {"runs": runs, "median_ms": round(statistics.median(wall), 1),
            "p95_ms": round(percentile(wall, 95) or 0.0, 1), "max_ms": round(max(wall), 1),
            "cpu_median_ms": round(statistics.median(cpu), 1) if cpu else None, "stdout_lines": lines}


class PluginBench(DemoCluster):
    def __init__(self, workdir: Path, bins: Path, requests: int, runs: int) -> None:
        super().__init__(workdir, bins)
        self.requests, self.runs = requests, runs

    def access(self, user: str, *argv: str) -> list[str]:
        return [PLUGIN, f"--kubeconfig={self.plane.kubeconfig}", f"--context={user}", *argv]

    def run_ok(self, argv: list[str]) -> str:
        result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
        return result.stdout

    def seed(self) -> list[str]:
        """Bob's requests; alice approves a third, ivan denies a third, the rest stay Pending."""
        names = []
        for i in range(self.requests):
            names.append(self.run_ok(self.access("bob", "request", "create", "--roles=dba", "--namespaces=payments",
                                                 f"--reason=bench {i}", "--nowait")).strip())
        for i, name in enumerate(names):
            if i % 3 == 1:
                self.run_ok(self.access("alice", "review", "--approve", "--reason=bench", name))
            elif i % 3 == 2:
                self.run_ok(self.access("ivan", "review", "--deny", "--reason=bench", name))
        return names

    def measure(self) -> dict:
        names = self.seed()
        self.load_at_start = round(os.getloadavg()[0], 2)  # wall times grow with what else runs here
        say(f"{len(names)} requests created; timing each command {self.runs} times "
            f"(load average {self.load_at_start})")
        shown = names[1]
        reads = {
            "request ls": self.access("bob", "request", "ls"),
            "request ls -o wide": self.access("bob", "request", "ls", "-o", "wide"),
            "request ls -o json": self.access("bob", "request", "ls", "-o", "json"),
            "request ls --mine": self.access("bob", "request", "ls", "--mine"),
            "request ls --reviewable": self.access("ivan", "request", "ls", "--reviewable"),
            "request show": self.access("bob", "request", "show", shown),
            "request show -o yaml": self.access("bob", "request", "show", shown, "-o", "yaml"),
        }
        commands = {"--help": timed([PLUGIN, "--help"], self.runs)}
        for label, argv in reads.items():
            commands[label] = timed(argv, self.runs)
            say(f"{label}: median {commands[label]['median_ms']} ms, p95 {commands[label]['p95_ms']} ms")
        # kubectl finds the plugin on PATH: what a user types, with kubectl's own start in front.
        env = {**os.environ, "PATH": f"{Path(PLUGIN).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        kubectl = str(self.bins / "kubectl")
        via_kubectl = timed([kubectl, "access", "request", "ls", f"--kubeconfig={self.plane.kubeconfig}",
                             "--context=bob"], self.runs, env)
        reference = {
            "kubectl get accessrequests": timed([kubectl, f"--kubeconfig={self.plane.kubeconfig}", "--context=bob",
                                                 "get", "accessrequests"], self.runs),
            "python -c pass": timed([sys.executable, "-c", "pass"], self.runs),
            "python -c 'import kubernetes'": timed([sys.executable, "-c", "import kubernetes"], self.runs),
            "python -c 'import pykube'": timed([sys.executable, "-c", "import pykube"], self.runs),
        }
        reads_ok = all(commands[label]["p95_ms"] < READ_TARGET_MS for label in reads)
        return {
            "benchmark": "plugin",
            "when": utc_now(),
            "machine": machine(),
            "load_average_1m": {"start": self.load_at_start, "end": round(os.getloadavg()[0], 2)},
            "requests": len(names),
            "runs": self.runs,
            "targets_ms": {"read_p95": READ_TARGET_MS, "help_p95": HELP_TARGET_MS},
            "targets_met": {"reads": reads_ok, "help": commands["--help"]["p95_ms"] < HELP_TARGET_MS},
            "commands": commands,
            "kubectl access request ls (through kubectl)": via_kubectl,
            "reference": reference,
        }

    def run(self) -> dict:
        self.setup()
        try:
            return self.measure()
        finally:
            self.teardown()


def table(result: dict) -> str:
    def row(label: str, figures: dict) -> tuple[str, str, str, str]:
        return (label, f"{figures['median_ms']:.0f}", f"{figures['p95_ms']:.0f}", f"{figures['cpu_median_ms']:.0f}")

    rows = [("command", "median ms", "p95 ms", "CPU ms")]
    rows += [row(f"kubectl access {label}", figures) for label, figures in result["commands"].items()]
    rows.append(row("kubectl access request ls (through kubectl)",
                    result["kubectl access request ls (through kubectl)"]))
    rows += [row(label, figures) for label, figures in result["reference"].items()]
    width = max(len(r[0]) for r in rows)
    lines = [f"{a:<{width}}  {b:>9}  {c:>6}  {d:>6}" for a, b, c, d in rows]
    load = result["load_average_1m"]
    lines.append(f"load average (1 min) at start / end: {load['start']} / {load['end']} on {result['machine']['cpus']} CPUs")
    met = result["targets_met"]
    lines.append(f"targets (p95): reads < {READ_TARGET_MS:.0f} ms: {'met' if met['reads'] else 'MISSED'}; "
                 f"--help < {HELP_TARGET_MS:.0f} ms: {'met' if met['help'] else 'MISSED'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.plugin")
    parser.add_argument("--requests", type=int, default=30, help="AccessRequests bob creates before the timing")
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each command (after one warm-up)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "plugin-results.json")
    parser.add_argument("--keep", type=Path, help="keep the operator's and control plane's logs in this folder")
    args = parser.parse_args()
    bins = ensure_binaries()
    with tempfile.TemporaryDirectory(prefix="gatepass-bench-plugin-") as temporary:
        result = PluginBench(Path(args.keep or temporary) / "plugin", bins, args.requests, args.runs).run()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
