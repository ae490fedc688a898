"""Verdicts from 95% intervals: how one rate or AUC compares with another, never from point estimates.

Every comparison a run prints (the overlay against the noise alone and the baseline, saliency against Feature
Squeezing, the paper's claims) is decided here, so that one module holds every such rule (``make mutate``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

BETTER, WORSE, NOT_RESOLVED, NOT_MEASURED = "better", "worse", "not resolved", "not measured"
REVERSED = "separates, reversed"  # a score whose AUC interval lies below 0.5: it ranks adversarial inputs lower


def interval_verdict(a_low: float, a_high: float, b_low: float, b_high: float) -> str:
    """How a compares with b from their 95% intervals: ``BETTER`` when a's lies wholly above b's, ``WORSE`` when
    wholly below, else ``NOT_RESOLVED`` (overlapping intervals, a conservative reading: no verdict from point
    estimates); ``NOT_MEASURED`` when a bound is missing."""
    if any(np.isnan(v) for v in (a_low, a_high, b_low, b_high)):
        return NOT_MEASURED
    return BETTER if a_low > b_high else WORSE if a_high < b_low else NOT_RESOLVED


def versus_baseline(a_low: float, a_high: float, base_low: float, base_high: float) -> str:
    """:func:`interval_verdict` of an AUC against the 1 − max softmax baseline's, whose orientation is fixed before
    the data (a higher score means adversarial): a baseline whose interval lies below 0.5 separates the inputs
    with its sign reversed, ``REVERSED``, not a loss of the baseline to a."""
    if not np.isnan(base_high) and base_high < 0.5:
        return REVERSED
    return interval_verdict(a_low, a_high, base_low, base_high)


CLAIM_VERDICTS = {BETTER: "holds", WORSE: "fails", NOT_RESOLVED: "not resolved", NOT_MEASURED: "not measured"}


def claim_verdict(left: tuple[float, float, float], right: tuple[float, float, float], paper: bool) -> str:
    """Whether a claim 'left > right' holds, each side (value, 95% low, 95% high): on the paper's numbers (no
    intervals published) by the values, 'holds', 'fails' or 'tie' (a tie is no failure); on ours by the intervals,
    'holds', 'fails', 'not resolved' or 'not measured' (:data:`CLAIM_VERDICTS`)."""
    if paper:
        return "holds" if left[0] > right[0] else "fails" if left[0] < right[0] else "tie"
    return CLAIM_VERDICTS[interval_verdict(left[1], left[2], right[1], right[2])]


Intervals = tuple[tuple[float, float], ...]  # one (95% low, 95% high) per rate, in a fixed order


def dominates(candidate: Intervals, rivals: Iterable[Intervals]) -> bool:
    """Whether ``candidate`` is :data:`BETTER` than every rival on every rate, by the intervals (the paper's Table V
    advantage: more clean labels kept *and* more examples detected). False when there is no rival."""
    rivals = list(rivals)
    return bool(rivals) and all(interval_verdict(*mine, *theirs) == BETTER
                                for rival in rivals for mine, theirs in zip(candidate, rival, strict=True))
