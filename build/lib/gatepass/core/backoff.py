"""How long to wait before trying again: one rule for every retry Gatepass makes.

The wait doubles with each consecutive failure, from ``base`` up to ``cap``.
``jittered`` then spreads it down to between half and all of that, so that
many retries started together do not arrive together. The random source is a
parameter, so the core stays deterministic under test.
"""

from __future__ import annotations

from collections.abc import Callable


def ceiling(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after consecutive failure number ``attempt`` (1, 2, ...): base * 2^(attempt-1), capped."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    return min(cap, base * 2.0 ** min(attempt - 1, 64))


def jittered(attempt: int, base: float, cap: float, rng: Callable[[], float]) -> float:
    """``ceiling`` spread down to between half and all of it; ``rng`` returns a float in [0, 1)."""
    return ceiling(attempt, base, cap) * (0.5 + 0.5 * rng())
