"""What a starting operator does with the requests it listed, before it reconciles any.

It arms every deadline the listed statuses record (``deadlines``), so that a
deadline never waits for the catch-up reconcile of every request; then it
looks at them all in ``catch_up_order``: nearest deadline first (a grant
already past its end is removed before anything else), ended requests last.
Both read a deadline as decide() sets it (``grant_deadline``) and as the
reconciler arms it (``retention.wake_time``): no second copy of either rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from .lifecycle import State, state_of
from .reconcile import grant_deadline
from .retention import wake_time
from .timestamps import parse_optional_time

_NEVER = datetime.max.replace(tzinfo=timezone.utc)


def status_deadline(status: Mapping[str, Any], now: datetime) -> datetime | None:
    """The deadline decide() wakes a request by, as its status records it at `now`: requestExpiresAt while
    Pending; an approved grant's start while ahead, else its end (`now` when its times were lost: decide()
    counts them again). None when it has ended, or has no state yet."""
    state = state_of(status)
    if state is State.Pending:
        return parse_optional_time(status.get("requestExpiresAt"))
    if state is State.Approved:
        granted_at = parse_optional_time(status.get("grantedAt"))
        expires_at = parse_optional_time(status.get("expiresAt"))
        if granted_at is None or expires_at is None:
            return now
        return grant_deadline(granted_at, expires_at, now)
    return None


def deadlines(requests: Iterable[tuple[str, Mapping[str, Any]]], now: datetime,
              retention: timedelta | None) -> list[tuple[str, datetime]]:
    """Each request's deadline from its status, as the reconciler would arm it after a reconcile (an ended
    one's: its removal after `retention`), soonest first (those already past first of all); requests with
    none are left out. Ties keep their order."""
    armed = []
    for index, (name, status) in enumerate(requests):
        when = wake_time(state_of(status), status, status_deadline(status, now), retention)
        if when is not None:
            armed.append((when, index, name))
    armed.sort()
    return [(name, when) for when, _, name in armed]


def next_deadline(status: Mapping[str, Any], now: datetime) -> datetime:
    """The soonest deadline a request's status records; far future when it has none or has ended."""
    return status_deadline(status, now) or _NEVER


def catch_up_order(statuses: Iterable[tuple[str, Mapping[str, Any]]], now: datetime) -> list[str]:
    """Request names, nearest deadline first (ties and requests without one keep their order)."""
    indexed = list(enumerate(statuses))
    indexed.sort(key=lambda item: (next_deadline(item[1][1], now), item[0]))
    return [name for _, (name, _) in indexed]
