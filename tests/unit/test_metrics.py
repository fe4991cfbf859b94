"""What the operator's metrics count (gatepass.controller.metrics, gatepass.webhooks.metrics)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import kopf
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from gatepass.controller import metrics
from gatepass.controller.store import Requests
from gatepass.core.audit import AuditEvent
from gatepass.core.lifecycle import Event, State
from gatepass.core.reconcile import Plan
from gatepass.webhooks.metrics import counted

from . import monitoring

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def review(who: str, decision: str, at: datetime, via: str = "annotation") -> dict:
    return {"reviewer": who, "groups": [], "decision": decision, "reason": "", "via": via,
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_a_grant_counts_the_transition_the_reviews_and_the_latency_from_the_last_approval():
    old = {"state": "Pending", "reviews": [review("alice", "Approve", NOW - timedelta(seconds=30))]}
    plan = Plan(
        state=State.Approved,
        status={"state": "Approved", "reviews": old["reviews"] + [
            review("ivan", "Approve", NOW - timedelta(seconds=3), via="AccessReview")]},
        events=(AuditEvent("Reviewed", "..."), AuditEvent("Approved", "..."), AuditEvent("Granted", "...")),
        transitions=(Event.Review, Event.Approve, Event.Start),
    )
    before = {
        "approved": value("gatepass_request_transitions_total", state="Approved"),
        "ivan": value("gatepass_reviews_total", decision="Approve", via="AccessReview"),
        "alice": value("gatepass_reviews_total", decision="Approve", via="annotation"),
        "granted": value("gatepass_audit_events_total", reason="Granted"),
        "count": value("gatepass_approval_to_grant_seconds_count"),
        "sum": value("gatepass_approval_to_grant_seconds_sum"),
    }
    metrics.observe({"spec": {}}, old, plan, now=NOW)
    assert value("gatepass_request_transitions_total", state="Approved") == before["approved"] + 1
    assert value("gatepass_reviews_total", decision="Approve", via="AccessReview") == before["ivan"] + 1
    assert value("gatepass_reviews_total", decision="Approve", via="annotation") == before["alice"]  # seen before
    assert value("gatepass_audit_events_total", reason="Granted") == before["granted"] + 1
    assert value("gatepass_approval_to_grant_seconds_count") == before["count"] + 1
    assert value("gatepass_approval_to_grant_seconds_sum") == pytest.approx(before["sum"] + 3)


def test_a_scheduled_grant_counts_from_its_start_time():
    start = NOW - timedelta(seconds=1)
    plan = Plan(state=State.Approved, status={"state": "Approved",
                                              "reviews": [review("ivan", "Approve", NOW - timedelta(hours=1))]},
                events=(AuditEvent("Granted", "..."),), transitions=(Event.Start,))
    before = value("gatepass_approval_to_grant_seconds_sum")
    metrics.observe({"spec": {"startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ")}}, {"state": "Approved"}, plan,
                    now=NOW)
    assert value("gatepass_approval_to_grant_seconds_sum") == pytest.approx(before + 1)


@pytest.mark.parametrize("event, field, deadline", [
    (Event.End, "expiresAt", "access"),
    (Event.TimeOut, "requestExpiresAt", "request"),
])
def test_expiry_lag_is_measured_from_the_deadline(event, field, deadline):
    plan = Plan(state=State.Expired, status={"state": "Expired", field: "2026-03-01T11:59:58Z"},
                events=(AuditEvent("Expired", "..."),), transitions=(event,))
    before = value("gatepass_expiry_lag_seconds_sum", deadline=deadline)
    count = value("gatepass_expiry_lag_seconds_count", deadline=deadline)
    metrics.observe({}, {"state": "Approved"}, plan, now=NOW)
    assert value("gatepass_expiry_lag_seconds_sum", deadline=deadline) == pytest.approx(before + 2)
    assert value("gatepass_expiry_lag_seconds_count", deadline=deadline) == count + 1


def test_nothing_new_counts_nothing():
    status = {"state": "Pending", "reviews": [review("alice", "Approve", NOW)]}
    plan = Plan(state=State.Pending, status=status)
    def ours() -> list[str]:
        return [line for line in generate_latest(REGISTRY).decode().splitlines() if line.startswith("gatepass_")]

    before = ours()
    metrics.observe({}, status, plan, now=NOW)
    assert ours() == before


def test_timed_counts_results_and_lets_errors_through():
    async def fine(key):
        return None

    async def broken(key):
        raise RuntimeError("boom")

    ok, errors = value("gatepass_reconciles_total", result="ok"), value("gatepass_errors_total", component="reconcile")
    asyncio.run(metrics.timed(fine)("a"))
    with pytest.raises(RuntimeError):
        asyncio.run(metrics.timed(broken)("b"))
    assert value("gatepass_reconciles_total", result="ok") == ok + 1
    assert value("gatepass_errors_total", component="reconcile") == errors + 1


class FakeStore:
    def __init__(self, requests, policies=()):
        self.requests = Requests({f"r{i}": body for i, body in enumerate(requests)})
        self.policies = {name: {} for name in policies}


class FakeQueue:
    armed = 3


def test_gauges_are_read_from_the_store():
    granted = {"state": "Approved", "conditions": [{"type": "Granted", "status": "True"}]}
    waiting = {"state": "Approved", "conditions": [{"type": "Granted", "status": "False"}]}
    store = FakeStore([{"status": granted}, {"status": waiting}, {}, {"status": {"state": "Expired"}}], ["p"])
    registry = CollectorRegistry()
    registry.register(metrics.StoreCollector(store, FakeQueue()))
    get = registry.get_sample_value
    assert get("gatepass_requests", {"state": "Approved"}) == 2
    assert get("gatepass_requests", {"state": "Pending"}) == 1  # no status yet
    assert get("gatepass_requests", {"state": "Denied"}) == 0
    assert get("gatepass_live_grants") == 1
    assert get("gatepass_policies") == 1
    assert get("gatepass_deadlines_armed") == 3


def test_admission_answers_are_counted():
    @counted("validate-x")
    async def handler(operation, refuse=False, fail=False, **_):
        if refuse:
            raise kopf.AdmissionError("no", code=403)
        if fail:
            raise RuntimeError("bug")
        return "done"

    def count(decision):
        return value("gatepass_admission_reviews_total", webhook="validate-x", operation="CREATE", decision=decision)

    before = {d: count(d) for d in ("allowed", "refused", "error")}
    assert asyncio.run(handler(operation="CREATE")) == "done"
    assert asyncio.run(handler(operation="CREATE")) == "done"
    with pytest.raises(kopf.AdmissionError):
        asyncio.run(handler(operation="CREATE", refuse=True))
    with pytest.raises(RuntimeError):
        asyncio.run(handler(operation="CREATE", fail=True))
    assert {d: count(d) - before[d] for d in before} == {"allowed": 2, "refused": 1, "error": 1}
    assert asyncio.iscoroutinefunction(handler)


def test_admission_handlers_must_be_coroutines():
    with pytest.raises(TypeError, match="must be coroutines"):
        @counted("validate-x")
        def handler(**_):
            return None


def test_grants_still_in_place_after_their_deadline_are_counted():
    def granted(expires: datetime) -> dict:
        return {"status": {"state": "Active", "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "conditions": [{"type": "Granted", "status": "True"}]}}

    ended = {"status": {"state": "Expired", "expiresAt": "2026-03-01T11:00:00Z",
                        "conditions": [{"type": "Granted", "status": "False"}]}}
    store = FakeStore([granted(NOW + timedelta(minutes=5)), granted(NOW - timedelta(seconds=1)),
                       granted(NOW - timedelta(hours=1)), ended, {}])
    registry = CollectorRegistry()
    registry.register(metrics.StoreCollector(store, FakeQueue(), clock=lambda: NOW))
    assert registry.get_sample_value("gatepass_live_grants") == 3
    assert registry.get_sample_value("gatepass_grants_past_deadline") == 2


def test_refusals_are_counted_by_their_code_and_errors_are_not_refusals():
    @counted("validate-y")
    async def handler(operation, code=None, fail=False, **_):
        if code:
            raise kopf.AdmissionError("no", code=code)
        if fail:
            raise RuntimeError("bug")
        return "done"

    def refusals(code):
        return value("gatepass_admission_refusals_total", webhook="validate-y", operation="UPDATE", code=code)

    before = {code: refusals(code) for code in ("403", "422")}
    for code in (403, 403, 422):
        with pytest.raises(kopf.AdmissionError):
            asyncio.run(handler(operation="UPDATE", code=code))
    with pytest.raises(RuntimeError):
        asyncio.run(handler(operation="UPDATE", fail=True))
    asyncio.run(handler(operation="UPDATE"))
    assert {code: refusals(code) - before[code] for code in before} == {"403": 2, "422": 1}
    assert value("gatepass_admission_reviews_total", webhook="validate-y", operation="UPDATE",
                 decision="refused") == 3


# --- the shipped alerts and dashboard ---------------------------------------------------------------------------
def operator_metrics_text() -> str:
    """/metrics of a process that has every part of the operator loaded (their metrics register on import)."""
    import gatepass.notify.metrics  # noqa: F401
    import gatepass.process.leadership  # noqa: F401
    import gatepass.webhooks.metrics  # noqa: F401

    registry = CollectorRegistry()
    registry.register(metrics.StoreCollector(FakeStore([]), FakeQueue()))
    return (generate_latest(REGISTRY) + generate_latest(registry)).decode()


def test_the_chart_ships_the_component_s_alerts_and_dashboard():
    for name in (monitoring.RULE, monitoring.DASHBOARD):
        assert (monitoring.CHART_FILES / name).read_bytes() == (monitoring.COMPONENT / name).read_bytes(), name


@pytest.mark.parametrize("where, expressions", [
    ("rule", monitoring.rule_expressions()), ("dashboard", monitoring.dashboard_expressions())])
def test_every_expression_is_well_formed_and_reads_metrics_the_operator_exports(where, expressions):
    exported = monitoring.exported_names(operator_metrics_text())
    assert expressions
    assert [(what, monitoring.problems(expr, exported)) for what, expr in expressions] == \
        [(what, []) for what, _ in expressions]


def test_the_alerts_cover_what_matters():
    alerts = {alert: expr for alert, expr in monitoring.rule_expressions()}
    read = {name for expr in alerts.values() for name in monitoring.metric_names(expr)}
    assert {"gatepass_leader", "gatepass_reconciles_total", "gatepass_admission_duration_seconds_bucket",
            "gatepass_grants_past_deadline", "gatepass_expiry_lag_seconds_bucket",
            "gatepass_notifications_total"} <= read
    for group in monitoring.rule()["spec"]["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("critical", "warning")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_checker_sees_what_is_wrong():
    exported = {"gatepass_leader", "gatepass_reconciles_total"}
    assert monitoring.problems('sum(rate(gatepass_reconciles_total{result="error"}[5m])) by (result)', exported) == []
    assert monitoring.problems("sum(gatepass_leader", exported) == ["unclosed ("]
    assert monitoring.problems("sum(gatepass_leaders)", exported) == ["unknown metric gatepass_leaders"]
    assert monitoring.problems("summ(gatepass_leader)", exported) == ["unknown function summ"]
    assert monitoring.problems('max(gatepass_leader{a="(}"})', exported) == []  # brackets in strings are text
    assert "gatepass_reconciles_total" in monitoring.exported_names(
        "# HELP gatepass_reconciles Reconciliations.\n# TYPE gatepass_reconciles counter\n")


def test_grants_are_counted_by_what_they_grant():
    from gatepass.controller.metrics import grants_label

    assert grants_label({"spec": {"roles": ["dba"]}}) == "roles"
    assert grants_label({"spec": {"resources": [{"resource": "pods", "verbs": ["get"]}]}}) == "resources"
    assert grants_label({"spec": {"roles": ["dba"], "resources": [{"resource": "pods", "verbs": ["get"]}]}}) == "both"
