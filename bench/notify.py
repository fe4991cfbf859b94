"""`make bench-notify` (and the end of `make bench`): notifications do not slow the grant path, and lose nothing.

One control plane and one operator started with ``--notifications``, naming
three webhook receivers served by the bench process (see receivers.py): a good
one that checks signatures, one that answers 500 and one that never answers
within its timeout. Two policies grant the same ClusterRole: ``bench-notify``
(role dba-notify) routes every event of its requests to all three receivers,
``bench`` (role dba) routes nowhere. Requests alternate between the two, so
both halves are created, approved and expire under the same load, in the same
run, side by side; approvals arrive at 20 a second, as in the main benchmark,
and every grant runs out before the end.

Measured:
  * approval -> access per half: from the API server accepting the decisive
    review to a SubjectAccessReview for the user answering allowed (polled
    every 5 ms; every request while approvals come at up to 20 a second); the
    RoleBinding appearing on a watch after the approval and disappearing after
    status.expiresAt, for every request;
  * delivery to the good receiver: from the API server accepting the request
    (Created), from its approval (Approved) and from status.expiresAt
    (Expired) to the POST's arrival;
  * completeness: Created, Approved and Expired of every routed request
    arrived at the good receiver exactly once with a valid signature;
    repeated X-Gatepass-Delivery IDs; the order of each request's events;
  * the broken receivers: gatepass_notifications_total and retries in the
    operator's /metrics, what is still queued for them at the end, and the
    operator log's lines about them;
  * the operator's CPU time and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from gatepass.devcluster.binaries import ensure_binaries

from .receivers import Receivers, completeness, heard, latencies, logged_failures, notification_metrics
from .run import POLICY, ROOT, SAMPLED_PER_SECOND, Bench, machine, ms, say, utc_now
from .stats import cpu_seconds, peak_rss_mib, summary

SECRET = "bench-webhook-secret"
GOOD, FAILING, HANGING = "good-webhook", "failing-webhook", "hanging-webhook"
ROUTED_ROLE = "dba-notify"
HANG_TIMEOUT = "250ms"  # the hanging receiver's timeout; the others keep the default 5s
#: Short, so that the broken receivers' notices are given up on (and counted) within the run.
DELIVERY = {"attempts": 3, "initialBackoff": "100ms", "maxBackoff": "1s"}
COUNTED = ("Created", "Approved", "Expired")  # each must reach the good receiver exactly once per request
GROUPS = ("routed", "not_routed")

NOTIFY_POLICY = {
    "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy", "metadata": {"name": "bench-notify"},
    "spec": {
        **POLICY["spec"],
        "roles": [{"name": ROUTED_ROLE, "clusterRole": "dba", "namespaces": ["payments"]}],
        "notify": [{"receiver": GOOD}, {"receiver": FAILING}, {"receiver": HANGING}],
    },
}


def notifications_file(folder: Path, receivers: Receivers) -> Path:
    """The operator's --notifications file for the three receivers, and its secret file next to it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "webhook-secret").write_text(SECRET + "\n")
    config = {
        "delivery": DELIVERY,
        "receivers": [
            {"name": GOOD, "webhook": {"url": receivers.url("/good"), "secretFile": "webhook-secret"}},
            {"name": FAILING, "webhook": {"url": receivers.url("/fail"), "secretFile": "webhook-secret"}},
            {"name": HANGING, "webhook": {"url": receivers.url("/hang"), "secretFile": "webhook-secret",
                                          "timeout": HANG_TIMEOUT}},
        ],
    }
    path = folder / "notifications.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class NotifyBench(Bench):
    def __init__(self, size: int, rate: float, workdir: Path, bins: Path):
        super().__init__(size, rate, workdir, bins, prefix="notify")
        self.receivers = Receivers(SECRET)
        self.config_path: Path | None = None

    def routed(self, i: int) -> bool:
        return i % 2 == 0

    def role(self, i: int) -> str:
        return ROUTED_ROLE if self.routed(i) else "dba"

    def group(self, i: int) -> str:
        return GROUPS[0] if self.routed(i) else GROUPS[1]

    def operator_args(self) -> tuple[str, ...]:
        return (*super().operator_args(), f"--notifications={self.config_path}")

    def manifests(self) -> list[dict]:
        return [*super().manifests(), NOTIFY_POLICY]

    def sampled(self, i: int) -> bool:
        """Both requests of a pair or neither, so that the two halves are sampled alike."""
        return (i // 2) % max(1, round(self.rate / SAMPLED_PER_SECOND)) == 0

    async def setup(self) -> None:
        await self.receivers.start()
        self.config_path = notifications_file(self.workdir / "notifications", self.receivers)
        await super().setup()

    async def teardown(self) -> None:
        try:
            await super().teardown()
        finally:
            await self.receivers.stop()

    async def wait_heard(self, event: str, names: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < deadline:
            missing = names - heard(self.receivers.arrivals, event)
            if not missing:
                return
            if time.monotonic() - last > 10:
                say(f"  waiting for the good receiver to hear {event}: {len(names) - len(missing)}/{len(names)}")
                last = time.monotonic()
            await asyncio.sleep(0.5)
        say(f"  the good receiver did not hear {event} about {len(missing)} requests within {timeout:.0f}s")

    async def run(self) -> dict:
        self.load = {"start": os.getloadavg()}
        await self.setup()
        try:
            say(f"notifications, N={self.size}: creating {self.size} requests, every other one routed")
            t0 = time.monotonic()
            create_s = await self.create_all()
            say(f"notifications, N={self.size}: approving at {self.rate:.0f}/s")
            await self.approve_all()
            await self.read_deadlines()
            say(f"notifications, N={self.size}: waiting for the grants to expire")
            await self.wait_states({"Expired"}, self.size, "Expired")
            lifecycle = time.monotonic() - t0
            routed = {self.name(i) for i in range(self.size) if self.routed(i)}
            await self.wait_heard("Expired", routed, timeout=120)
            status, metrics_text = self.operator.get("/metrics")
            if status != 200:
                self.errors.append(f"/metrics answered {status}")
            cpu, rss = cpu_seconds(self.operator.pid), peak_rss_mib(self.operator.pid)
            log = self.operator.log()
            self.load["end"] = os.getloadavg()
        finally:
            await self.teardown()
        return self.report(routed, create_s, lifecycle, metrics_text, log, cpu, rss)

    def report(self, routed: set[str], create_s: float, lifecycle: float, metrics_text: str, log: str,
               cpu: float, rss: float) -> dict:
        def per_group(values: dict[int, float]) -> dict:
            return {g: summary([v for i, v in values.items() if self.group(i) == g]) for g in GROUPS}

        seen = {i: self.watch.added[self.name(i)] - t for i, t in self.approved_at.items()
                if self.name(i) in self.watch.added}
        gone = {i: self.watch.deleted[self.name(i)] - t for i, t in self.expires_at.items()
                if self.name(i) in self.watch.deleted}
        # key: (event, request -> the moment its delivery latency is measured from)
        since = {
            "Created": ("Created", {self.name(i): t for i, t in self.created_at.items()}),
            "Approved": ("Approved", {self.name(i): t for i, t in self.approved_at.items()}),
            "Expired": ("Expired", {self.name(i): t for i, t in self.expires_at.items()}),
            "Expired_after_binding_deleted": ("Expired", {name: t for name, t in self.watch.deleted.items()}),
        }
        arrivals = self.receivers.arrivals
        good = completeness(arrivals, routed, (*COUNTED, "Reviewed", "Expiring"))
        metrics = notification_metrics(metrics_text)
        return {
            "when": utc_now(),
            "machine": {**machine(), "load_average": self.load},
            "n": self.size,
            "routed": len(routed),
            "not_routed": self.size - len(routed),
            "approval_rate_per_s": self.rate,
            "receivers": {GOOD: "answers 200 to a valid signature", FAILING: "answers HTTP 500",
                          HANGING: f"never answers within its {HANG_TIMEOUT} timeout"},
            "delivery": DELIVERY,
            "approval_to_access": {"sar": per_group(self.access), "binding_watch": per_group(seen)},
            "expiry_binding_gone": per_group(gone),
            "delivery_latency": {key: summary(latencies(arrivals, event, moments))
                                 for key, (event, moments) in since.items()},
            "good_receiver": good,
            "metrics": {r: metrics.get(r, {}) for r in (GOOD, FAILING, HANGING)},
            "logged": {r: logged_failures(log).get(r, {"failed": 0, "retried": 0}) for r in (GOOD, FAILING, HANGING)},
            "posts": dict(self.receivers.posts),
            "create_seconds": create_s,
            "lifecycle_seconds": lifecycle,
            "errors": len(self.errors),
            "error_examples": self.errors[:5],
            "operator_cpu_seconds": cpu,
            "operator_peak_rss_mib": rss,
        }


def complete(result: dict) -> bool:
    """Every routed request's counted events arrived exactly once, validly signed, in order, nothing lost."""
    good = result["good_receiver"]
    return (result["errors"] == 0
            and all(good["events"][e]["once"] == result["routed"] for e in COUNTED)
            and not (good["bad_signatures"] or good["repeated_deliveries"] or good["unexpected"]
                     or good["out_of_order"])
            and not any(result["metrics"][r].get("dropped") for r in result["metrics"]))


def table(r: dict) -> str:
    def p(s: dict, keys=("p50", "p95", "p99")) -> str:
        return "/".join(ms(s[k]) for k in keys)

    def counts(receiver: str) -> str:
        m = r["metrics"][receiver]
        return " / ".join(f"{m.get(k, 0):.0f}" for k in ("sent", "failed", "retries", "queued"))

    def accounted(receiver: str) -> str:
        """sent + failed + queued, of the notices the good receiver was sent (the same routes' notices)."""
        total = sum(r["metrics"][receiver].get(k, 0) for k in ("sent", "failed", "dropped", "queued"))
        return f"{total:.0f} of {r['metrics'][GOOD].get('sent', 0):.0f}"

    good = r["good_receiver"]
    a, g = r["approval_to_access"], r["expiry_binding_gone"]
    rows = [
        (f"N={r['n']}, approvals {r['approval_rate_per_s']:.0f}/s", "routed to 3 hooks", "not routed"),
        ("requests", f"{r['routed']}", f"{r['not_routed']}"),
        ("approval->access p50/p95/p99 ms (SAR)", p(a["sar"]["routed"]), p(a["sar"]["not_routed"])),
        ("  binding seen p50/p99 ms (all)", p(a["binding_watch"]["routed"], ("p50", "p99")),
         p(a["binding_watch"]["not_routed"], ("p50", "p99"))),
        ("  binding gone after expiresAt p50/p99 ms (all)", p(g["routed"], ("p50", "p99")),
         p(g["not_routed"], ("p50", "p99"))),
        ("delivery to the good receiver p50/p95/p99 ms", "", ""),
        ("  Created, from the create's answer", p(r["delivery_latency"]["Created"]), ""),
        ("  Approved, from the approval", p(r["delivery_latency"]["Approved"]), ""),
        ("  Expired, from status.expiresAt", p(r["delivery_latency"]["Expired"]), ""),
        ("  Expired, from the binding's deletion (watch)", p(r["delivery_latency"]["Expired_after_binding_deleted"]),
         ""),
        ("Created/Approved/Expired exactly once (valid)",
         "/".join(str(good["events"][e]["once"]) for e in COUNTED), f"of {r['routed']}"),
        ("  missing/duplicate IDs/bad signatures/out of order",
         "/".join(str(x) for x in (sum(good["events"][e]["missing"] for e in COUNTED), good["repeated_deliveries"],
                                   good["bad_signatures"], good["out_of_order"])), ""),
        ("/metrics sent/failed/retries/queued: good", counts(GOOD), ""),
        ("  answering 500", counts(FAILING), accounted(FAILING)),
        (f"  hanging ({HANG_TIMEOUT} timeout)", counts(HANGING), accounted(HANGING)),
        ("  failures logged (ERROR lines) 500 / hanging",
         f"{r['logged'][FAILING]['failed']} / {r['logged'][HANGING]['failed']}", ""),
        ("operator CPU s / peak RSS MiB", f"{r['operator_cpu_seconds']:.1f} / {r['operator_peak_rss_mib']:.0f}", ""),
        ("full lifecycle, s (errors)", f"{r['lifecycle_seconds']:.0f} ({r['errors']})", ""),
    ]
    width = max(len(label) for label, *_ in rows)
    return "\n".join(f"{label:<{width}}  {one:>18}  {two:>14}".rstrip() for label, one, two in rows)


async def main_async(size: int, rate: float, out: Path, keep: Path | None) -> int:
    bins = ensure_binaries()
    with tempfile.TemporaryDirectory(prefix="gatepass-bench-notify-") as temporary:
        folder = Path(keep or temporary) / f"notify-{size}"
        result = await NotifyBench(size, rate, folder, bins).run()
    out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    print(f"\nwritten to {out}")
    if not complete(result):
        print("notifications were lost, repeated or badly signed, or errors happened: see the file", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.notify")
    parser.add_argument("--notify-size", "--size", dest="size", type=int, default=1000,
                        help="requests in all; every other one is routed to the three receivers")
    parser.add_argument("--rate", type=float, default=20.0, help="approvals per second")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "notify-results.json")
    parser.add_argument("--keep", type=Path, help="keep the operator's and control plane's logs in this folder")
    args = parser.parse_args()
    return asyncio.run(main_async(args.size, args.rate, args.out, args.keep))


if __name__ == "__main__":
    sys.exit(main())
