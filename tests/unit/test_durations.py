"""Go duration syntax, and the short form written back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gatepass.core.durations import checked_duration, duration_errors, format_duration, parse_duration

us = lambda n: timedelta(microseconds=n)  # noqa: E731


@pytest.mark.parametrize(("text", "expected"), [
    # the cases of Go's time.ParseDuration tests that fit in microseconds
    ("0", timedelta(0)),
    ("5s", timedelta(seconds=5)),
    ("30s", timedelta(seconds=30)),
    ("1478s", timedelta(seconds=1478)),
    ("-5s", -timedelta(seconds=5)),
    ("+5s", timedelta(seconds=5)),
    ("-0", timedelta(0)),
    ("+0", timedelta(0)),
    ("5.0s", timedelta(seconds=5)),
    ("5.6s", timedelta(seconds=5, milliseconds=600)),
    ("5.s", timedelta(seconds=5)),
    (".5s", timedelta(milliseconds=500)),
    ("1.0s", timedelta(seconds=1)),
    ("1.00s", timedelta(seconds=1)),
    ("1.004s", timedelta(seconds=1, milliseconds=4)),
    ("1.0040s", timedelta(seconds=1, milliseconds=4)),
    ("100.00100s", timedelta(seconds=100, milliseconds=1)),
    ("10ns", timedelta(0)),  # below a microsecond: truncated
    ("11us", us(11)),
    ("12µs", us(12)),  # micro sign
    ("12μs", us(12)),  # Greek mu
    ("13ms", timedelta(milliseconds=13)),
    ("14s", timedelta(seconds=14)),
    ("15m", timedelta(minutes=15)),
    ("16h", timedelta(hours=16)),
    ("3h30m", timedelta(hours=3, minutes=30)),
    ("10.5s4m", timedelta(minutes=4, seconds=10.5)),
    ("-2m3.4s", -timedelta(minutes=2, seconds=3.4)),
    ("1h2m3s4ms5us6ns", timedelta(hours=1, minutes=2, seconds=3, milliseconds=4, microseconds=5)),
    ("39h9m14.425s", timedelta(hours=39, minutes=9, seconds=14.425)),
    ("52763797000ns", timedelta(seconds=52, microseconds=763797)),
    ("0.3333333333333333333h", timedelta(minutes=20) - us(1)),  # exact arithmetic, truncated
    ("9007199254740993ns", timedelta(seconds=9007199, microseconds=254740)),
    ("2562047h", timedelta(hours=2562047)),
    # how people write them for Gatepass
    ("90m", timedelta(minutes=90)),
    ("1h30m", timedelta(minutes=90)),
    ("1.5h", timedelta(minutes=90)),
    ("8h", timedelta(hours=8)),
    ("24h", timedelta(days=1)),
])
def test_parses_go_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty"),
    ("3", "missing unit"),
    ("-", "empty"),
    ("s", "expected a number"),
    (".", "at least one digit"),
    ("-.", "at least one digit"),
    (".s", "at least one digit"),
    ("+.s", "at least one digit"),
    ("1d", "no day unit"),
    ("1w", 'unknown unit "w"'),
    ("3000000h", "too long"),
    ("9223372036854775808ns", "too long"),
    ("1h 30m", 'unknown unit "h "'),
    (" 1h", "expected a number"),
    ("1h-30m", 'unknown unit "h-"'),
    ("1.2.3s", "missing unit"),
    ("１h", "expected a number"),  # a full-width digit is not a digit here
    ("1H", 'unknown unit "H"'),
])
def test_rejects_with_a_one_line_message_naming_the_input(text, problem):
    with pytest.raises(ValueError) as raised:
        parse_duration(text)
    message = str(raised.value)
    assert message.startswith(f'invalid duration "{text}"')
    assert problem in message
    assert "\n" not in message


def test_rejects_what_is_not_a_string():
    with pytest.raises(ValueError, match="not a string"):
        parse_duration(3600)  # type: ignore[arg-type]


def test_unknown_unit_message_lists_the_units():
    with pytest.raises(ValueError, match=r"use ns, us, ms, s, m or h"):
        parse_duration("5y")


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(0), "0s"),
    (us(1), "1us"),
    (us(999), "999us"),
    (us(1500), "1.5ms"),
    (timedelta(milliseconds=250), "250ms"),
    (timedelta(seconds=1), "1s"),
    (timedelta(seconds=1, milliseconds=500), "1.5s"),
    (timedelta(seconds=45), "45s"),
    (timedelta(seconds=90), "1m30s"),
    (timedelta(minutes=90), "1h30m"),
    (timedelta(hours=1), "1h"),
    (timedelta(hours=8), "8h"),
    (timedelta(days=1), "24h"),
    (timedelta(hours=1, seconds=1), "1h1s"),
    (timedelta(hours=1, microseconds=1), "1h0.000001s"),
    (timedelta(minutes=1, milliseconds=500), "1m0.5s"),
    (-timedelta(minutes=90), "-1h30m"),
    (-us(5), "-5us"),
])
def test_formats_the_short_form(delta, text):
    assert format_duration(delta) == text


@pytest.mark.parametrize("delta", [
    timedelta(0), us(1), us(7), us(1001), us(999_999), timedelta(seconds=1), us(1_000_001),
    timedelta(minutes=59, seconds=59, microseconds=999_999), timedelta(hours=2562047),
    timedelta(days=3, hours=4, minutes=5, seconds=6, microseconds=7), -timedelta(hours=1, microseconds=3),
] + [us(n * 7919) for n in range(0, 5000, 97)] + [timedelta(seconds=n * 3607) for n in range(0, 300, 13)])
def test_format_then_parse_gives_the_same_duration(delta):
    assert parse_duration(format_duration(delta)) == delta


# --- what Gatepass asks of a duration it is given ---------------------------------------------------

def test_checked_durations_are_longer_than_zero():
    assert checked_duration("90m") == timedelta(minutes=90)
    for text in ("0", "0s", "0h0m", "-1h"):
        with pytest.raises(ValueError) as raised:
            checked_duration(text)
        assert str(raised.value) == f'invalid duration "{text}": must be longer than zero'


def test_a_retention_may_be_zero_but_not_negative():
    assert checked_duration("0", zero=True) == timedelta(0)
    with pytest.raises(ValueError) as raised:
        checked_duration("-1h", zero=True)
    assert str(raised.value) == 'invalid duration "-1h": must not be negative'


def test_checked_duration_says_what_parse_duration_says():
    for text in ("1d", "", "1h 30m", "3000000h"):
        with pytest.raises(ValueError) as parsed:
            parse_duration(text)
        with pytest.raises(ValueError) as checked:
            checked_duration(text)
        assert str(checked.value) == str(parsed.value)


def test_duration_errors_name_each_bad_field():
    spec = {"maxDuration": "1d", "requestTTL": "30m", "maxStartDelay": "0s", "other": "1d"}
    assert duration_errors(spec, ("maxDuration", "requestTTL", "maxStartDelay", "absent")) == [
        'spec.maxDuration: invalid duration "1d": unknown unit "d" (there is no day unit, write 24h)',
        'spec.maxStartDelay: invalid duration "0s": must be longer than zero',
    ]
    assert duration_errors({"duration": 3600}, ("duration",)) == [
        "spec.duration: invalid duration 3600: not a string"]
