"""The one retry rule: doubling, capped, jittered down to at most half."""

import pytest

from gatepass.core.backoff import ceiling, jittered


def test_the_wait_doubles_from_the_base_up_to_the_cap():
    assert [ceiling(n, 0.25, 30.0) for n in range(1, 10)] == [0.25, 0.5, 1, 2, 4, 8, 16, 30, 30]


def test_a_huge_attempt_count_stays_at_the_cap():
    assert ceiling(10_000, 1.0, 30.0) == 30.0


def test_attempts_count_from_one():
    with pytest.raises(ValueError, match="from 1"):
        ceiling(0, 1.0, 30.0)


@pytest.mark.parametrize("draw, expected", [(0.0, 2.0), (0.5, 3.0), (0.999999, 3.999998)])
def test_jitter_spreads_the_wait_between_half_and_all_of_it(draw, expected):
    assert jittered(3, 1.0, 30.0, lambda: draw) == pytest.approx(expected)
