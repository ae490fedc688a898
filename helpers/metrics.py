"""Detection metrics with honest uncertainty.

- OSPA (original samples prediction accuracy): share of clean inputs *not* flagged.
- Detection success rate: share of *successful* adversarial examples flagged.
- Rates come with Wilson 95% intervals; ROC-AUC with a stratified bootstrap interval.
- A score threshold at a target false-positive rate is fitted on one half of the clean inputs
  and evaluated on the other half (seeded split), never on the data it reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from helpers.validation import check_number


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
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))  # contains p despite rounding


def format_rate(successes: int, n: int, confidence: float = 0.95) -> str:
    """'k/n = 80.0% (95% CI 49.0-94.3%)'."""
    if n == 0:
        return "0/0 (no cases)"
    lo, hi = wilson_interval(successes, n, confidence)
    return f"{successes}/{n} = {100 * successes / n:.1f}% ({100 * confidence:.0f}% CI {100 * lo:.1f}-{100 * hi:.1f}%)"


@dataclass(frozen=True)
class Rate:
    """A proportion k/n with its Wilson 95% interval (nan when n = 0)."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.k, self.n)


def _flags(flags) -> np.ndarray:
    flags = np.asarray(flags)
    if flags.ndim != 1 or (flags.size and flags.dtype != bool):
        raise ValueError(f"flags must be a 1-D boolean array, got shape {flags.shape}, dtype {flags.dtype}")
    return flags


def ospa(flags_clean) -> Rate:
    """Share of clean inputs the detector leaves alone (not flagged)."""
    flags = _flags(flags_clean)
    return Rate(int((~flags).sum()), flags.size)


def detection_rate(flags_adversarial) -> Rate:
    """Share of successful adversarial examples the detector flags."""
    flags = _flags(flags_adversarial)
    return Rate(int(flags.sum()), flags.size)


def roc(scores_clean, scores_adv) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve (fpr, tpr) and AUC for 'adversarial' = positive, higher score = more adversarial."""
    y, s = _labelled(scores_clean, scores_adv)
    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr, float(roc_auc_score(y, s))


def _labelled(scores_clean, scores_adv) -> tuple[np.ndarray, np.ndarray]:
    clean, adv = np.asarray(scores_clean, float).ravel(), np.asarray(scores_adv, float).ravel()
    if clean.size == 0 or adv.size == 0:
        raise ValueError(f"ROC needs clean and adversarial scores, got {clean.size} and {adv.size}")
    if not (np.all(np.isfinite(clean)) and np.all(np.isfinite(adv))):
        raise ValueError("scores must be finite")
    return np.r_[np.zeros(clean.size), np.ones(adv.size)], np.r_[clean, adv]


def auc_interval(scores_clean, scores_adv, n_boot: int = 1000, seed: int = 0,
                 confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the ROC-AUC over a bootstrap that resamples each class separately
    (all resamples at once: AUC as the Mann-Whitney statistic of average ranks)."""
    clean, adv = np.asarray(scores_clean, float).ravel(), np.asarray(scores_adv, float).ravel()
    _labelled(clean, adv)
    rng = np.random.default_rng(seed)
    boot_clean = clean[rng.integers(0, clean.size, (n_boot, clean.size))]
    boot_adv = adv[rng.integers(0, adv.size, (n_boot, adv.size))]
    ranks = rankdata(np.concatenate([boot_clean, boot_adv], axis=1), axis=1)[:, clean.size:]
    aucs = (ranks.sum(axis=1) - adv.size * (adv.size + 1) / 2) / (clean.size * adv.size)
    lo, hi = np.quantile(aucs, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def threshold_at_fpr(scores_clean, fpr: float) -> float:
    """The smallest threshold t such that at most ``fpr`` of ``scores_clean`` are > t
    (ties can only lower the realised rate)."""
    check_number(fpr, "fpr", 0.0, 1.0, high_open=True)
    scores = np.sort(np.asarray(scores_clean, float).ravel())
    if scores.size == 0:
        raise ValueError("need at least one clean score to set a threshold")
    allowed = int(np.floor(fpr * scores.size))
    return float(scores[scores.size - allowed - 1])


def calibration_split(n: int, seed: int) -> np.ndarray:
    """A seeded boolean mask choosing half of ``n`` items (rounded down) for calibration."""
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(seed).permutation(n)[: n // 2]] = True
    return mask


def grouped_split(groups, seed: int, fraction: float = 0.5) -> np.ndarray:
    """A seeded boolean mask choosing ``fraction`` of the distinct ``groups`` (rounded down) with every
    item of a chosen group: all views of one photograph fall on the same side.

    Args:
        groups: (N,) group of each item (e.g. ``ImageSet.photographs``).
        seed: the permutation's seed.
        fraction: the share of groups chosen, in [0, 1].

    Returns:
        (N,) bool mask, True for the chosen groups' items.
    """
    check_number(fraction, "fraction", 0.0, 1.0)
    groups = np.asarray(groups, dtype=object).ravel()
    distinct = np.array(sorted(set(groups.tolist())), dtype=object)
    chosen = distinct[np.random.default_rng(seed).permutation(distinct.size)[: int(fraction * distinct.size)]]
    return np.isin(groups, chosen)


def rate_row(rate: Rate) -> dict:
    """A table row's value, Wilson interval and n for a rate."""
    lo, hi = rate.interval
    return {"value": rate.value, "ci_low": lo, "ci_high": hi, "n": rate.n}


def score_rows(clean: np.ndarray, adv: np.ndarray, calib_clean: np.ndarray, calib_adv: np.ndarray,
               fpr: float, seed: int) -> list[dict]:
    """Rows for a continuous score: ROC-AUC with its bootstrap interval, and the held-out TPR and FPR
    at a threshold fitted at ``fpr`` on the calibration half (``calib_*`` masks) of the clean scores."""
    _, _, auc = roc(clean, adv)
    lo, hi = auc_interval(clean, adv, seed=seed)
    rows = [{"metric": "auc", "value": auc, "ci_low": lo, "ci_high": hi, "n": clean.size + adv.size}]
    if calib_clean.any() and (~calib_clean).any():
        threshold = threshold_at_fpr(clean[calib_clean], fpr)
        rows.append({"metric": "tpr_at_fpr", **rate_row(Rate(int((adv[~calib_adv] > threshold).sum()),
                                                              int((~calib_adv).sum())))})
        rows.append({"metric": "fpr_heldout", **rate_row(Rate(int((clean[~calib_clean] > threshold).sum()),
                                                               int((~calib_clean).sum())))})
    return rows
