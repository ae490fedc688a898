"""Rates with honest uncertainty."""

from __future__ import annotations

import math

from scipy.stats import norm


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (nan, nan) when n = 0."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n == 0:
        return math.nan, math.nan
    z = norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def format_rate(successes: int, n: int, confidence: float = 0.95) -> str:
    """'k/n = 80.0% (95% CI 49.0-94.3%)'."""
    if n == 0:
        return "0/0 (no cases)"
    lo, hi = wilson_interval(successes, n, confidence)
    return f"{successes}/{n} = {100 * successes / n:.1f}% ({100 * confidence:.0f}% CI {100 * lo:.1f}-{100 * hi:.1f}%)"
