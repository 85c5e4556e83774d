"""Bounds for counts of random arrivals that a correct generator leaves only by a one-in-a-million chance."""

from __future__ import annotations

import math

#: Chance that a correct implementation fails a bound check (both tails together).
FALSE_ALARM = 1e-6


def poisson_bounds(mean: float, p: float = FALSE_ALARM) -> tuple[int, int]:
    """(lo, hi) with P(X < lo) + P(X > hi) <= p for X ~ Poisson(mean), from the exact distribution."""
    if mean <= 0:
        return 0, 0
    cdf, k, lo = 0.0, 0, None
    while True:
        cdf += math.exp(k * math.log(mean) - mean - math.lgamma(k + 1))
        if lo is None and cdf > p / 2:
            lo = k  # P(X < k) <= p/2
        if 1.0 - cdf <= p / 2:
            return lo if lo is not None else 0, k
        k += 1
