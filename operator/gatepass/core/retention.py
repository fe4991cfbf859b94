"""How long an ended request is kept, with its review history, before it is deleted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from .conditions import DENIED, EXPIRED, REVOKED
from .lifecycle import TERMINAL, State
from .timestamps import parse_optional_time

FINAL_CONDITIONS = (DENIED, EXPIRED, REVOKED)


def ended_at(status: Mapping[str, Any]) -> datetime | None:
    """When the request reached its final state: the transition time of its True final condition."""
    times = [
        parse_optional_time(condition.get("lastTransitionTime"))
        for condition in status.get("conditions") or ()
        if condition.get("type") in FINAL_CONDITIONS and condition.get("status") == "True"
    ]
    known = [time for time in times if time is not None]
    return min(known) if known else None


def removal_time(status: Mapping[str, Any], retention: timedelta | None) -> datetime | None:
    """When an ended request is to be deleted; None while it has not ended, or when kept forever."""
    end = ended_at(status)
    if end is None or retention is None:
        return None
    return end + retention


def wake_time(state: State | None, status: Mapping[str, Any], deadline: datetime | None,
              retention: timedelta | None) -> datetime | None:
    """When a request in `state` is looked at again: an ended one's removal, else its `deadline` (the
    decision's wake_at)."""
    return removal_time(status, retention) if state in TERMINAL else deadline
