"""Detection metrics with honest uncertainty.

- OSPA (original samples prediction accuracy): share of clean inputs *not* flagged.
- Detection success rate: share of *successful* adversarial examples flagged.
- Rates come with Wilson 95% intervals; ROC-AUC with a bootstrap interval.
- Views of one photograph (crops, mirror images) are not independent samples. Given each input's
  photograph (``groups``), a rate's interval is Wilson's at the effective sample size n / deff,
  deff the design effect from the intra-cluster correlation (:func:`design_effect`), and the AUC
  bootstrap resamples photographs with all their clean and adversarial inputs. With one input per
  photograph both equal the plain ones (deff = 1 exactly).
- A score threshold at a target false-positive rate is fitted on one half of the photographs' clean
  inputs and evaluated on the other half (seeded :func:`grouped_split`), never on the data it reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from sklearn.metrics import roc_auc_score, roc_curve

from helpers.validation import check_number


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (nan, nan) when n = 0.

    Args:
        successes: k, in [0, n].
        confidence: the interval's level, in (0, 1).

    Returns:
        (low, high), fractions.

    Raises:
        ValueError: successes outside [0, n], or confidence outside (0, 1)."""
    _check_proportion(successes, n, confidence)
    if n == 0:
        return math.nan, math.nan
    return _wilson(successes / n, n, norm.ppf(0.5 + confidence / 2))


def _check_proportion(successes: int, n: int, confidence: float) -> None:
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def _wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's interval around the proportion ``p`` for a sample size ``n`` (> 0, possibly effective)."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))  # contains p despite rounding


MIN_PHOTOGRAPHS_FOR_RHO = 3  # fewer clusters: rho is not estimated but taken as 1 (design_effect)


def design_effect(flags, groups) -> float:
    """Design effect of a proportion over clustered binary outcomes: deff = 1 + (sum n_i^2 / n - 1) rho
    (n_i the items of cluster i), rho the one-way ANOVA intra-cluster correlation, clipped to [0, 1].
    Exactly 1 when every cluster has one item; rho = 1 (views as copies: the cautious choice, never
    narrower than one observation per cluster) when it cannot be estimated: every outcome the same, or
    fewer than ``MIN_PHOTOGRAPHS_FOR_RHO`` clusters (one or two: at most one degree of freedom between
    clusters to estimate it from).

    Args:
        flags: (N,) booleans.
        groups: (N,) cluster of each item (e.g. its photograph).

    Returns:
        deff >= 1: the variance of the proportion relative to N independent items.

    Raises:
        ValueError: flags not 1-D boolean, or groups of another length."""
    flags = _flags(flags)
    _, cluster = _cluster_index(groups, flags.size)
    sizes = np.bincount(cluster)
    n, m = flags.size, sizes.size
    if m == n:
        return 1.0
    k = np.bincount(cluster, weights=flags)
    p, p_i = k.sum() / n, k / sizes
    between = float(np.sum(sizes * (p_i - p) ** 2)) / (m - 1) if m > 1 else 0.0
    within = float(np.sum(sizes * p_i * (1 - p_i))) / (n - m)
    n0 = (n - float(np.sum(sizes ** 2)) / n) / (m - 1) if m > 1 else float(n)
    denominator = between + (n0 - 1) * within
    # one or two photographs (under 2 degrees of freedom between them), or every outcome the same: no estimate
    # of rho, the views count as copies
    rho = 1.0 if m <= MIN_PHOTOGRAPHS_FOR_RHO - 1 or denominator <= 0 else \
        min(1.0, max(0.0, (between - within) / denominator))
    return 1.0 + (float(np.sum(sizes ** 2)) / n - 1.0) * rho


def clustered_interval(successes: int, n: int, deff: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's interval at the effective sample size ``n / deff`` (equal to :func:`wilson_interval`
    when deff = 1); (nan, nan) when n = 0.

    Args:
        successes: k, in [0, n].
        deff: the design effect (:func:`design_effect`), >= 1.
        confidence: the interval's level, in (0, 1).

    Returns:
        (low, high), fractions.

    Raises:
        ValueError: deff < 1, or the checks of :func:`wilson_interval`."""
    if not deff >= 1:
        raise ValueError(f"the design effect must be >= 1, got {deff}")
    if deff == 1 or n == 0:
        return wilson_interval(successes, n, confidence)
    _check_proportion(successes, n, confidence)
    return _wilson(successes / n, n / deff, norm.ppf(0.5 + confidence / 2))


@dataclass(frozen=True)
class Rate:
    """A proportion k/n over ``n_photographs`` photographs (None: one each) with its design effect
    ``deff`` and its 95% interval: Wilson's at the effective size n / deff (nan when n = 0).

    Attributes:
        deff: the design effect, >= 1."""

    k: int
    n: int
    n_photographs: int | None = None
    deff: float = 1.0

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def photographs(self) -> int:
        return self.n if self.n_photographs is None else self.n_photographs

    @property
    def interval(self) -> tuple[float, float]:
        return clustered_interval(self.k, self.n, self.deff)


def _flags(flags) -> np.ndarray:
    flags = np.asarray(flags)
    if flags.ndim != 1 or (flags.size and flags.dtype != bool):
        raise ValueError(f"flags must be a 1-D boolean array, got shape {flags.shape}, dtype {flags.dtype}")
    return flags


def _cluster_index(groups, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct groups (sorted) and each item's position among them."""
    groups = np.asarray(groups, dtype=object)
    if groups.shape != (n,):
        raise ValueError(f"groups must have one entry per item ({n}), got shape {groups.shape}")
    distinct, cluster = np.unique(groups.astype(str), return_inverse=True)
    return distinct, cluster.ravel()


def _rate(k: int, flags: np.ndarray, groups) -> Rate:
    if groups is None:
        return Rate(k, flags.size)
    distinct, _ = _cluster_index(groups, flags.size)
    return Rate(k, flags.size, int(distinct.size), design_effect(flags, groups))


def share(flags, groups=None) -> Rate:
    """Share of True ``flags``: any proportion over inputs (an attack's success, a model's accuracy); the
    detector's rates (:func:`ospa`, :func:`detection_rate`) are shares of its flags.

    Args:
        flags: (N,) bool, one per input.
        groups: (N,) each input's photograph, for an interval that counts views of one photograph as such
            (None: all distinct).

    Raises:
        ValueError: flags not 1-D boolean, or groups of another length."""
    flags = _flags(flags)
    return _rate(int(flags.sum()), flags, groups)


def ospa(flags_clean, groups=None) -> Rate:
    """Share of clean inputs the detector leaves alone (not flagged).

    Args:
        flags_clean: (N,) bool, the detector's flags on clean inputs.
        groups: (N,) each input's photograph, for an interval that counts views of one photograph as such
            (None: all distinct).

    Raises:
        ValueError: flags not 1-D boolean, or groups of another length."""
    flags = _flags(flags_clean)
    return _rate(int((~flags).sum()), ~flags, groups)


def detection_rate(flags_adversarial, groups=None) -> Rate:
    """Share of successful adversarial examples the detector flags.

    Args:
        flags_adversarial: (N,) bool, the detector's flags on successful adversarial examples.
        groups: (N,) each input's photograph, as in :func:`ospa`.

    Raises:
        ValueError: flags not 1-D boolean, or groups of another length."""
    return share(flags_adversarial, groups)


def roc(scores_clean, scores_adv) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve (fpr, tpr) and AUC for 'adversarial' = positive, higher score = more adversarial.

    Returns:
        (fpr, tpr, auc).

    Raises:
        ValueError: an empty class, or non-finite scores."""
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


def auc_interval(scores_clean, scores_adv, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95,
                 groups_clean=None, groups_adv=None) -> tuple[float, float]:
    """Percentile bootstrap interval of the ROC-AUC (AUC as the Mann-Whitney statistic; all
    resamples at once).

    Args:
        groups_clean, groups_adv: each score's photograph. Given, the bootstrap resamples photographs
            with all their clean and adversarial inputs (views and clean/adversarial pairs of one
            photograph stay together; resamples without both classes are skipped); None: each class
            resampled on its own, every input its own photograph.

    Returns:
        (low, high).

    Raises:
        ValueError: empty or non-finite scores, groups given for one class only or of another length."""
    clean, adv = np.asarray(scores_clean, float).ravel(), np.asarray(scores_adv, float).ravel()
    _labelled(clean, adv)
    if (groups_clean is None) != (groups_adv is None):
        raise ValueError("give the photographs of both classes' scores, or of neither")
    if groups_clean is None:
        rng = np.random.default_rng(seed)
        weights_clean = _multinomial_counts(rng, n_boot, clean.size)
        weights_adv = _multinomial_counts(rng, n_boot, adv.size)
    else:
        sizes = np.asarray(groups_clean, dtype=object).size, np.asarray(groups_adv, dtype=object).size
        if sizes != (clean.size, adv.size):
            raise ValueError(f"need one photograph per score: {sizes[0]} for {clean.size} clean, "
                             f"{sizes[1]} for {adv.size} adversarial scores")
        weights_clean, weights_adv = photograph_bootstrap(groups_clean, groups_adv, n_boot, seed)
    aucs = weighted_auc(clean, adv, weights_clean, weights_adv)
    lo, hi = np.nanquantile(aucs, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def photograph_bootstrap(groups_clean, groups_adv, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap resamples of photographs as weights on inputs: each resample draws as many
    photographs as there are, with replacement, and every clean and adversarial input of a drawn
    photograph counts as often as it was drawn.

    Args:
        groups_clean, groups_adv: the photograph of each clean and of each adversarial input.

    Returns:
        (n_boot, n_clean) and (n_boot, n_adv) integer weights."""
    groups_clean, groups_adv = (np.asarray(g, dtype=object).ravel() for g in (groups_clean, groups_adv))
    distinct, cluster = _cluster_index(np.r_[groups_clean, groups_adv], groups_clean.size + groups_adv.size)
    counts = _multinomial_counts(np.random.default_rng(seed), n_boot, distinct.size)
    return counts[:, cluster[:groups_clean.size]], counts[:, cluster[groups_clean.size:]]


def _multinomial_counts(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """(n_boot, n) how often each of ``n`` units is drawn in each bootstrap resample of size ``n``."""
    return rng.multinomial(n, np.full(n, 1 / n), size=n_boot)


def weighted_auc(clean: np.ndarray, adv: np.ndarray, weights_clean: np.ndarray,
                 weights_adv: np.ndarray) -> np.ndarray:
    """The Mann-Whitney AUC (ties count one half) of each row of weights: (B, n_clean) and (B, n_adv)
    multiplicities of the scores; nan for a row without clean or adversarial weight.

    Args:
        clean: (n_clean,) clean scores.
        adv: (n_adv,) adversarial scores.
        weights_clean: (B, n_clean) multiplicities of the clean scores.
        weights_adv: (B, n_adv) multiplicities of the adversarial scores.

    Returns:
        (B,) AUCs."""
    order = np.argsort(clean, kind="stable")
    sorted_clean = clean[order]
    cumulative = np.concatenate([np.zeros((len(weights_clean), 1)), np.cumsum(weights_clean[:, order], axis=1)],
                                axis=1)
    below, up_to = np.searchsorted(sorted_clean, adv, "left"), np.searchsorted(sorted_clean, adv, "right")
    wins = cumulative[:, below] + 0.5 * (cumulative[:, up_to] - cumulative[:, below])
    total = weights_clean.sum(axis=1) * weights_adv.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (weights_adv * wins).sum(axis=1) / total, np.nan)


def threshold_at_fpr(scores_clean, fpr: float) -> float:
    """The smallest threshold t such that at most ``fpr`` of ``scores_clean`` are > t
    (ties can only lower the realised rate).

    Args:
        fpr: the target false-positive rate, in [0, 1).

    Returns:
        the threshold t (an input is flagged when its score > t).

    Raises:
        TypeError: ``fpr`` is not a number.
        ValueError: ``fpr`` outside [0, 1), or no clean score."""
    check_number(fpr, "fpr", 0.0, 1.0, high_open=True)
    scores = np.sort(np.asarray(scores_clean, float).ravel())
    if scores.size == 0:
        raise ValueError("need at least one clean score to set a threshold")
    allowed = int(np.floor(fpr * scores.size))
    return float(scores[scores.size - allowed - 1])


def grouped_split(groups, seed: int, fraction: float = 0.5) -> np.ndarray:
    """A seeded boolean mask choosing ``fraction`` of the distinct ``groups`` (rounded down) with every
    item of a chosen group: all views of one photograph fall on the same side.

    Args:
        groups: (N,) group of each item (e.g. ``ImageSet.photographs``).
        fraction: the share of groups chosen, in [0, 1].

    Returns:
        (N,) bool mask, True for the chosen groups' items."""
    check_number(fraction, "fraction", 0.0, 1.0)
    groups = np.asarray(groups, dtype=object).ravel()
    distinct = np.array(sorted(set(groups.tolist())), dtype=object)
    chosen = distinct[np.random.default_rng(seed).permutation(distinct.size)[: int(fraction * distinct.size)]]
    return np.isin(groups, chosen)


MIN_EXPECTED_FALSE_POSITIVES = 5  # fpr x n_calibration below this: a matched-FPR threshold is not resolvable


def rate_row(rate: Rate) -> dict:
    """A table row's value, interval (Wilson at the effective sample size), n (inputs) and
    n_photographs for a rate.

    Returns:
        ``{"value", "ci_low", "ci_high", "n", "n_photographs"}``."""
    lo, hi = rate.interval
    return {"value": rate.value, "ci_low": lo, "ci_high": hi, "n": rate.n, "n_photographs": rate.photographs}


def resolvable(fpr: float, n_calibration: int) -> bool:
    """Whether ``n_calibration`` clean scores can place a threshold at ``fpr``: at least
    ``MIN_EXPECTED_FALSE_POSITIVES`` expected false positives among them (else the threshold is the
    largest score, nominally 0% FPR).

    Args:
        n_calibration: the number of calibration *photographs* (views of one photograph count once)."""
    return fpr * n_calibration >= MIN_EXPECTED_FALSE_POSITIVES


def score_rows(clean: np.ndarray, adv: np.ndarray, calib_clean: np.ndarray, calib_adv: np.ndarray,
               fpr: float, seed: int, groups_clean=None, groups_adv=None) -> list[dict]:
    """Rows for a continuous score: ROC-AUC with its bootstrap interval, and the held-out TPR and FPR
    at a threshold fitted at ``fpr`` on the calibration half (``calib_*`` masks) of the clean scores.

    With ``groups_*`` (each score's photograph) the AUC bootstrap resamples photographs and the rates
    count views of one photograph as such (:class:`Rate`). Where ``fpr`` x the calibration clean
    scores < ``MIN_EXPECTED_FALSE_POSITIVES`` the ``tpr_at_fpr`` row has no value (nan) and its
    ``note`` says "not resolvable at n = N"; the realised held-out FPR (``fpr_heldout``) is given
    either way. Every row has ``n_calibration``, the calibration photographs the threshold was fitted on (the
    clean scores without ``groups_clean``): the rule counts photographs, not their views.

    Args:
        clean: (N_clean,) clean scores.
        adv: (N_adv,) adversarial scores.
        calib_clean: (N_clean,) bool, the clean scores of the calibration half.
        calib_adv: (N_adv,) bool, the adversarial scores of the calibration half (left out of the TPR).
        groups_clean, groups_adv: each score's photograph, or None.

    Returns:
        dicts with ``metric`` ('auc', 'tpr_at_fpr', 'fpr_heldout'), ``value``, ``ci_low``, ``ci_high``,
        ``n``, ``n_photographs``, ``n_calibration`` and ``note``; the two rates only when both halves hold
        clean scores.

    Raises:
        ValueError: empty or non-finite scores, or groups of another length."""
    _, _, auc = roc(clean, adv)
    lo, hi = auc_interval(clean, adv, seed=seed, groups_clean=groups_clean, groups_adv=groups_adv)
    n_photographs = clean.size + adv.size if groups_clean is None else \
        len(set(np.asarray(groups_clean).tolist()) | set(np.asarray(groups_adv).tolist()))
    # the fpr x n >= 5 rule counts calibration photographs: views of one photograph are no new draws
    n_calibration = int(calib_clean.sum()) if groups_clean is None else \
        len(set(np.asarray(groups_clean, dtype=object)[calib_clean].tolist()))
    rows = [{"metric": "auc", "value": auc, "ci_low": lo, "ci_high": hi, "n": clean.size + adv.size,
             "n_photographs": n_photographs, "n_calibration": n_calibration, "note": ""}]
    if calib_clean.any() and (~calib_clean).any():
        threshold = threshold_at_fpr(clean[calib_clean], fpr)
        held_adv, held_clean = ~calib_adv, ~calib_clean
        tpr = _rate(int((adv[held_adv] > threshold).sum()), adv[held_adv] > threshold, _part(groups_adv, held_adv))
        row = {"metric": "tpr_at_fpr", **rate_row(tpr), "n_calibration": n_calibration, "note": ""}
        if not resolvable(fpr, n_calibration):
            row.update(value=np.nan, ci_low=np.nan, ci_high=np.nan, note=f"not resolvable at n = {n_calibration}")
        realised = clean[held_clean] > threshold
        rows += [row, {"metric": "fpr_heldout", **rate_row(_rate(int(realised.sum()), realised,
                                                                 _part(groups_clean, held_clean))),
                       "n_calibration": n_calibration, "note": ""}]
    return rows


def _part(groups, mask: np.ndarray):
    return None if groups is None else np.asarray(groups, dtype=object)[mask]
