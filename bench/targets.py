"""The targets of issue 15, measured in one control plane with one operator, phase after phase.

1. Lifecycle (``--lifecycle`` grants, default 1,000): each request is created, approved by a
   first reviewer, then finally by a second (the policy's threshold "two" needs two approvals)
   at 20 a second, all are live at once, then they expire. The operator's CPU seconds over
   the phase divided by the grants is ``cpu_ms_per_grant`` (admission included: the webhooks
   run in the operator); py-spy samples the operator meanwhile and bench.phases attributes
   the samples to phases. The API server's request counters give the API calls per grant.
   Peak RSS when all are live is ``rss_mib.live_1000``.
2. Live set: ``--live`` grants (default 10,000) that outlast the rest of the run.
3. Throughput: final approvals at each rate of ``--steps`` for ``--step-seconds``, stopping
   at the first rate whose approval->access p99 exceeds 250 ms; the API server's, etcd's and
   the operator's CPU over each step.
4. Flood: final approvals at ``--flood-rate`` for ``--flood-seconds``; every fifth flooded
   grant is short, so that its deadline falls inside the flood.
5. Retained: ``--retained`` requests created and denied (ended), RSS at checkpoints.
6. Restart: short grants whose deadlines fall in the restart window, then the operator is
   stopped and started; re-arm from process start to "Armed N deadlines from the listing".
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import apicalls, phases, startup
from .run import GROUP, PEOPLE, REVIEWER, Bench, now, parse_time, say
from .api import GP
from .stats import cpu_seconds, peak_rss_mib, summary

SECOND_REVIEWER = "bench-reviewer-2"
LONG = "8h"
ACCESS_P99 = 0.25  # the throughput target's approval->access bound, seconds
RESTART_SPREAD = 40.0  # s over which the restart-window deadlines are spread
SAMPLED_PER_SECOND = 20  # approvals (or expiries) per second followed with SubjectAccessReviews

POLICY = {
    "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": "bench"},
    "spec": {
        "requesters": {"groups": [GROUP]},
        "roles": [{"name": "dba", "clusterRole": "dba", "namespaces": ["payments"]}],
        "reviewers": {"users": [REVIEWER, SECOND_REVIEWER]},
        "thresholds": [{"name": "two", "approvals": 2}],
        "maxDuration": "8h", "requestTTL": "8h", "requireReason": False,
    },
}
SECOND_REVIEWER_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "bench-reviewer-2"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gatepass-reviewer"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": SECOND_REVIEWER}],
}

#: target key -> (what, the bound, "max" when the figure must stay at or under it, "min" at or over)
TARGETS = {
    "cpu_ms_per_grant": ("CPU per grant lifecycle, ms", 12.0, "max"),
    "rss_mib.live_1000": ("peak RSS at 1,000 live grants, MiB", 128.0, "max"),
    "rss_mib.live_10000_retained_100000": ("RSS at 10,000 live + 100,000 retained, MiB", 256.0, "max"),
    "flood.expiry_overshoot.p99": ("expiry overshoot p99 under the flood, s", 0.5, "max"),
    "throughput.approvals_per_s": ("approvals/s sustained with access p99 <= 250 ms", 100.0, "min"),
    "restart.rearm_s": ("re-arm of every deadline from process start, s", 5.0, "max"),
    "restart.late_over_1s": ("deadlines in the restart window ended > 1 s late", 0, "max"),
    "precision.expiry_overshoot.p99": ("expiry overshoot p99, not flooded, s", 0.25, "max"),
}


@dataclass
class Config:
    lifecycle: int = 1000
    live: int = 10000
    final_rate: float = 20.0  # final approvals per second in the lifecycle phase
    steps: tuple[float, ...] = (25.0, 50.0, 100.0, 150.0)
    step_seconds: float = 20.0
    flood_rate: float = 100.0
    flood_seconds: float = 60.0
    retained: int = 10000  # the RSS at 100,000 is extrapolated along the measured slope
    restart_deadlines: int = 200
    profile_rate: int = 40  # py-spy samples per second (at 100 it falls behind on 2 cores)
    workers: int = 16
    phases: tuple[str, ...] = ("lifecycle", "live", "throughput", "flood", "retained", "restart")
    tracemalloc: bool = False  # trace the operator's allocations (slow: for a short run, not for figures)
    # Approvals (or expiries) per second followed with SubjectAccessReviews. Each review is authorized against
    # every RoleBinding in the namespace, so with 10,000 live grants the polls of many samples load the API server.
    sar_per_s: float = SAMPLED_PER_SECOND


async def poll(api, user: str, allowed: bool, since: float, timeout: float = 900.0) -> float:
    """When a SubjectAccessReview for ``user`` first answered ``allowed``: every 5 ms at first, then every
    2% of the time waited so far (at most every 100 ms), so that a late operator is timed to within 2%
    without the polls of hundreds of waiting samples becoming the API server's load."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await api.allowed(user, "payments") == allowed:
            return now()
        await asyncio.sleep(min(0.1, max(0.005, (now() - since) * 0.02)))
    raise TimeoutError(f"{user}: access never became {'allowed' if allowed else 'denied'}")


def lookup(figures: dict, key: str):
    value = figures
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def verdicts(figures: dict) -> dict:
    """Each target's figure, bound and verdict ("met", "missed", or "not measured")."""
    rows = {}
    for key, (what, bound, kind) in TARGETS.items():
        value = lookup(figures, key)
        if value is None:
            verdict = "not measured"
        elif kind == "max":
            verdict = "met" if value <= bound else "missed"
        else:
            verdict = "met" if value >= bound else "missed"
        rows[key] = {"what": what, "value": value, "target": bound, "kind": kind, "verdict": verdict}
    return rows


def target_table(rows: dict) -> str:
    lines = [f"{'target':<52} {'figure':>10} {'bound':>9}  verdict"]
    for row in rows.values():
        value = row["value"]
        shown = "-" if value is None else (f"{value:.3g}" if isinstance(value, float) else str(value))
        sign = "<=" if row["kind"] == "max" else ">="
        lines.append(f"{row['what']:<52} {shown:>10} {sign}{row['target']:>7g}  {row['verdict']}")
    return "\n".join(lines)


def phase_table(profile: dict, cpu_ms: float) -> str:
    lines = [f"CPU per grant {cpu_ms:.1f} ms, by phase ({profile['samples']} samples):"]
    for phase, row in profile["phases"].items():
        if row["samples"]:
            lines.append(f"  {phase:<28} {row['ms_per_grant']:7.2f} ms  {row['share'] * 100:5.1f}%")
    return "\n".join(lines)


def rss_now_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def slope_kib(points: list[tuple[int, float]]) -> float | None:
    """Least-squares KiB per unit from (count, MiB) points."""
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if not var:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var * 1024


class Targets(Bench):
    def __init__(self, config: Config, workdir: Path, bins: Path, keep: Path | None, partial: Path | None = None):
        super().__init__(config.live, config.final_rate, workdir, bins, prefix="t")
        self.config, self.keep, self.partial = config, keep, partial
        self.figures: dict = {"config": {k: (list(v) if isinstance(v, tuple) else v)
                                         for k, v in config.__dict__.items()}}
        self.granted: dict[str, float] = {}

    def operator_args(self) -> tuple[str, ...]:
        return (f"--workers={self.config.workers}",)

    def manifests(self) -> list[dict]:
        return [*PEOPLE, SECOND_REVIEWER_BINDING, POLICY]

    async def setup(self) -> None:
        if not self.config.tracemalloc:
            return await super().setup()
        self.tracemalloc_file = self.workdir / "tracemalloc.json"
        saved = dict(os.environ)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).with_name("tracemalloc_site")), *filter(None, [saved.get("PYTHONPATH")])])
        os.environ["GATEPASS_BENCH_TRACEMALLOC"] = str(self.tracemalloc_file)
        try:
            await super().setup()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    async def allocations(self) -> None:
        """The operator's largest allocation sites now (a tracemalloc snapshot it writes on SIGUSR2)."""
        os.kill(self.operator.pid, signal.SIGUSR2)
        for _ in range(600):
            await asyncio.sleep(0.5)
            if self.tracemalloc_file.exists():
                try:
                    self.figures["tracemalloc"] = json.loads(self.tracemalloc_file.read_text())
                    return
                except json.JSONDecodeError:
                    continue
        self.errors.append("no tracemalloc snapshot")

    # ------------------------------------------------------------ readings
    def component_pid(self, name: str) -> int | None:
        return next((p.pid for p in self.plane.processes if p.name == name), None)

    def cpu_of(self) -> dict[str, float]:
        readings = {"operator": cpu_seconds(self.operator.pid)}
        for name in ("kube-apiserver", "etcd"):
            pid = self.component_pid(name)
            if pid:
                readings[name] = cpu_seconds(pid)
        return readings

    async def apiserver_metrics(self) -> str:
        return (await asyncio.to_thread(self.plane.get, "/metrics"))[1].decode(errors="replace")

    async def operator_metrics(self) -> str:
        return (await asyncio.to_thread(self.operator.get, "/metrics"))[1]

    async def states(self) -> Counter:
        counts: Counter = Counter()
        for labels, value in apicalls.samples(await self.operator_metrics(), "gatepass_requests"):
            counts[labels.get("state", "")] += value
        return counts

    async def wait_state(self, state: str, count: int, what: str, timeout: float = 1800) -> bool:
        """Until the operator's store counts ``count`` requests in ``state`` (its own gauge, cheap to read)."""
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            counts = await self.states()
            if counts.get(state, 0) >= count:
                return True
            if time.monotonic() - last > 15:
                say(f"  waiting for {what}: {int(counts.get(state, 0))}/{count} {state}")
                last = time.monotonic()
            await asyncio.sleep(1.0)
        self.errors.append(f"timed out waiting for {what}")
        return False

    async def wait_watch(self, names: list[str], seen: dict, what: str, timeout: float = 600) -> bool:
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            missing = sum(1 for n in names if n not in seen)
            if not missing:
                return True
            if time.monotonic() - last > 15:
                say(f"  waiting for {what}: {len(names) - missing}/{len(names)}")
                last = time.monotonic()
            await asyncio.sleep(0.5)
        self.errors.append(f"timed out waiting for {what}: {sum(1 for n in names if n not in seen)} missing")
        return False

    # -------------------------------------------------------------- actions
    async def create(self, names: list[str], durations: list[str], label: str, deny: bool = False,
                     concurrency: int = 32) -> float:
        """Creates the requests (as their users), each then approved by the first reviewer (or denied)."""
        async def one(name: str, duration: str) -> None:
            body = {"apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
                    "metadata": {"name": name, "labels": {"bench": label}},
                    "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": duration,
                             "reason": "benchmark"}}
            await self.api.call("POST", f"{GP}/accessrequests", body, user=f"{name}-u", groups=(GROUP,))
            await self.review(name, REVIEWER, "deny" if deny else "approve")

        started = time.monotonic()
        semaphore = asyncio.Semaphore(concurrency)

        async def bounded_one(name: str, duration: str) -> None:
            async with semaphore:
                await one(name, duration)

        results = await asyncio.gather(*(bounded_one(n, d) for n, d in zip(names, durations)),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, Exception)]
        self.errors += [f"create {label}: {r}" for r in failures[:5]]
        if failures:
            say(f"  {len(failures)} of {len(names)} creates failed, e.g. {failures[0]}")
        return time.monotonic() - started

    async def review(self, name: str, reviewer: str, verdict: str = "approve") -> float:
        patch = {"metadata": {"annotations": {f"gatepass.dev/{verdict}": "benchmark"}}}
        await self.api.call("PATCH", f"{GP}/accessrequests/{name}", patch, user=reviewer,
                            content_type="application/merge-patch+json")
        return now()

    async def expires_at(self, name: str, timeout: float = 900.0) -> float:
        """The request's status.expiresAt, once the operator has written it: it creates the binding before it
        writes the status, so access may be allowed a moment before the time is there to read."""
        deadline = time.monotonic() + timeout
        while True:
            body = await self.api.call("GET", f"{GP}/accessrequests/{name}")
            expires = (body.get("status") or {}).get("expiresAt")
            if expires:
                return parse_time(expires)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: no status.expiresAt")
            await asyncio.sleep(0.05)

    async def approve_at(self, names: list[str], rate: float | None, sample_every: int = 0,
                         follow_expiry: set[str] = frozenset()) -> dict:
        """Final approvals at ``rate`` per second (as fast as 32 in flight allow, without a rate):
        approval->access on the watch for all, by SubjectAccessReview on every ``sample_every``-th,
        and, for the names in ``follow_expiry`` among those, expiry overshoot by SubjectAccessReview too."""
        approved: dict[str, float] = {}
        access: list[float] = []
        expiry: list[float] = []
        semaphore = asyncio.Semaphore(32)

        async def one(i: int, name: str) -> None:
            if rate is None:
                async with semaphore:
                    approved[name] = await self.review(name, SECOND_REVIEWER)
            else:
                approved[name] = await self.review(name, SECOND_REVIEWER)
            if sample_every and i % sample_every == 0:
                user = f"{name}-u"
                access.append(await poll(self.api, user, True, approved[name]) - approved[name])
                if name in follow_expiry:
                    expires = await self.expires_at(name)
                    await asyncio.sleep(max(0.0, expires - 0.3 - now()))
                    expiry.append(await poll(self.api, user, False, expires) - expires)

        started = time.monotonic()
        tasks = []
        for i, name in enumerate(names):
            if rate is not None:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, name)))
        sent = time.monotonic() - started
        results = await asyncio.gather(*tasks, return_exceptions=True)
        self.errors += [f"approve: {r}" for r in results if isinstance(r, Exception)][:5]
        return {"approved": approved, "sar": access, "expiry_sar": expiry, "sent_seconds": sent}

    def watched_access(self, approved: dict[str, float]) -> list[float]:
        return [self.watch.added[n] - t for n, t in approved.items() if n in self.watch.added]

    async def expires_of(self, label: str) -> dict[str, float]:
        listing = await self.api.call("GET", f"{GP}/accessrequests?labelSelector=bench%3D{label}")
        return {item["metadata"]["name"]: parse_time(item["status"]["expiresAt"])
                for item in listing["items"] if (item.get("status") or {}).get("expiresAt")}

    def overshoots(self, expires: dict[str, float]) -> list[float]:
        return [self.watch.deleted[n] - t for n, t in expires.items() if n in self.watch.deleted]

    # ---------------------------------------------------------------- phases
    def start_profile(self, path: Path) -> subprocess.Popen:
        command = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(self.operator.pid),
                   "--format", "raw", "--full-filenames", "--nonblocking", "--rate", str(self.config.profile_rate), "-o", str(path)]
        self.spy_log = path.with_suffix(".log")
        with self.spy_log.open("wb") as log:
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def stop_profile(self, spy: subprocess.Popen) -> str:
        """Ends the sampling (py-spy writes its file on SIGINT); its last line says how many samples."""
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()
        lines = [line for line in self.spy_log.read_text(errors="replace").splitlines() if "Samples" in line]
        return lines[-1] if lines else ""

    async def lifecycle(self) -> None:
        n, rate = self.config.lifecycle, self.config.final_rate
        names = [f"life-{i}" for i in range(n)]
        # Request i is granted ~i/rate s after the final approvals start and lasts until
        # base + window*i/n after it: all are live at once, then end at 40 a second.
        base, window = n / rate + 10.0, max(10.0, n / 40.0)
        idle0, t_idle = cpu_seconds(self.operator.pid), time.monotonic()
        await asyncio.sleep(10.0)
        idle_cpu_per_s = (cpu_seconds(self.operator.pid) - idle0) / (time.monotonic() - t_idle)

        folder = self.keep or self.workdir
        profile_path = folder / "profile-lifecycle.txt"
        metrics0, calls0 = await self.apiserver_metrics(), Counter(self.api.calls)
        cpu0 = self.cpu_of()
        started = time.monotonic()
        spy = self.start_profile(profile_path)
        create_s = await self.create(names, [f"{base + window * i / n - i / rate:.3f}s" for i in range(n)],
                                     "life")
        approval = await self.approve_at(names, rate, sample_every=max(3, n // 300, round(rate / self.config.sar_per_s)))
        await self.wait_watch(names, self.watch.added, "lifecycle grants")
        rss_live = rss_now_mib(self.operator.pid)
        hwm_live = peak_rss_mib(self.operator.pid)
        expires = await self.expires_of("life")
        sampled = sorted(expires, key=expires.get)[::max(1, n // 300)]
        expiry_sar = await asyncio.gather(*(self._expiry_sar(name, expires[name]) for name in sampled),
                                          return_exceptions=True)
        await self.wait_watch(names, self.watch.deleted, "lifecycle expiries")
        await self.wait_state("Expired", n, "lifecycle Expired", timeout=120)
        cpu1 = self.cpu_of()
        seconds = time.monotonic() - started
        spy_note = self.stop_profile(spy)
        metrics1 = await self.apiserver_metrics()
        ours = apicalls.difference(self.api.calls, calls0)
        requests = apicalls.difference(apicalls.request_counts(metrics1), apicalls.request_counts(metrics0), ours)
        hooks = apicalls.difference(apicalls.webhook_counts(metrics1), apicalls.webhook_counts(metrics0))
        cpu = cpu1["operator"] - cpu0["operator"]
        profile = phases.report(phases.read(profile_path), cpu, n)
        overshoot = [r for r in expiry_sar if isinstance(r, float)]
        self.figures["cpu_ms_per_grant"] = cpu * 1000 / n
        self.figures["cpu_ms_per_grant_phases"] = {p: row["ms_per_grant"] for p, row in profile["phases"].items()}
        self.figures["rss_mib"] = {"live_1000" if n == 1000 else f"live_{n}": hwm_live}
        self.figures["precision"] = {"expiry_overshoot": summary(overshoot)}
        self.figures["lifecycle"] = {
            "grants": n, "approvals_per_grant": 2, "final_approvals_per_s": rate, "seconds": seconds,
            "create_and_first_review_s": create_s,
            "operator_cpu_s": cpu, "idle_cpu_per_s": idle_cpu_per_s,
            "idle_cpu_ms_per_grant": idle_cpu_per_s * seconds * 1000 / n,
            "apiserver_cpu_s": cpu1.get("kube-apiserver", 0) - cpu0.get("kube-apiserver", 0),
            "etcd_cpu_s": cpu1.get("etcd", 0) - cpu0.get("etcd", 0),
            "rss_mib_all_live": rss_live, "peak_rss_mib_all_live": hwm_live,
            "approval_to_access": {"sar": summary(approval["sar"]),
                                   "binding_watch": summary(self.watched_access(approval["approved"]))},
            "expiry_overshoot": {"sar": summary(overshoot), "binding_watch": summary(self.overshoots(expires))},
            "api_calls_per_grant": apicalls.per_grant(requests, n),
            "webhook_calls_per_grant": [{"webhook": w, "operation": o, "per_grant": c / n}
                                        for (w, o), c in sorted(hooks.items(), key=lambda kv: -kv[1])],
            "profile": profile, "profile_file": str(profile_path) if self.keep else None,
            "profiler": spy_note.strip(),
        }
        say(phase_table(profile, self.figures["cpu_ms_per_grant"]))

    async def _expiry_sar(self, name: str, expires: float) -> float:
        await asyncio.sleep(max(0.0, expires - 0.3 - now()))
        return await poll(self.api, f"{name}-u", False, expires) - expires

    async def build_live(self) -> None:
        n = self.config.live
        names = [f"live-{i}" for i in range(n)]
        rss0 = rss_now_mib(self.operator.pid)
        started = time.monotonic()
        create_s = await self.create(names, [LONG] * n, "live")
        approval = await self.approve_at(names, None)
        await self.wait_watch(names, self.watch.added, "live grants", timeout=3600)
        seconds = time.monotonic() - started
        await asyncio.sleep(2.0)
        rss1 = rss_now_mib(self.operator.pid)
        self.figures["live"] = {
            "grants": n, "create_and_first_review_s": create_s, "seconds": seconds,
            "final_approvals_per_s_unpaced": n / max(seconds - create_s, 1e-6),
            "rss_mib_before": rss0, "rss_mib_after": rss1,
            "rss_kib_per_live_grant": (rss1 - rss0) * 1024 / n,
            "binding_watch_access": summary(self.watched_access(approval["approved"])),
        }

    async def throughput(self) -> None:
        steps, reached = [], 0.0
        for rate in self.config.steps:
            count = int(rate * self.config.step_seconds)
            label = f"step{rate:g}"
            names = [f"{label}-{i}" for i in range(count)]
            await self.create(names, [LONG] * count, label)
            await asyncio.sleep(2.0)
            cpu0, t0 = self.cpu_of(), time.monotonic()
            approval = await self.approve_at(names, rate, sample_every=max(1, round(rate / self.config.sar_per_s)))
            drained = await self.wait_watch(names, self.watch.added, f"grants at {rate:g}/s",
                                            timeout=max(120.0, 5 * self.config.step_seconds))
            cpu1, seconds = self.cpu_of(), time.monotonic() - t0
            sar = summary(approval["sar"])
            used = {k: cpu1[k] - cpu0.get(k, 0) for k in cpu1}
            total = sum(used.values()) or 1e-9
            ok = drained and sar["p99"] is not None and sar["p99"] <= ACCESS_P99 \
                and approval["sent_seconds"] <= self.config.step_seconds * 1.1
            steps.append({
                "rate": rate, "approvals": count, "sent_seconds": approval["sent_seconds"], "seconds": seconds,
                "approval_to_access": {"sar": sar, "binding_watch": summary(self.watched_access(approval["approved"]))},
                "cpu_s": used, "cpu_share": {k: v / total for k, v in used.items()},
                "cores_busy": {k: v / seconds for k, v in used.items()}, "met": ok,
            })
            say(f"  {rate:g}/s: access p99 {sar['p99']}, cpu {({k: round(v, 1) for k, v in used.items()})}, "
                f"{'met' if ok else 'missed'}")
            if not ok:
                break
            reached = rate
        self.figures["throughput"] = {"approvals_per_s": reached, "steps": steps,
                                      "live_grants": self.config.live}

    async def flood(self) -> None:
        rate, seconds = self.config.flood_rate, self.config.flood_seconds
        count = int(rate * seconds)
        names = [f"flood-{i}" for i in range(count)]
        durations, short = [], set()
        for i in range(count):
            at = i / rate  # when its final approval is sent, from the flood's start
            wanted = 10.0 + (i * 7 % 20)
            if i % 5 == 0 and at + wanted < seconds - 2:
                durations.append(f"{wanted:.3f}s")
                short.add(names[i])
            else:
                durations.append(LONG)
        await self.create(names, durations, "flood")
        await asyncio.sleep(2.0)
        every = max(1, round(rate / self.config.sar_per_s))
        cpu0 = self.cpu_of()
        start = now()
        approval = await self.approve_at(names, rate, sample_every=every, follow_expiry=short)
        end_sent = now()
        await self.wait_watch(names, self.watch.added, "flood grants", timeout=1800)
        await self.wait_watch(sorted(short), self.watch.deleted, "flood expiries", timeout=600)
        cpu1 = self.cpu_of()
        expires = {n: t for n, t in (await self.expires_of("flood")).items() if n in short}
        flood_end = max(end_sent, start + seconds)
        inside = {n: t for n, t in expires.items() if start <= t <= flood_end}
        self.figures["flood"] = {
            "rate": rate, "seconds": seconds, "approvals": count, "sent_seconds": approval["sent_seconds"],
            "deadlines": len(expires), "deadlines_inside_flood": len(inside),
            "expiry_overshoot": summary(self.overshoots(inside)),
            "expiry_overshoot_sar": summary(approval["expiry_sar"]),
            "approval_to_access": {"sar": summary(approval["sar"]),
                                   "binding_watch": summary(self.watched_access(approval["approved"]))},
            "cpu_s": {k: cpu1[k] - cpu0.get(k, 0) for k in cpu1},
        }

    async def retain(self) -> None:
        total = self.config.retained
        points = [(0, rss_now_mib(self.operator.pid))]
        done, chunks = 0, sorted({max(1, total // 4), max(1, total // 2), total})
        started = time.monotonic()
        denied0 = (await self.states()).get("Denied", 0)
        for upto in chunks:
            names = [f"ret-{i}" for i in range(done, upto)]
            await self.create(names, [LONG] * len(names), f"ret{upto}", deny=True)
            await self.wait_state("Denied", denied0 + upto, f"{upto} denied", timeout=max(60.0, len(names) / 20))
            done = upto
            points.append((done, rss_now_mib(self.operator.pid)))
            say(f"  {done} retained: RSS {points[-1][1]:.0f} MiB")
        per = slope_kib(points)
        live = self.config.live
        measured = points[-1][1]
        extrapolated = measured + (100000 - total) * (per or 0) / 1024 if total < 100000 else measured
        self.figures.setdefault("rss_mib", {})
        self.figures["rss_mib"][f"live_{live}_retained_{total}"] = measured
        self.figures["rss_mib"]["peak"] = peak_rss_mib(self.operator.pid)
        if live == 10000:
            self.figures["rss_mib"]["live_10000_retained_100000"] = extrapolated
        counts = await self.states()
        denied = int(counts.get("Denied", 0) - denied0)
        self.figures["retained"] = {
            "denials_never_seen": total - denied,  # denied by review, still Pending in the operator's store
            "requests": total, "live_grants": int(counts.get("Approved", 0)),
            "ended_in_store": int(sum(v for k, v in counts.items() if k not in ("Approved", "Pending"))), "seconds": time.monotonic() - started, "points_mib": points,
            "rss_kib_per_retained": per, "extrapolated_to_100000": total < 100000,
            "rss_mib_at_100000": extrapolated,
        }

    async def restart_phase(self) -> None:
        """Short grants whose deadlines fall 20..20+RESTART_SPREAD s after their grant, then a restart:
        the deadlines falling after the new process started (while it re-arms, and after) are timed."""
        k = self.config.restart_deadlines
        names = [f"restart-{i}" for i in range(k)]
        await self.create(names, [f"{20 + RESTART_SPREAD * i / k:.3f}s" for i in range(k)], "restart")
        await self.approve_at(names, None)
        await self.wait_watch(names, self.watch.added, "restart-window grants", timeout=600)
        expires = await self.expires_of("restart")
        live = int((await self.states()).get("Approved", 0))
        cpu_before = cpu_seconds(self.operator.pid)
        await asyncio.to_thread(self.operator.stop)
        log_before = len(self.operator.log())  # once the old process is gone: its last lines are not the new one's
        asked = now()
        await asyncio.to_thread(self.operator.start, 600.0, False)
        started = startup.process_started_at(self.operator.pid) or asked
        ready = now() - started
        rearmed = caught = None
        log = ""
        while now() - started < 900:
            log = startup.own_lines(self.operator.log()[log_before:], self.operator.pid)
            rearmed, caught = startup.armed(log), startup.caught_up(log)
            if rearmed and caught:
                break
            await asyncio.sleep(0.2)
        first = startup.first_line_at(log)
        await self.wait_watch(names, self.watch.deleted, "restart-window expiries", timeout=900)
        rearmed_at = rearmed["at"] if rearmed else None
        after_start = {n: t for n, t in expires.items() if t >= started}
        inside = {n: t for n, t in after_start.items() if rearmed_at is None or t <= rearmed_at}
        late = [x for x in self.overshoots(inside) if x > 1.0]
        self.figures["restart"] = {
            "live_grants": live,
            "rearm_s": (rearmed_at - started) if rearmed_at else None,
            "first_log_line_s": (first - started) if first else None,
            "process_ready_s": ready,
            "armed": rearmed,
            "caught_up_s": (caught["at"] - started) if caught else None,
            "caught_up": caught,
            "deadlines": k, "deadlines_after_start": len(after_start), "deadlines_inside_rearm": len(inside),
            "expiry_overshoot_inside_rearm": summary(self.overshoots(inside)),
            "expiry_overshoot_after_start": summary(self.overshoots(after_start)),
            "late_over_1s": len(late),
            "operator_cpu_s_before_restart": cpu_before,
        }

    async def run_all(self) -> dict:
        config = self.config
        self.figures["import_time"] = await asyncio.to_thread(startup.import_time)
        await self.setup()
        try:
            for name, phase in (("lifecycle", self.lifecycle), ("live", self.build_live),
                                ("throughput", self.throughput), ("flood", self.flood),
                                ("retained", self.retain), ("restart", self.restart_phase)):
                if name not in config.phases:
                    continue
                say(f"targets: {name}")
                t0 = time.monotonic()
                try:
                    await phase()
                except Exception as error:  # the other phases' figures still count
                    self.errors.append(f"{name}: {type(error).__name__}: {error}")
                    say(f"  {name} failed: {type(error).__name__}: {error}")
                self.figures.setdefault("phase_seconds", {})[name] = time.monotonic() - t0
                if self.partial:  # what is measured so far survives an interrupted run
                    self.partial.write_text(json.dumps({**self.figures, "errors": self.errors}, indent=2))
            if config.tracemalloc:
                await self.allocations()
            self.figures["operator_peak_rss_mib"] = peak_rss_mib(self.operator.pid)
        finally:
            await self.teardown()
        self.figures["errors"] = len(self.errors)
        self.figures["error_examples"] = self.errors[:5]
        self.figures["targets"] = verdicts(self.figures)
        return self.figures
