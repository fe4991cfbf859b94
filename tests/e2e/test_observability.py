"""The operator seen from Prometheus and from a log shipper: /metrics moves through the seed scenario and has every
series the shipped alerts and dashboard read; /healthz and /readyz answer; in both log formats, every audit line is
a JSON object, a user's refusal is one INFO line, and there is no access log."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gatepass.core.lifecycle import State
from gatepass.devcluster.operator import OperatorProcess
from gatepass.kube.errors import refusal_line
from gatepass.process.logs import audit_records
from tests.unit import monitoring

from .helpers import approve, can_i, create_request, refused, request_manifest, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e


def scrape(gatepass) -> dict[tuple[str, tuple], float]:
    """Every sample on /metrics, by (name, sorted labels)."""
    status, text = gatepass.operator.get("/metrics")
    assert status == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before, after, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_health_and_readiness(gatepass):
    assert gatepass.operator.get("/healthz") == (200, "ok")
    assert gatepass.operator.get("/readyz") == (200, "ok")
    assert value(scrape(gatepass), "gatepass_leader") == 1


def test_metrics_move_through_the_seed_scenario(gatepass):
    before = scrape(gatepass)
    name = unique("metrics")
    create_request(gatepass, name, duration="3s")
    refusal = gatepass.kubectl("apply", "-f", "-", user="carol", check=False, input=request_manifest(unique("no")))
    assert "carol may not request" in refused(refusal)
    approve(gatepass, name)
    wait_state(gatepass, name, "Approved")
    wait_for(lambda: can_i(gatepass, "bob") == "yes", what="bob's access")
    granted = wait_for(lambda: (s := scrape(gatepass)) and
                       moved(before, s, "gatepass_approval_to_grant_seconds_count") >= 1 and s,
                       what="the grant to be counted")
    assert moved(before, granted, "gatepass_request_transitions_total", state="Pending") >= 1
    assert moved(before, granted, "gatepass_request_transitions_total", state="Approved") >= 1
    assert moved(before, granted, "gatepass_reviews_total", decision="Approve", via="annotation") >= 2
    assert moved(before, granted, "gatepass_audit_events_total", reason="Granted") >= 1
    assert value(granted, "gatepass_live_grants") >= 1
    assert value(granted, "gatepass_requests", state="Approved") >= 1
    assert moved(before, granted, "gatepass_reconciles_total", result="ok") >= 3
    assert moved(before, granted, "gatepass_reconcile_duration_seconds_count") >= 3
    assert moved(before, granted, "gatepass_admission_reviews_total", webhook="validate-accessrequest",
                 operation="CREATE", decision="allowed") >= 1
    assert moved(before, granted, "gatepass_admission_reviews_total", webhook="validate-accessrequest",
                 operation="CREATE", decision="refused") >= 1
    assert moved(before, granted, "gatepass_admission_refusals_total", webhook="validate-accessrequest",
                 operation="CREATE", code="403") >= 1
    assert moved(before, granted, "gatepass_admission_reviews_total", webhook="mutate-accessrequest",
                 operation="UPDATE", decision="allowed") >= 2  # the two approvals
    # A histogram's buckets are cumulative: the +Inf bucket holds every observation.
    assert (value(granted, "gatepass_approval_to_grant_seconds_bucket", le="+Inf")
            == value(granted, "gatepass_approval_to_grant_seconds_count"))

    wait_state(gatepass, name, "Expired", timeout=30)
    expired = wait_for(lambda: (s := scrape(gatepass)) and
                       moved(before, s, "gatepass_expiry_lag_seconds_count", deadline="access") >= 1 and s,
                       what="the expiry to be counted")
    assert moved(before, expired, "gatepass_request_transitions_total", state="Expired") >= 1
    assert moved(before, expired, "gatepass_audit_events_total", reason="Expired") >= 1
    lag = (moved(before, expired, "gatepass_expiry_lag_seconds_sum", deadline="access")
           / moved(before, expired, "gatepass_expiry_lag_seconds_count", deadline="access"))
    print(f"\nexpiry lag (mean over this test's expiries): {lag * 1000:.0f} ms")
    assert value(expired, "gatepass_errors_total", component="reconcile") == value(
        before, "gatepass_errors_total", component="reconcile")


def test_metrics_have_no_created_series_and_every_series_the_alerts_and_the_dashboard_read(gatepass):
    status, text = gatepass.operator.get("/metrics")
    assert status == 200
    assert "_created" not in text
    exported = monitoring.exported_names(text)
    expressions = monitoring.rule_expressions() + monitoring.dashboard_expressions()
    assert [(what, monitoring.problems(expr, exported)) for what, expr in expressions] == \
        [(what, []) for what, _ in expressions]


def refuse_carol(gatepass) -> str:
    """A user's mistake: carol asks for what no policy lets her ask for."""
    refusal = gatepass.kubectl("apply", "-f", "-", user="carol", check=False, input=request_manifest(unique("no")))
    return refusal_line(refused(refusal))


def test_in_text_every_audit_line_is_a_json_object_and_a_refusal_is_one_info_line(gatepass):
    name = unique("textlog")
    create_request(gatepass, name)
    reason = refuse_carol(gatepass)
    approve(gatepass, name)
    wait_for(lambda: can_i(gatepass, "bob") == "yes", what="bob's access")
    wait_for(lambda: [r for r in audit_records(gatepass.operator.log())
                      if r.get("request") == name and r.get("event") == "Granted"], what="the Granted audit record")
    lines = gatepass.operator.log().splitlines()
    audit = [line for line in lines if "gatepass.audit" in line]
    assert audit and all(json.loads(line)["logger"] == "gatepass.audit" for line in audit)  # bare, whole lines
    assert len(audit_records(lines)) == len(audit)
    assert {"Granted", "Approved"} <= {r["event"] for r in audit_records(lines) if r.get("request") == name}
    refusals = [line for line in lines if "failed permanently" in line and reason in line]
    assert refusals and all(" INFO kopf.objects: " in line for line in refusals)
    assert not [line for line in lines if " ERROR " in line and "failed permanently" in line]
    assert not [line for line in lines if "aiohttp.access" in line or '"POST /' in line]
    assert not [line for line in lines if line.startswith("Traceback") or line.startswith("  File ")]
    gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done", user="bob")
    wait_for(lambda: can_i(gatepass, "bob") == "no", what="bob's access to end")


def test_with_log_format_json_every_line_is_one_object_and_the_audit_keeps_its_fields(gatepass, tmp_path):
    """The suite's operator steps aside (it hands its lease back); one logging JSON takes its place."""
    gatepass.operator.stop()
    operator = OperatorProcess(gatepass.cluster.plane, gatepass.cluster.kubectl, tmp_path, name="json-logs",
                               extra_args=("--log-format=json",))
    try:
        operator.start()
        name = unique("jsonlog")
        create_request(gatepass, name)
        reason = refuse_carol(gatepass)
        approve(gatepass, name)
        wait_for(lambda: can_i(gatepass, "bob") == "yes", what="bob's access")

        def records() -> list[dict]:
            return [json.loads(line) for line in operator.log().splitlines()]

        [granted] = wait_for(lambda: [r for r in records() if r.get("logger") == "gatepass.audit"
                                      and r.get("request") == name and r.get("event") == "Granted"],
                             what="the Granted audit record")
        assert {"time", "event", "request", "uid", "requester", "roles", "namespaces", "message", "state",
                "level", "logger"} <= set(granted)
        assert granted["requester"] == "bob" and granted["state"] == State.Approved and granted["level"] == "INFO"
        assert any(r["logger"] == "gatepass.leadership" and r["message"].startswith("Became the leader")
                   for r in records())
        assert audit_records(operator.log()) == [r for r in records() if r["logger"] == "gatepass.audit"]
        refusals = [r for r in records() if "failed permanently" in r["message"] and reason in r["message"]]
        assert refusals and all((r["logger"], r["level"]) == ("kopf.objects", "INFO") for r in refusals)
        assert {r["logger"] for r in records()} >= {"kopf.objects", "gatepass.audit"}  # kopf's records too
        assert not [r for r in records() if r["logger"] == "aiohttp.access" or "exception" in r]
        gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=done", user="bob")
        wait_for(lambda: can_i(gatepass, "bob") == "no", what="bob's access to end")
    finally:
        operator.stop()
        gatepass.operator.start()
