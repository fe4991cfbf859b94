"""Prometheus metrics of the operator, served on /metrics.

Counters and histograms are updated as work is done (``observe`` after each
reconcile, ``timed`` around it); gauges of what exists (requests by state,
live grants) are read from the in-memory store at scrape time, so every
replica reports them, leader or not. The admission webhooks count their
answers in ``gatepass.webhooks.metrics``, and the leader election its own in
``gatepass.process.leadership``. ``ERRORS`` counts the errors of every part of
the operator: the reconciles here, the leader election, the certificate
upkeep and the admission webhooks (counted by the process, which hands the
webhooks what to call on an error).
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gatepass.core.lifecycle import Event, State, state_of
from gatepass.core.buckets import LATENCY_BUCKETS
from gatepass.core.reconcile import Plan
from gatepass.core.timestamps import parse_optional_time
from gatepass.core.types import DECISIONS, Via

STATES = tuple(state.value for state in State)
VIAS = (Via.ANNOTATION.value, Via.ACCESS_REVIEW.value)  # the label values present from the start
COMPONENTS = ("reconcile", "leadership", "certificates", "admission")

TRANSITIONS = Counter("gatepass_request_transitions", "AccessRequests that entered each state.", ["state"])
REVIEWS = Counter("gatepass_reviews", "Reviews recorded on requests, by decision and how they were given.",
                  ["decision", "via"])
AUDIT_EVENTS = Counter("gatepass_audit_events", "Audit events published, by reason (Granted, Expired, ...).",
                       ["reason"])
APPROVAL_TO_GRANT = Histogram(
    "gatepass_approval_to_grant_seconds",
    "From the approval that completed a request (or its startTime, if later) to its bindings being in place.",
    buckets=LATENCY_BUCKETS,
)
EXPIRY_LAG = Histogram(
    "gatepass_expiry_lag_seconds",
    "From a deadline (access: expiresAt, request: requestExpiresAt) to the operator having acted on it.",
    ["deadline"], buckets=LATENCY_BUCKETS,
)
GRANTS = Counter("gatepass_grants", "Grants whose access started, by what they grant: whole roles, resource "
                 "rules (per-grant Roles), or both.", ["grants"])
GRANT_KINDS = ("roles", "resources", "both")
RECONCILES = Counter("gatepass_reconciles", "Reconciliations of one request or policy, by result.", ["result"])
RECONCILE_SECONDS = Histogram("gatepass_reconcile_duration_seconds", "How long one reconciliation took.",
                              buckets=LATENCY_BUCKETS)
ERRORS = Counter("gatepass_errors", "Errors, by the component that met them.", ["component"])

for _state in STATES:
    TRANSITIONS.labels(_state)
for _decision in DECISIONS:
    for _via in VIAS:
        REVIEWS.labels(_decision, _via)
for _component in COMPONENTS:
    ERRORS.labels(_component)
for _grants in GRANT_KINDS:
    GRANTS.labels(_grants)
for _result in ("ok", "error"):
    RECONCILES.labels(_result)
for _deadline in ("access", "request"):
    EXPIRY_LAG.labels(_deadline)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def observe(body: Mapping[str, Any], old_status: Mapping[str, Any], plan: Plan, now: datetime | None = None) -> None:
    """Counts what one reconcile of a request did, once its writes are made."""
    now = now or _utcnow()
    old_status = old_status or {}
    if plan.state.value != old_status.get("state"):
        TRANSITIONS.labels(plan.state.value).inc()
    before = old_status.get("reviews") or []
    for record in plan.status.get("reviews") or ():
        if record not in before:
            REVIEWS.labels(record.get("decision", ""), record.get("via", "")).inc()
    _count_events(body, plan, now)
    _time_deadlines(plan, now)


def grants_label(body: Mapping[str, Any]) -> str:
    """What a request grants, as GRANTS labels it: roles, resources or both."""
    spec = body.get("spec") or {}
    roles, resources = bool(spec.get("roles")), bool(spec.get("resources"))
    return GRANT_KINDS[2] if roles and resources else GRANT_KINDS[1] if resources else GRANT_KINDS[0]


def _count_events(body: Mapping[str, Any], plan: Plan, now: datetime) -> None:
    for event in plan.events:
        AUDIT_EVENTS.labels(event.reason).inc()
        if event.reason == "Granted":
            GRANTS.labels(grants_label(body)).inc()
            since = _completed_at(body, plan.status)
            if since is not None:
                APPROVAL_TO_GRANT.observe(max((now - since).total_seconds(), 0.0))


# The lifecycle events that a deadline fires: the label of EXPIRY_LAG and the status field holding the deadline.
_DEADLINES = {Event.End: ("access", "expiresAt"), Event.TimeOut: ("request", "requestExpiresAt")}


def _time_deadlines(plan: Plan, now: datetime) -> None:
    for fired in plan.transitions:
        label, key = _DEADLINES.get(fired, (None, None))
        at = parse_optional_time(plan.status.get(key)) if key else None
        if at is not None:
            EXPIRY_LAG.labels(label).observe(max((now - at).total_seconds(), 0.0))


def _completed_at(body: Mapping[str, Any], status: Mapping[str, Any]) -> datetime | None:
    """When the grant could first have been made: the last approval, or the requested start if later."""
    approvals = [parse_optional_time(r.get("time")) for r in status.get("reviews") or ()
                 if r.get("decision") == "Approve"]
    times = [t for t in approvals if t is not None]
    start = parse_optional_time((body.get("spec") or {}).get("startTime"))
    if start is not None:
        times.append(start)
    return max(times) if times else None


def timed(worker: Callable[[str], Awaitable[None]]) -> Callable[[str], Awaitable[None]]:
    """The queue's worker, counted and timed."""

    async def run(key: str) -> None:
        started = time.monotonic()
        try:
            await worker(key)
        except Exception:
            RECONCILES.labels("error").inc()
            ERRORS.labels("reconcile").inc()
            raise
        else:
            RECONCILES.labels("ok").inc()
        finally:
            RECONCILE_SECONDS.observe(time.monotonic() - started)

    return run


class StoreCollector(Collector):
    """Gauges read from the store at scrape time: requests by state, live grants (and those past their
    deadline), policies, deadlines."""

    def __init__(self, store: Any, queue: Any, clock: Callable[[], datetime] = _utcnow) -> None:
        self.store, self.queue, self.clock = store, queue, clock

    def collect(self):
        states: Tally[str] = Tally()
        live = overdue = 0
        now = self.clock()
        for found in self.store.requests.summaries():  # read without unpacking a packed request
            states[(state_of({"state": found.state}) or State.Pending).value] += 1
            expires = parse_optional_time(found.expires_at) if found.granted else None
            live += found.granted
            overdue += expires is not None and expires <= now
        requests = GaugeMetricFamily("gatepass_requests", "AccessRequests by state.", labels=["state"])
        for state in STATES:
            requests.add_metric([state], states.get(state, 0))
        yield requests
        yield GaugeMetricFamily("gatepass_live_grants", "Requests whose bindings are in place now.", value=live)
        yield GaugeMetricFamily(
            "gatepass_grants_past_deadline",
            "Requests whose bindings are still in place after their expiresAt (for more than a moment: the "
            "operator is not expiring them).", value=overdue)
        yield GaugeMetricFamily("gatepass_policies", "AccessPolicies.", value=len(self.store.policies))
        yield GaugeMetricFamily("gatepass_deadlines_armed", "Deadlines this replica has armed (the leader's).",
                                value=self.queue.armed)


_collectors: list[StoreCollector] = []


def watch_store(store: Any, queue: Any, registry=REGISTRY) -> StoreCollector:
    """Registers the store's gauges (once per process)."""
    for collector in _collectors:
        registry.unregister(collector)
    _collectors.clear()
    collector = StoreCollector(store, queue)
    registry.register(collector)
    _collectors.append(collector)
    return collector
