"""The notifications benchmark's pure parts: the signature check and what is made of the arrivals and /metrics."""

from __future__ import annotations

from gatepass.notify import payloads

from bench.receivers import Arrival, completeness, latencies, logged_failures, notification_metrics, signature, verify

SECRET = "s3cret"


def signed(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    return payloads.webhook_headers("Approved", "d-1", str(timestamp), secret, body)


def test_verify_accepts_what_the_operator_signs():
    body = b'{"event":"Approved"}'
    assert signature(SECRET, "1700000000", body) == payloads.signature(SECRET, "1700000000", body)
    assert verify(SECRET, signed(body, 1_700_000_000), body, now=1_700_000_010)


def test_verify_refuses_another_body_secret_or_an_old_timestamp():
    body = b'{"event":"Approved"}'
    headers = signed(body, 1_700_000_000)
    assert not verify(SECRET, headers, body + b" ", now=1_700_000_000)
    assert not verify("other", headers, body, now=1_700_000_000)
    assert not verify(SECRET, headers, body, now=1_700_000_301)
    assert not verify(SECRET, {**headers, "X-Gatepass-Timestamp": "soon"}, body, now=1_700_000_000)
    assert not verify(SECRET, {}, body, now=1_700_000_000)


def arrival(request: str, event: str, time: float, delivery: str | None = None, valid: bool = True) -> Arrival:
    return Arrival(request, event, delivery or f"{request}/{event}", time, valid)


def test_completeness_counts_once_missing_repeated_bad_and_out_of_order():
    arrivals = [
        arrival("a", "Created", 1), arrival("a", "Approved", 2), arrival("a", "Expired", 3),
        arrival("b", "Created", 1), arrival("b", "Created", 2),  # delivered twice, same delivery ID
        arrival("b", "Expired", 3), arrival("b", "Approved", 4),  # out of order; Approved once
        arrival("c", "Created", 1, valid=False),
        arrival("x", "Created", 1),  # about a request that routes nowhere
    ]
    result = completeness(arrivals, {"a", "b", "c"}, ("Created", "Approved", "Expired"))
    assert result["events"]["Created"] == {"expected": 3, "once": 1, "missing": 1, "more_than_once": 1}
    assert result["events"]["Approved"] == {"expected": 3, "once": 2, "missing": 1, "more_than_once": 0}
    assert result["bad_signatures"] == 1
    assert result["repeated_deliveries"] == 1
    assert result["unexpected"] == 1
    assert result["out_of_order"] == 1
    assert result["arrivals"] == len(arrivals)


def test_latencies_run_from_each_requests_moment_to_its_first_valid_arrival():
    arrivals = [arrival("a", "Approved", 10.5, valid=False), arrival("a", "Approved", 10.25),
                arrival("a", "Approved", 11.0), arrival("b", "Approved", 20.0), arrival("c", "Approved", 5.0)]
    assert sorted(latencies(arrivals, "Approved", {"a": 10.0, "b": 19.0})) == [0.25, 1.0]
    assert latencies(arrivals, "Expired", {"a": 10.0}) == []


METRICS = """\
# TYPE gatepass_notifications_total counter
gatepass_notifications_total{receiver="hook",event="Created",result="sent"} 5.0
gatepass_notifications_total{receiver="hook",event="Approved",result="sent"} 4.0
gatepass_notifications_total{receiver="broken",event="Created",result="failed"} 3.0
gatepass_notifications_total{receiver="broken",event="Created",result="dropped"} 0.0
# TYPE gatepass_notification_retries_total counter
gatepass_notification_retries_total{receiver="broken"} 6.0
# TYPE gatepass_notifications_queued gauge
gatepass_notifications_queued{receiver="broken"} 2.0
gatepass_notifications_queued{receiver="hook"} 0.0
# TYPE gatepass_requests gauge
gatepass_requests{state="Approved"} 7.0
"""


def test_notification_metrics_sum_over_events_per_receiver():
    found = notification_metrics(METRICS)
    assert found["hook"] == {"sent": 9.0, "failed": 0.0, "dropped": 0.0, "retries": 0.0, "queued": 0.0}
    assert found["broken"] == {"sent": 0.0, "failed": 3.0, "dropped": 0.0, "retries": 6.0, "queued": 2.0}
    assert set(found) == {"hook", "broken"}


def test_logged_failures_count_give_ups_refusals_and_retries_per_receiver():
    log = "\n".join([
        "2026-11-24 09:00:00,000 INFO gatepass.notify: Sent Created about r-1 to hook",
        "2026-11-24 09:00:00,000 WARNING gatepass.notify: Could not send Created about r-1 to broken "
        "(attempt 1 of 3, next in 0.1s): http://127.0.0.1:1/fail answered HTTP 500",
        "2026-11-24 09:00:01,000 ERROR gatepass.notify: Gave up sending Created about r-1 to broken after 3 "
        "attempts: http://127.0.0.1:1/fail answered HTTP 500",
        "2026-11-24 09:00:01,000 ERROR gatepass.notify: Could not send Approved about r-1 to refusing, "
        "not retrying: http://127.0.0.1:1/no answered HTTP 404",
    ])
    assert logged_failures(log) == {"broken": {"failed": 1, "retried": 1}, "refusing": {"failed": 1, "retried": 0}}
