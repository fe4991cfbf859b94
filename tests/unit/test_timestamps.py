"""RFC 3339 times in status: UTC, whole seconds, 'Z'."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gatepass.core.timestamps import (ceil_second, floor_second, format_time, parse_optional_time, parse_time,
                                      require_aware)

UTC = timezone.utc


def test_format_is_utc_whole_seconds_with_z():
    assert format_time(datetime(2026, 3, 1, 10, 0, 5, 999_999, tzinfo=UTC)) == "2026-03-01T10:00:05Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 3, 1, 12, 0, 0, tzinfo=plus_two)) == "2026-03-01T10:00:00Z"


@pytest.mark.parametrize("text", ["2026-03-01T10:00:05Z", "2026-03-01T10:00:05.25Z", "2026-03-01T12:00:05+02:00",
                                  "2026-03-01T10:00:05.000000Z", "  2026-03-01T10:00:05Z "])
def test_parse_reads_rfc3339_as_utc(text):
    value = parse_time(text)
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    assert value.replace(microsecond=0) == datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-03-01T10:00:05", "2026-13-01T10:00:05Z"])
def test_parse_refuses_what_is_not_a_zoned_time(text):
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_time(text)


def test_parse_optional_time_tolerates_absent_or_broken_values():
    assert parse_optional_time(None) is None
    assert parse_optional_time("") is None
    assert parse_optional_time("nonsense") is None
    assert parse_optional_time(17) is None
    assert parse_optional_time("2026-03-01T10:00:05Z") == datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)


def test_round_trip_of_whole_seconds():
    value = datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert parse_time(format_time(value)) == value


def test_floor_and_ceil():
    fraction = datetime(2026, 3, 1, 10, 0, 5, 1, tzinfo=UTC)
    whole = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)
    assert floor_second(fraction) == whole
    assert ceil_second(fraction) == whole + timedelta(seconds=1)
    assert floor_second(whole) == ceil_second(whole) == whole


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        require_aware(datetime(2026, 3, 1), "now")
    with pytest.raises(ValueError):
        format_time(datetime(2026, 3, 1))


def test_later_stops_at_the_end_of_time():
    from gatepass.core.timestamps import END_OF_TIME, later

    moment = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
    assert later(moment, timedelta(hours=1)) == datetime(2026, 3, 1, 11, 0, 0, tzinfo=UTC)
    last = datetime(9999, 12, 31, 23, 0, 0, tzinfo=UTC)
    assert later(last, timedelta(hours=2)) == END_OF_TIME == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert ceil_second(datetime(9999, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)) == END_OF_TIME
    assert format_time(END_OF_TIME) == "9999-12-31T23:59:59Z"
