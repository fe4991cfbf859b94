"""The order in which a starting operator looks at the requests it listed.

Nearest deadline first: a grant already past its end is removed before anything
else, then the others in the order their deadlines come. Ended requests last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from .lifecycle import TERMINAL, State
from .timestamps import parse_optional_time

_NEVER = datetime.max.replace(tzinfo=timezone.utc)


def next_deadline(status: Mapping[str, Any]) -> datetime:
    """The soonest deadline a request's status records; far future when it has none or has ended."""
    state = status.get("state")
    if state in {s.value for s in TERMINAL}:
        return _NEVER
    key = "expiresAt" if state == State.Approved.value else "requestExpiresAt"
    return parse_optional_time(status.get(key)) or _NEVER


def catch_up_order(statuses: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Request names, nearest deadline first (ties and requests without one keep their order)."""
    indexed = list(enumerate(statuses))
    indexed.sort(key=lambda item: (next_deadline(item[1][1]), item[0]))
    return [name for _, (name, _) in indexed]
