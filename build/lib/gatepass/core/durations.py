"""Go-style durations ("90m", "1h30m", "1.5h"), as Kubernetes users write them.

parse_duration follows Go's time.ParseDuration: an optional sign, then one or
more decimal numbers each followed by a unit (ns, us, µs, μs, ms, s, m, h).
There is no day unit. "0" alone is zero. Arithmetic is exact (no floats);
the result is truncated to the microsecond that timedelta can hold.

checked_duration adds what Gatepass asks of every duration it is given (a
request's duration, a policy's maxDuration, the operator's --retention): longer
than zero, or for a retention at least zero. Its one-line messages are the
ones every way in shows: kubectl access, admission (kubectl apply) and Helm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from fractions import Fraction
from typing import Callable

NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
MAX_NS = (1 << 63) - 1  # Go's time.Duration is an int64 of nanoseconds

# Every message, as a format string. The Helm chart's check of operator.retention is generated
# from these and from NS_PER_UNIT (gatepass.devcluster.installgen), so that it says what this module says.
INVALID = 'invalid duration "{text}": {problem}'
UNITS_HINT = 'use ns, us, ms, s, m or h, e.g. "90m" or "1h30m"'
DAY_HINT = "there is no day unit, write 24h"
EMPTY = "empty ({hint})"
EXPECTED_NUMBER = 'expected a number at "{rest}"'
NEEDS_A_DIGIT = "a number needs at least one digit"
MISSING_UNIT = "missing unit ({hint})"
UNKNOWN_UNIT = 'unknown unit "{unit}" ({hint})'
TOO_LONG = "too long (the maximum is about 2562047h)"
MUST_BE_POSITIVE = "must be longer than zero"
MUST_NOT_BE_NEGATIVE = "must not be negative"


def _error(text: str, problem: str) -> ValueError:
    return ValueError(INVALID.format(text=text, problem=problem))


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string; raise ValueError with a one-line message."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: not a string")
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return timedelta(0)
    if not rest:
        raise _error(text, EMPTY.format(hint=UNITS_HINT))
    total = Fraction(0)
    while rest:
        if not (rest[0] == "." or _is_digit(rest[0])):
            raise _error(text, EXPECTED_NUMBER.format(rest=rest))
        whole = _take(rest, _is_digit)
        rest = rest[len(whole):]
        fraction = ""
        if rest[:1] == ".":
            fraction = _take(rest[1:], _is_digit)
            rest = rest[1 + len(fraction):]
        if not whole and not fraction:
            raise _error(text, NEEDS_A_DIGIT)
        unit = _take(rest, lambda c: not (c == "." or _is_digit(c)))
        rest = rest[len(unit):]
        if not unit:
            raise _error(text, MISSING_UNIT.format(hint=UNITS_HINT))
        if unit not in NS_PER_UNIT:
            raise _error(text, UNKNOWN_UNIT.format(unit=unit, hint=DAY_HINT if unit == "d" else UNITS_HINT))
        number = Fraction(int(whole or "0"))
        if fraction:
            number += Fraction(int(fraction), 10 ** len(fraction))
        total += number * NS_PER_UNIT[unit]
        if total > MAX_NS:
            raise _error(text, TOO_LONG)
    nanoseconds = int(total)  # truncates toward zero, as Go does
    delta = timedelta(microseconds=nanoseconds // 1000)
    return -delta if negative else delta


def checked_duration(text: str, *, zero: bool = False) -> timedelta:
    """parse_duration, and longer than zero (``zero``: at least zero); ValueError with one line otherwise."""
    delta = parse_duration(text)
    if delta < timedelta(0) or (delta == timedelta(0) and not zero):
        raise _error(text, MUST_NOT_BE_NEGATIVE if zero else MUST_BE_POSITIVE)
    return delta


def duration_errors(spec: Mapping, fields: Iterable[str], path: str = "spec") -> list[str]:
    """'spec.duration: invalid duration "1d": unknown unit "d" (...)' for each of ``fields`` that ``spec``
    sets to something checked_duration refuses; fields it leaves out take their defaults."""
    errors = []
    for name in fields:
        value = spec.get(name)
        if value is None:
            continue
        try:
            checked_duration(value)
        except ValueError as error:
            errors.append(f"{path}.{name}: {error}")
    return errors


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def _take(text: str, accept: Callable[[str], bool]) -> str:
    end = 0
    while end < len(text) and accept(text[end]):
        end += 1
    return text[:end]


def format_duration(delta: timedelta) -> str:
    """The short Go-style form: "1h30m", "45s", "1m0.5s" -> "1m0.5s", "250ms".

    Zero components are left out ("1h", not "1h0m0s"); parse_duration reads
    every result back to the same timedelta.
    """
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    if micros < 1_000_000:
        if micros < 1_000:
            return f"{sign}{micros}us"
        return f"{sign}{_decimal(micros, 1_000)}ms"
    hours, micros = divmod(micros, 3600 * 1_000_000)
    minutes, micros = divmod(micros, 60 * 1_000_000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if micros:
        parts.append(f"{_decimal(micros, 1_000_000)}s")
    return sign + "".join(parts)


def _decimal(amount: int, per_unit: int) -> str:
    whole, rest = divmod(amount, per_unit)
    if not rest:
        return str(whole)
    digits = len(str(per_unit)) - 1
    return f"{whole}.{rest:0{digits}d}".rstrip("0")
