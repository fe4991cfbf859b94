"""Prometheus helpers every part of the operator counts with: the error counter and the latency buckets.

The controller, the admission webhooks and the process around them each
count their own work in their own metrics module; what they share is here,
below all of them. Nothing else belongs in this module.
"""

from __future__ import annotations

from prometheus_client import Counter

# The parts that count their errors in gatepass_errors_total.
COMPONENTS = ("reconcile", "leadership", "certificates", "admission")
# Seconds: a grant or an expiry should take well under a second; minutes mean trouble.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

ERRORS = Counter("gatepass_errors", "Errors, by the component that met them.", ["component"])
for _component in COMPONENTS:
    ERRORS.labels(_component)
