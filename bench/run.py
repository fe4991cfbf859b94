"""`make bench`: approval-to-access latency, expiry overshoot, throughput, operator cost and restart time.

For each N a fresh control plane and operator are started, so the figures of one
size do not leak into the next. Users are played by impersonation (see api.py),
so every request and review passes through Gatepass's admission with a real,
API-server-authenticated identity.

Approval -> access: from the moment the API server accepted the decisive review
(the response to the approving PATCH) to a SubjectAccessReview for the user
returning allowed, polled every few milliseconds, on a sample of requests.
Expiry overshoot: from status.expiresAt to a SubjectAccessReview returning
denied, on a sample; and, for every request, to the moment the RoleBinding's
deletion is seen on a watch. The limit: the same two latencies for a
RoleBinding created and deleted directly by a client, with no operator.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import aiohttp

from gatepass.devcluster import install
from gatepass.devcluster.binaries import ensure_binaries
from gatepass.devcluster.controlplane import ControlPlane
from gatepass.devcluster.operator import OperatorProcess

from .api import GP, Api, ApiError
from .stats import cpu_seconds, peak_rss_mib, summary

ROOT = Path(__file__).resolve().parents[1]
GROUP = "bench-requesters"
REVIEWER = "bench-reviewer"
POLL = 0.005
SAMPLE = 300  # at most this many requests are followed with SubjectAccessReviews per size
SAMPLED_PER_SECOND = 20
EXPIRY_RATE = 40.0  # grants ending per second once all N are live  # and at most this many per second of approvals, so polling doesn't become the load

PEOPLE = [
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "bench-requesters"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gatepass-requester"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": GROUP}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "bench-reviewer"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gatepass-reviewer"},
     "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": REVIEWER}]},
]

POLICY = {
    "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": "bench"},
    "spec": {
        "requesters": {"groups": [GROUP]},
        "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
        "reviewers": {"users": [REVIEWER]},
        "thresholds": [{"name": "one", "approvals": 1}],
        "maxDuration": "8h", "requestTTL": "8h", "requireReason": False,
    },
}


def say(text: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {text}", flush=True)


def now() -> float:
    return time.time()


def parse_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


async def poll_until(api: Api, user: str, allowed: bool, timeout: float = 60.0) -> float:
    """Wall-clock time at which the SubjectAccessReview first answered ``allowed``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await api.allowed(user, "payments") == allowed:
            return now()
        await asyncio.sleep(POLL)
    raise TimeoutError(f"{user}: access never became {'allowed' if allowed else 'denied'}")


async def bounded(limit: int, coroutines) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine):
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines), return_exceptions=True)


class BindingWatch:
    """Times at which managed RoleBindings appear and disappear, for every request."""

    def __init__(self, api: Api):
        self.api, self.added, self.deleted = api, {}, {}
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        version = ""
        path = "/apis/rbac.authorization.k8s.io/v1/rolebindings"
        while True:
            params = {"watch": "1", "labelSelector": "gatepass.dev/managed=true", "timeoutSeconds": "600",
                      "allowWatchBookmarks": "false"}
            if version:
                params["resourceVersion"] = version
            async with self.api.session.get(self.api.server + path, params=params,
                                            timeout=aiohttp.ClientTimeout(total=None)) as response:
                async for line in response.content:
                    event = json.loads(line)
                    obj = event["object"]
                    version = obj["metadata"].get("resourceVersion", version)
                    owner = next((o["name"] for o in obj["metadata"].get("ownerReferences") or ()), None)
                    if owner is None:
                        continue
                    if event["type"] == "ADDED":
                        self.added.setdefault(owner, now())
                    elif event["type"] == "DELETED":
                        self.deleted.setdefault(owner, now())


class Bench:
    def __init__(self, size: int, rate: float, workdir: Path, bins: Path, prefix: str = "bench"):
        self.size, self.rate, self.workdir, self.bins = size, rate, workdir, bins
        self.label = str(size) if prefix == "bench" else f"{prefix}-{size}"  # the requests' "bench" label
        self.prefix = f"{prefix}-{size}"  # of the requests' and their users' names
        self.errors: list[str] = []
        self.created_at: dict[int, float] = {}  # request -> when the API server accepted it
        self.approved_at: dict[int, float] = {}  # request -> when the API server accepted its approval
        self.access: dict[int, float] = {}  # sampled request -> approval to access, seconds (SAR)
        self.expires_at: dict[int, float] = {}  # request -> status.expiresAt

    def operator_args(self) -> tuple[str, ...]:
        return ("--workers=16",)

    def manifests(self) -> list[dict]:
        """The users' RBAC and the policies, applied once the operator runs."""
        return [*PEOPLE, POLICY]

    # ------------------------------------------------------------- set-up
    async def setup(self) -> None:
        self.plane = ControlPlane(self.workdir / "plane", self.bins, log=say, keep_workdir=True).start()
        kubectl = install.kubectl_for(self.plane)
        install.install_crds(kubectl)
        install.install_operator_rbac(kubectl)
        install.add_operator_context(self.plane, kubectl)
        self.operator = OperatorProcess(self.plane, kubectl, self.workdir / "operator",
                                        extra_args=self.operator_args()).start()
        install.install_demo(kubectl)
        for manifest in self.manifests():
            kubectl.run("apply", "-f", "-", input=json.dumps(manifest))
        self.kubectl = kubectl
        self.api = Api(self.plane.server, self.plane.pki, limit=128)
        self.watch = BindingWatch(self.api)
        self.watch.start()

    async def teardown(self) -> None:
        await self.watch.stop()
        await self.api.close()
        self.operator.stop()
        self.plane.stop()

    def user(self, i: int) -> str:
        return f"{self.prefix}-u{i}"

    def name(self, i: int) -> str:
        return f"{self.prefix}-{i}"

    def role(self, i: int) -> str:
        """The role request ``i`` asks for (so, which policy governs it)."""
        return "dba"

    # ------------------------------------------------------------ the limit
    async def direct_limit(self, samples: int = 200) -> dict:
        grant, revoke = [], []
        for i in range(samples):
            user = f"direct-{self.size}-u{i}"
            binding = {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": f"direct-{i}", "namespace": "payments"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "dba"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}],
            }
            await self.api.call("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings",
                                binding)
            t0 = now()
            grant.append(await poll_until(self.api, user, True) - t0)
            await self.api.call("DELETE", f"/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings/direct-{i}")
            t0 = now()
            revoke.append(await poll_until(self.api, user, False) - t0)
        return {"grant": summary(grant), "revoke": summary(revoke)}

    # -------------------------------------------------------------- phases
    def durations(self) -> tuple[float, float]:
        """Approvals take size/rate seconds; every grant outlives them, then the grants expire
        spread over a window, EXPIRY_RATE a second (so the figure is the operator's precision,
        not a queue of thousands of deadlines falling in the same second)."""
        approve_window = self.size / self.rate
        expiry_window = max(10.0, self.size / EXPIRY_RATE)
        return approve_window + 15.0, expiry_window

    async def create_all(self) -> float:
        base, window = self.durations()

        async def create(i: int) -> None:
            # request i is approved at about i/rate; it expires base + window*i/N after the start of approvals
            expires_after_start = base + window * i / self.size
            duration = expires_after_start - i / self.rate
            body = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
                    "metadata": {"name": self.name(i), "labels": {"bench": self.label}},
                    "spec": {"roles": [self.role(i)], "namespaces": ["payments"], "duration": f"{duration:.3f}s",
                             "reason": "benchmark"}}
            await self.api.call("POST", f"{GP}/accessrequests", body, user=self.user(i), groups=(GROUP,))
            self.created_at[i] = now()

        started = time.monotonic()
        results = await bounded(32, (create(i) for i in range(self.size)))
        failures = [f"create: {r}" for r in results if isinstance(r, Exception)]
        if failures:
            raise RuntimeError(f"{len(failures)} of {self.size} creates failed, e.g. {failures[0]}")
        elapsed = time.monotonic() - started
        await self.wait_states({"Pending"}, self.size, "Pending")
        return elapsed

    async def count_states(self) -> dict[str, int]:
        listing = await self.api.call("GET", f"{GP}/accessrequests?labelSelector=bench%3D{self.label}")
        counts: dict[str, int] = {}
        for item in listing["items"]:
            state = (item.get("status") or {}).get("state", "None")
            counts[state] = counts.get(state, 0) + 1
        return counts

    async def wait_states(self, states: set[str], count: int, what: str, timeout: float = 1800) -> None:
        deadline = time.monotonic() + timeout
        last = 0.0
        while time.monotonic() < deadline:
            counts = await self.count_states()
            done = sum(counts.get(s, 0) for s in states)
            if done >= count:
                return
            if time.monotonic() - last > 10:
                say(f"  waiting for {what}: {done}/{count} {counts}")
                last = time.monotonic()
            await asyncio.sleep(1.0)
        raise TimeoutError(f"timed out waiting for {what}")

    def sample_every(self) -> int:
        return max(1, self.size // SAMPLE, round(self.rate / SAMPLED_PER_SECOND))

    def sampled(self, i: int) -> bool:
        """Whether request i's approval to access is followed with SubjectAccessReviews."""
        return i % self.sample_every() == 0

    async def approve_all(self) -> dict:
        tasks = []
        start = time.monotonic()

        async def approve(i: int) -> None:
            patch = {"metadata": {"annotations": {"gatepass.dev/approve": "benchmark"}}}
            await self.api.call("PATCH", f"{GP}/accessrequests/{self.name(i)}", patch, user=REVIEWER,
                                content_type="application/merge-patch+json")
            accepted = now()
            self.approved_at[i] = accepted
            if self.sampled(i):
                self.access[i] = await poll_until(self.api, self.user(i), True) - accepted

        for i in range(self.size):
            delay = start + i / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(approve(i)))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        self.errors += [f"approve: {r}" for r in results if isinstance(r, Exception)]
        # Early grants may already have ended by the time the last is approved.
        await self.wait_states({"Approved", "Expired"}, self.size, "approvals")
        watched = [self.watch.added[self.name(i)] - self.approved_at[i]
                   for i in range(self.size) if self.name(i) in self.watch.added and i in self.approved_at]
        return {"sar": summary(list(self.access.values())), "binding_watch": summary(watched)}

    async def read_deadlines(self) -> None:
        listing = await self.api.call("GET", f"{GP}/accessrequests?labelSelector=bench%3D{self.label}")
        for item in listing["items"]:
            i = int(item["metadata"]["name"].rsplit("-", 1)[1])
            if item["status"].get("expiresAt"):
                self.expires_at[i] = parse_time(item["status"]["expiresAt"])
        self.live_at_restart = sum(1 for t in self.expires_at.values() if t > now())

    async def restart(self) -> dict:
        """Stops the operator with N live grants and starts it again; how long until it has re-armed them all."""
        self.operator_cpu_before = cpu_seconds(self.operator.pid)
        self.operator_rss = peak_rss_mib(self.operator.pid)
        self.operator.stop()
        log_before = len(self.operator.log())
        started = time.monotonic()
        self.operator.start(install_webhooks=False)
        ready = time.monotonic() - started
        pattern = re.compile(r"Caught up after start-up: worked (\d+) items, (\d+) deadlines armed, in ([\d.]+)s")
        while True:
            match = pattern.search(self.operator.log()[log_before:])
            if match:
                break
            await asyncio.sleep(0.2)
        return {"process_ready_s": ready, "caught_up_s": float(match.group(3)),
                "deadlines_armed": int(match.group(2)), "worked": int(match.group(1))}

    async def expiries(self) -> dict:
        sample_every = self.sample_every()

        async def watch_one(i: int) -> float:
            wait = self.expires_at[i] - 0.3 - now()
            if wait > 0:
                await asyncio.sleep(wait)
            return await poll_until(self.api, self.user(i), False) - self.expires_at[i]

        sampled = [i for i in range(self.size) if i % sample_every == 0 and self.expires_at.get(i, 0) > now() + 1]
        results = await asyncio.gather(*(watch_one(i) for i in sampled), return_exceptions=True)
        self.errors += [f"expiry: {r}" for r in results if isinstance(r, Exception)]
        await self.wait_states({"Expired"}, self.size, "Expired")
        watched = [self.watch.deleted[self.name(i)] - self.expires_at[i]
                   for i in range(self.size) if self.name(i) in self.watch.deleted and i in self.expires_at]
        return {"sar": summary([r for r in results if isinstance(r, float)]), "binding_watch": summary(watched)}

    async def run(self) -> dict:
        await self.setup()
        try:
            say(f"N={self.size}: measuring the limit (direct RoleBindings, no operator)")
            limit = await self.direct_limit()
            say(f"N={self.size}: creating {self.size} requests")
            t0 = time.monotonic()
            create_s = await self.create_all()
            say(f"N={self.size}: approving at {self.rate:.0f}/s")
            approval = await self.approve_all()
            await self.read_deadlines()
            say(f"N={self.size}: restarting the operator with {self.size} live grants")
            restart = await self.restart()
            say(f"N={self.size}: waiting for the grants to expire")
            expiry = await self.expiries()
            total = time.monotonic() - t0
            cpu = self.operator_cpu_before + cpu_seconds(self.operator.pid)
            rss = max(self.operator_rss, peak_rss_mib(self.operator.pid))
        finally:
            await self.teardown()
        return {
            "n": self.size,
            "approval_rate_per_s": self.rate,
            "limit": limit,
            "approval_to_access": approval,
            "expiry_overshoot": expiry,
            "create_seconds": create_s,
            "create_throughput_per_s": self.size / create_s,
            "lifecycle_seconds": total,
            "errors": len(self.errors),
            "error_examples": self.errors[:5],
            "operator_cpu_seconds": cpu,
            "operator_peak_rss_mib": rss,
            "restart": restart,
            "live_grants_at_restart": self.live_at_restart,
        }


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine() -> dict:
    found = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as handle:
            found["cpu"] = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
        with open("/proc/meminfo") as handle:
            found["memory_gib"] = round(int(handle.readline().split()[1]) / 2**20)
    except (OSError, StopIteration):
        pass
    return found


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def table(results: list[dict]) -> str:
    rows = [
        ("N", lambda r: str(r["n"])),
        ("approvals per second (load)", lambda r: f"{r['approval_rate_per_s']:.0f}"),
        ("approval->access p50/p95/p99 ms (SAR)", lambda r: "/".join(ms(r["approval_to_access"]["sar"][k]) for k in ("p50", "p95", "p99"))),
        ("  direct-client limit p50/p95/p99 ms", lambda r: "/".join(ms(r["limit"]["grant"][k]) for k in ("p50", "p95", "p99"))),
        ("  ratio p99 to limit p99", lambda r: f"{r['approval_to_access']['sar']['p99'] / max(r['limit']['grant']['p99'], 1e-6):.1f}x"),
        ("  binding seen p50/p99 ms (all N)", lambda r: "/".join(ms(r["approval_to_access"]["binding_watch"][k]) for k in ("p50", "p99"))),
        ("expiry overshoot p50/p95/p99/max ms (SAR)", lambda r: "/".join(ms(r["expiry_overshoot"]["sar"][k]) for k in ("p50", "p95", "p99", "max"))),
        ("  direct-client limit p50/p95/p99 ms", lambda r: "/".join(ms(r["limit"]["revoke"][k]) for k in ("p50", "p95", "p99"))),
        ("  binding gone p50/p99/max ms (all N)", lambda r: "/".join(ms(r["expiry_overshoot"]["binding_watch"][k]) for k in ("p50", "p99", "max"))),
        ("create throughput req/s", lambda r: f"{r['create_throughput_per_s']:.0f}"),
        ("full lifecycle, s (errors)", lambda r: f"{r['lifecycle_seconds']:.0f} ({r['errors']})"),
        ("operator CPU s / peak RSS MiB", lambda r: f"{r['operator_cpu_seconds']:.1f} / {r['operator_peak_rss_mib']:.0f}"),
        ("restart: live grants / caught up, s", lambda r: f"{r['live_grants_at_restart']} / {r['restart']['caught_up_s']:.2f}"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = []
    for label, cell in rows:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{cell(r):>18}" for r in results))
    return "\n".join(lines)


async def main_async(sizes: list[int], rates: dict[int, float], out: Path, keep: Path | None = None,
                     targets=None) -> int:
    bins = ensure_binaries()
    results, figures = [], {}
    started = time.monotonic()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gatepass-bench-") as temporary:
        folder = keep or temporary
        for size in sizes:
            bench = Bench(size, rates.get(size, 20.0), Path(folder) / str(size), bins)
            results.append(await bench.run())
            say(f"N={size} done")
        if targets is not None:
            from .targets import Targets

            partial = out.with_name(out.stem + ".partial.json")
            figures = await Targets(targets, Path(folder) / "targets", bins, keep, partial).run_all()
            partial.unlink(missing_ok=True)
    report = {"when": utc_now(), "machine": machine(), "seconds": time.monotonic() - started,
              "load_average": {"before": load_before, "after": os.getloadavg()},  # the machine is shared
              "results": results, **figures}
    if not sizes and out.exists():  # only the targets ran: the latency sizes' figures stay, dated
        previous = json.loads(out.read_text())
        report["results"] = previous.get("results", [])
        report["results_when"] = previous.get("results_when", previous.get("when"))
    out.write_text(json.dumps(report, indent=2))
    print()
    if results:
        print(table(results))
    if figures:
        from .targets import phase_table, target_table

        print()
        if "lifecycle" in figures:
            print(phase_table(figures["lifecycle"]["profile"], figures["cpu_ms_per_grant"]))
            print()
        print(f"targets, on {describe(report['machine'])}:")
        print(target_table(figures["targets"]))
    print(f"\nwritten to {out} in {report['seconds'] / 60:.1f} min")
    errors = [r["errors"] for r in results] + [figures.get("errors", 0)]
    return 0 if not any(errors) else 1


def describe(machine: dict) -> str:
    return f"{machine['cpus']} cores ({machine.get('cpu', '?')}), {machine.get('memory_gib', '?')} GiB, " \
           f"Python {machine['python']}"


def targets_config(args) -> "object | None":
    if not args.targets:
        return None
    from .targets import Config

    return Config(lifecycle=args.lifecycle, live=args.live, final_rate=args.final_rate,
                  steps=tuple(float(s) for s in args.steps.split(",")), step_seconds=args.step_seconds,
                  flood_rate=args.flood_rate, flood_seconds=args.flood_seconds, retained=args.retained,
                  restart_deadlines=args.restart_deadlines, profile_rate=args.profile_rate,
                  phases=tuple(p for p in args.phases.split(",") if p), tracemalloc=args.tracemalloc,
                  sar_per_s=args.sar_per_s)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--sizes", default="100,1000,10000", help="sizes of the latency runs (empty: none)")
    parser.add_argument("--rates", default="100:20,1000:20,10000:20",
                        help="approvals per second for each size, the load the latencies are measured under "
                             "(size:rate pairs)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--keep", type=Path, help="keep the operator's and control plane's logs, and the "
                        "profile (collapsed stacks), in this folder")
    targets = parser.add_argument_group("the targets of issue 15 (bench/targets.py)")
    targets.add_argument("--targets", action=argparse.BooleanOptionalAction, default=True)
    targets.add_argument("--lifecycle", type=int, default=1000, help="grants whose CPU is measured and profiled")
    targets.add_argument("--final-rate", type=float, default=20.0, help="their final approvals per second")
    targets.add_argument("--live", type=int, default=10000, help="live grants during throughput, flood, restart")
    targets.add_argument("--steps", default="25,50,100,150", help="throughput steps, approvals per second")
    targets.add_argument("--step-seconds", type=float, default=20.0)
    targets.add_argument("--flood-rate", type=float, default=100.0)
    targets.add_argument("--flood-seconds", type=float, default=60.0)
    targets.add_argument("--retained", type=int, default=10000,
                         help="ended (denied) requests kept; RSS at 100,000 is extrapolated along the slope "
                              "when fewer (creating 100,000 through admission takes about 1h45 here)")
    targets.add_argument("--restart-deadlines", type=int, default=200,
                         help="short grants whose deadlines fall around the restart")
    targets.add_argument("--phases", default="lifecycle,live,throughput,flood,retained,restart",
                         help="which of the targets' phases to run, in this order")
    targets.add_argument("--tracemalloc", action="store_true",
                         help="trace the operator's allocations and report the largest sites at the end "
                              "(slows it: use with small sizes and --phases=live,retained)")
    targets.add_argument("--profile-rate", type=int, default=40, help="py-spy samples per second")
    targets.add_argument("--sar-per-s", type=float, default=SAMPLED_PER_SECOND,
                         help="approvals and expiries per second timed with SubjectAccessReviews (the rest on the "
                              "binding watch only)")
    args = parser.parse_args()
    random.seed(1)
    rates = {int(size): float(rate) for size, rate in (pair.split(":") for pair in args.rates.split(","))}
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    return asyncio.run(main_async(sizes, rates, args.out, args.keep, targets_config(args)))


if __name__ == "__main__":
    sys.exit(main())
