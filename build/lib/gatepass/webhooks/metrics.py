"""Counting the admission webhooks' answers: allowed, refused (with a reason) or failed."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable

import kopf
from prometheus_client import Counter, Histogram

from gatepass.core.buckets import LATENCY_BUCKETS

ADMISSIONS = Counter(
    "gatepass_admission_reviews",
    "Admission reviews answered, by webhook, operation and decision (allowed, refused, error).",
    ["webhook", "operation", "decision"],
)
ADMISSION_SECONDS = Histogram("gatepass_admission_duration_seconds", "How long an admission review took.",
                              ["webhook"], buckets=LATENCY_BUCKETS)


def counted(webhook: str, on_error: Callable[[], object] | None = None):
    """Wraps an admission handler (sync or async) to count and time its answers. ``on_error`` is called
    for each answer that is an error (the operator counts those in its own gatepass_errors)."""

    def outcome(kwargs: dict, started: float, decision: str) -> None:
        ADMISSIONS.labels(webhook, kwargs.get("operation") or "", decision).inc()
        ADMISSION_SECONDS.labels(webhook).observe(time.monotonic() - started)
        if decision == "error" and on_error is not None:
            on_error()

    def decorate(handler):
        # Every admission handler is a coroutine: they do little work, and kopf
        # would run a plain function in a thread.
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"{handler.__name__}: admission handlers must be coroutines")

        @functools.wraps(handler)
        async def run(**kwargs):
            started = time.monotonic()
            try:
                result = await handler(**kwargs)
            except kopf.AdmissionError:
                outcome(kwargs, started, "refused")
                raise
            except Exception:
                outcome(kwargs, started, "error")
                raise
            outcome(kwargs, started, "allowed")
            return result
        return run

    return decorate
