"""`make bench`: what reading one object into the core's values costs, in-process.

Admission and the reconciler turn every AccessRequest, AccessReview and
AccessPolicy they look at into core values (gatepass.api.values); admission
does it for every policy on every review. This measures the CPU time of one
such reading, per kind, on a typical object as the API server returns it
(metadata with managedFields, spec and status), with ``time.process_time_ns``:
p50 and p99 in microseconds over many calls, after a warm-up. Each call reads
its own copy of the object (a new resourceVersion, as a watch delivers it).

Usage::

    python -m bench.admission [--iterations 20000] [--out bench/admission-results.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gatepass.api import values

from .stats import percentile

ROOT = Path(__file__).resolve().parents[1]
WARM_UP = 500


def _managed_fields(manager: str) -> list[dict]:
    return [{"manager": manager, "operation": "Update", "apiVersion": "gatepass.dev/v1alpha1",
             "time": "2026-11-24T09:30:00Z", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:roles": {}, "f:namespaces": {}, "f:duration": {}, "f:reason": {}}}},
            {"manager": "gatepass-operator", "operation": "Update", "apiVersion": "gatepass.dev/v1alpha1",
             "time": "2026-11-24T09:31:00Z", "fieldsType": "FieldsV1", "subresource": "status",
             "fieldsV1": {"f:status": {"f:state": {}, "f:conditions": {}, "f:reviews": {}}}}]


def _metadata(name: str, number: int, **extra: Any) -> dict:
    return {"name": name, "uid": f"7d5c0c7e-0000-4000-8000-{number:012d}", "resourceVersion": str(1000 + number),
            "generation": 1, "creationTimestamp": "2026-11-24T09:30:00Z",
            "managedFields": _managed_fields("kubectl-access"), **extra}


REQUEST = {
    "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
    "metadata": _metadata("bob-dba", 1, labels={"team": "payments"},
                          annotations={"gatepass.dev/review.alice": "Approve 2026-11-24T09:31:00Z ok"}),
    "spec": {"roles": ["dba"], "namespaces": ["payments", "billing"], "duration": "2h",
             "reason": "INC-4711: the nightly job is stuck", "reviewers": ["alice"],
             "requester": {"username": "bob", "uid": "u-bob", "groups": ["developers", "system:authenticated"]}},
    "status": {
        "state": "Approved", "policy": "payments-dba", "approvals": 1, "denials": 0,
        "requestExpiresAt": "2026-11-24T10:30:00Z", "grantedAt": "2026-11-24T09:31:02Z",
        "expiresAt": "2026-11-24T11:31:02Z", "observedGeneration": 1,
        "conditions": [
            {"type": "Approved", "status": "True", "reason": "ReviewsMet", "message": "leads:1/1",
             "lastTransitionTime": "2026-11-24T09:31:02Z", "observedGeneration": 1},
            {"type": "Granted", "status": "True", "reason": "Bound", "message": "2 RoleBindings",
             "lastTransitionTime": "2026-11-24T09:31:02Z", "observedGeneration": 1}],
        "reviews": [{"reviewer": "alice", "groups": ["dba-leads"], "decision": "Approve", "reason": "ok",
                     "time": "2026-11-24T09:31:00Z", "via": "AccessReview", "review": "bob-dba-alice"}],
        "bindings": [{"kind": "RoleBinding", "namespace": ns, "name": f"gp-bob-dba-{ns}",
                      "role": {"kind": "ClusterRole", "name": "gatepass-dba"}} for ns in ("payments", "billing")],
    },
}

REVIEW = {
    "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessReview",
    "metadata": _metadata("bob-dba-alice", 2, labels={"gatepass.dev/request": "bob-dba",
                                                      "gatepass.dev/request-uid": REQUEST["metadata"]["uid"]}),
    "spec": {"request": "bob-dba", "decision": "Approve", "reason": "ok",
             "reviewer": {"username": "alice", "uid": "u-alice", "groups": ["dba-leads", "system:authenticated"]}},
    "status": {"recorded": True},
}

POLICY = {
    "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessPolicy",
    "metadata": _metadata("payments-dba", 3),
    "spec": {
        "requesters": {"groups": ["developers"]},
        "roles": [{"name": "dba", "clusterRole": "gatepass-dba", "namespaces": ["payments", "billing"]},
                  {"name": "view", "clusterRole": "view", "clusterWide": True}],
        "reviewers": {"users": ["alice", "carol"], "groups": ["dba-leads"]},
        "thresholds": [{"name": "leads", "approvals": 1, "from": {"groups": ["dba-leads"]}},
                       {"name": "any", "approvals": 2}],
        "denials": 1, "maxDuration": "8h", "requestTTL": "1h", "maxStartDelay": "168h", "requireReason": True,
        "rules": [{"name": "short-oncall", "decision": "Approve",
                   "expression": "request.duration <= duration('1h') && 'oncall' in user.groups"}],
        "notify": [{"receiver": "slack-payments", "channel": "#payments-access"}],
        "slackUsers": [{"slackUser": "U0ALICE", "username": "alice", "groups": ["dba-leads"]}],
    },
    "status": {"observedGeneration": 1, "roles": "dba, view", "approvals": "leads:1, any:2"},
}

KINDS: dict[str, tuple[Mapping, Callable[[Mapping], Any]]] = {
    "AccessRequest": (REQUEST, values.request),
    "AccessReview": (REVIEW, lambda body: values.review(body, REQUEST["metadata"]["uid"])),
    "AccessPolicy": (POLICY, values.policy),
}


def _fresh(body: Mapping, n: int) -> dict:
    """A copy of ``body`` as a new version of the object (what a watch delivers after a change)."""
    copied = copy.deepcopy(body)
    copied["metadata"]["resourceVersion"] = str(10_000_000 + n)
    return copied


def measure(read: Callable[[Mapping], Any], body: Mapping, iterations: int) -> dict:
    """Microseconds of CPU per ``read(body)``: p50, p99 and the mean."""
    bodies = [_fresh(body, n) for n in range(iterations + WARM_UP)]
    samples = []
    clock = time.process_time_ns
    for n, obj in enumerate(bodies):
        start = clock()
        read(obj)
        took = clock() - start
        if n >= WARM_UP:
            samples.append(took / 1000)
    return {"iterations": iterations, "p50_us": round(percentile(samples, 50), 1),
            "p99_us": round(percentile(samples, 99), 1), "mean_us": round(sum(samples) / len(samples), 1)}


def run(iterations: int) -> dict:
    results: dict[str, Any] = {}
    for kind, (body, read) in KINDS.items():
        read(copy.deepcopy(body))  # fails here, not in the middle of the figures, if it cannot be read
        results[kind] = measure(read, body, iterations)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.admission", description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "admission-results.json")
    args = parser.parse_args(argv)
    figures = run(args.iterations)
    report = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "python": platform.python_version(), "reader": values.__name__, "kinds": figures}
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for kind, row in figures.items():
        print(f"{kind:14} p50 {row['p50_us']:6.1f} µs  p99 {row['p99_us']:6.1f} µs  mean {row['mean_us']:6.1f} µs")
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
