"""Histogram bucket bounds the operator's metrics share: plain numbers, so that every package may use them.

The metric objects themselves live with the code that updates them (the
controller's, the webhooks'); only their buckets are one answer.
"""

from __future__ import annotations

#: Seconds: a grant or an expiry should take well under a second; minutes mean trouble.
LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
