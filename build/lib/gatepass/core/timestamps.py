"""RFC 3339 timestamps as Kubernetes writes them: UTC, whole seconds, 'Z'."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_ONE_SECOND = timedelta(seconds=1)
#: The last whole second a datetime can hold: a time past it (a start in 9999 plus an hour) is this one.
END_OF_TIME = datetime.max.replace(microsecond=0, tzinfo=timezone.utc)


def require_aware(value: datetime, what: str = "time") -> datetime:
    """Return `value` in UTC; a naive datetime is a programming error."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone, got naive {value.isoformat()}")
    return value.astimezone(timezone.utc)


def floor_second(value: datetime) -> datetime:
    """Drop the fraction of a second (moves the time earlier, never later)."""
    return require_aware(value).replace(microsecond=0)


def ceil_second(value: datetime) -> datetime:
    """Round up to the next whole second unless already whole (never earlier)."""
    value = require_aware(value)
    floored = value.replace(microsecond=0)
    return floored if floored == value else later(floored, _ONE_SECOND)


def later(value: datetime, delta: timedelta) -> datetime:
    """``value + delta``, or END_OF_TIME where that is past the last time a datetime holds."""
    try:
        return value + delta
    except OverflowError:
        return END_OF_TIME


def format_time(value: datetime) -> str:
    """'2026-01-02T03:04:05Z': UTC, fraction of a second dropped."""
    return floor_second(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Read an RFC 3339 time ('Z' or an offset, optional fraction) as UTC.

    Raises ValueError for anything else, including a time without a zone.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except (AttributeError, ValueError):
        raise ValueError(f"not an RFC 3339 time: {text!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"RFC 3339 time has no zone: {text!r}")
    return value.astimezone(timezone.utc)


def parse_optional_time(text: object) -> datetime | None:
    """parse_time for status fields that may be absent, empty or corrupt."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None
