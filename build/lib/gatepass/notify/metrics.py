"""Prometheus metrics of the notifier (served on /metrics with the operator's own)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from gatepass.core.notices import EVENTS

RESULTS = ("sent", "failed", "dropped")
# Seconds, from a notice being due to the receiver having taken it: well under a second unless it retried.
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

NOTIFICATIONS = Counter(
    "gatepass_notifications",
    "Notifications by receiver, event and result: sent, failed (gave up after the last attempt or refused), "
    "dropped (the receiver's queue was full).",
    ["receiver", "event", "result"],
)
RETRIES = Counter("gatepass_notification_retries", "Delivery attempts that failed and were retried.", ["receiver"])
DELIVERY_SECONDS = Histogram(
    "gatepass_notification_delivery_seconds",
    "From a notification being due to its receiver having accepted it.",
    ["receiver"], buckets=DELIVERY_BUCKETS,
)
QUEUED = Gauge("gatepass_notifications_queued", "Notifications waiting for or in delivery, by receiver.",
               ["receiver"])


def register(receivers: Iterable[str]) -> None:
    """Shows every receiver's series from the start, at zero."""
    for receiver in receivers:
        RETRIES.labels(receiver)
        DELIVERY_SECONDS.labels(receiver)
        QUEUED.labels(receiver)
        for event in EVENTS:
            for result in RESULTS:
                NOTIFICATIONS.labels(receiver, event, result)
