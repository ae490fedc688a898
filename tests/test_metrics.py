import math

import numpy as np
import pytest

from helpers.metrics import (
    Rate,
    auc_interval,
    clustered_interval,
    design_effect,
    detection_rate,
    grouped_split,
    ospa,
    rate_row,
    resolvable,
    roc,
    score_rows,
    threshold_at_fpr,
    weighted_auc,
    wilson_interval,
)


def test_wilson_matches_hand_computed_values():
    # 8/10 at 95%: p=0.8, z=1.95996; centre=(0.8+0.19207)/1.38415=0.71674, half=0.22656.
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.49016, abs=1e-4) and hi == pytest.approx(0.94332, abs=1e-4)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.16113, abs=1e-4)
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.83887, abs=1e-4)
    assert wilson_interval(0, 3)[0] == 0.0  # not 5.6e-17 from rounding: error bars must not be negative
    assert all(lo <= k / n <= hi for n in range(1, 60) for k in range(n + 1) for lo, hi in [wilson_interval(k, n)])


def test_wilson_edge_cases():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence=1.0)


def test_ospa_and_detection_rate_count_by_hand():
    flags = np.array([True, False, False, True, False])
    assert ospa(flags) == Rate(3, 5) and ospa(flags).value == 0.6
    assert detection_rate(flags) == Rate(2, 5)
    assert detection_rate(np.ones(4, bool)).value == 1.0 and ospa(np.ones(4, bool)).value == 0.0
    empty = detection_rate(np.zeros(0, bool))
    assert empty.n == 0 and math.isnan(empty.value) and all(math.isnan(v) for v in empty.interval)
    with pytest.raises(ValueError, match="boolean"):
        ospa(np.array([0, 1]))


def test_roc_auc_by_hand_and_bootstrap_interval():
    clean, adv = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.35, 0.5, 0.6])
    # Pairs (adv > clean): 0.35 beats 3 of 4, 0.5 and 0.6 beat all 4: 11/12.
    fpr, tpr, auc = roc(clean, adv)
    assert auc == pytest.approx(11 / 12)
    assert fpr[0] == 0 and tpr[-1] == 1
    lo, hi = auc_interval(clean, adv, n_boot=300, seed=1)
    assert 0.5 < lo <= 11 / 12 <= hi <= 1.0
    assert auc_interval(clean, adv, n_boot=300, seed=1) == (lo, hi)
    assert roc(np.zeros(3), np.zeros(2))[2] == 0.5  # all tied
    with pytest.raises(ValueError, match="clean and adversarial"):
        roc(clean, [])
    with pytest.raises(ValueError, match="finite"):
        roc(clean, [np.nan])


def test_threshold_at_fpr():
    scores = np.arange(20, dtype=float)  # 0..19
    t = threshold_at_fpr(scores, 0.1)  # at most 2 of 20 may exceed it
    assert t == 17.0 and (scores > t).sum() == 2
    assert threshold_at_fpr(scores, 0.0) == 19.0
    assert threshold_at_fpr(np.ones(10), 0.3) == 1.0  # ties: nothing exceeds
    with pytest.raises(ValueError, match="fpr"):
        threshold_at_fpr(scores, 1.0)
    with pytest.raises(ValueError, match="at least one"):
        threshold_at_fpr([], 0.1)


def test_grouped_split_keeps_every_group_on_one_side_and_takes_half_the_groups():
    groups = np.array([f"photo{i % 5}" for i in range(17)], dtype=object)  # 5 groups of 3-4 views
    for seed in range(20):
        mask = grouped_split(groups, seed)
        for g in set(groups):
            assert len(set(mask[groups == g])) == 1, (seed, g)
        assert len(set(groups[mask])) == 2  # floor(0.5 * 5) groups
    assert np.array_equal(grouped_split(groups, 7), grouped_split(groups, 7))


def test_grouped_split_with_one_item_per_group_chooses_that_many_items():
    mask = grouped_split(np.array([str(i) for i in range(10)], dtype=object), seed=1, fraction=0.3)
    assert mask.sum() == 3


def test_one_view_per_photograph_gives_plain_wilson_exactly():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 16, 200):
        flags = rng.random(n) < 0.3
        groups = np.array([f"photo{i}" for i in range(n)], dtype=object)
        assert design_effect(flags, groups) == 1.0
        rate = detection_rate(flags, groups)
        assert rate.interval == wilson_interval(int(flags.sum()), n)  # exact, not approximately
        assert rate_row(rate)["n"] == rate_row(rate)["n_photographs"] == n
        assert ospa(flags, groups).interval == wilson_interval(int((~flags).sum()), n)


def test_design_effect_by_hand():
    groups = np.repeat(["a", "b", "c", "d"], 2)
    copies = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)  # both views of a photograph always agree: rho = 1
    assert design_effect(copies, groups) == 2.0
    assert clustered_interval(4, 8, 2.0) == pytest.approx(wilson_interval(2, 4), abs=1e-12)  # n_eff = 4
    assert detection_rate(copies, groups) == Rate(4, 8, 4, 2.0)
    # Views that disagree as often as chance allows: MSB = 0 < MSW, rho clipped to 0.
    assert design_effect(np.array([1, 0, 0, 1, 1, 0, 0, 1], bool), groups) == 1.0
    # Unequal clusters (3, 2, 1 views), k = (2, 0, 1): p = 1/2; MSB = (3/36 + 2/4 + 1/4) / 2 = 5/12,
    # MSW = (3 * 2/9) / 3 = 2/9, n0 = (6 - 14/6) / 2 = 11/6, rho = (5/12 - 2/9) / (5/12 + 5/6 * 2/9) = 21/65;
    # deff = 1 + (14/6 - 1) * rho = 1 + 4/3 * 21/65 = 93/65.
    flags = np.array([1, 1, 0, 0, 0, 1], bool)
    assert design_effect(flags, ["x", "x", "x", "y", "y", "z"]) == pytest.approx(93 / 65, rel=1e-12)
    assert design_effect(np.ones(4, bool), ["a", "a", "b", "b"]) == 2.0  # no spread: views taken as copies
    with pytest.raises(ValueError, match="one entry per item"):
        design_effect(copies, groups[:3])
    with pytest.raises(ValueError, match="design effect must be >= 1"):
        clustered_interval(2, 4, 0.5)


def _beta_binomial_clusters(rng, reps: int, m: int, size: int, p: float, rho: float) -> np.ndarray:
    """(reps, m * size) outcomes: m photographs of ``size`` views each, views of a photograph
    correlated with intra-cluster correlation ``rho`` (a photograph's own rate drawn from a beta)."""
    s = (1 - rho) / rho
    own = rng.beta(p * s, (1 - p) * s, (reps, m))
    return (rng.random((reps, m, size)) < own[..., None]).reshape(reps, m * size)


@pytest.mark.parametrize(("m", "size", "p", "rho"), [(30, 2, 0.3, 0.5), (100, 2, 0.3, 0.7), (40, 4, 0.3, 0.5)])
def test_clustered_interval_covers_95_percent_on_simulated_views(m, size, p, rho):
    rng = np.random.default_rng(20)
    outcomes = _beta_binomial_clusters(rng, 3000, m, size, p, rho)
    groups = np.repeat(np.arange(m).astype(str), size)
    covered, covered_plain = [], []
    for flags in outcomes:
        k, n = int(flags.sum()), flags.size
        lo, hi = clustered_interval(k, n, design_effect(flags, groups))
        covered.append(lo <= p <= hi)
        lo, hi = wilson_interval(k, n)
        covered_plain.append(lo <= p <= hi)
    assert abs(np.mean(covered) - 0.95) <= 0.02
    assert np.mean(covered_plain) < 0.90  # plain Wilson, views counted as photographs, is too narrow


def test_weighted_auc_equals_auc_of_the_expanded_sample():
    rng = np.random.default_rng(3)
    clean, adv = rng.normal(size=7).round(1), rng.normal(0.5, size=5).round(1)  # rounded: ties
    w_clean, w_adv = rng.integers(0, 3, (20, 7)), rng.integers(0, 3, (20, 5))
    w_adv[0] = 0
    got = weighted_auc(clean, adv, w_clean, w_adv)
    assert np.isnan(got[0])
    for b in range(1, 20):
        c, a = np.repeat(clean, w_clean[b]), np.repeat(adv, w_adv[b])
        if c.size:
            assert got[b] == pytest.approx(roc(c, a)[2], abs=1e-12)


def test_auc_bootstrap_over_photographs_keeps_views_and_pairs_together():
    rng = np.random.default_rng(5)
    photos = np.repeat([f"p{i}" for i in range(6)], 2)  # 6 photographs x 2 views
    clean = rng.normal(size=12)
    adv_rows = np.array([0, 1, 2, 3, 6, 7, 10])  # the views with a successful adversarial example
    adv = rng.normal(1.0, size=adv_rows.size)
    lo, hi = auc_interval(clean, adv, n_boot=400, seed=2, groups_clean=photos, groups_adv=photos[adv_rows])
    # The same by hand: draw photographs, take every clean and adversarial row of each drawn photograph.
    boot = np.random.default_rng(2).multinomial(6, np.full(6, 1 / 6), size=400)
    distinct = sorted(set(photos))
    aucs = []
    for counts in boot:
        c = np.concatenate([np.repeat(clean[photos == g], counts[j]) for j, g in enumerate(distinct)])
        a = np.concatenate([np.repeat(adv[photos[adv_rows] == g], counts[j]) for j, g in enumerate(distinct)])
        if a.size:
            aucs.append(np.mean((a[:, None] > c) + 0.5 * (a[:, None] == c)))  # Mann-Whitney by pairs
    assert (lo, hi) == pytest.approx(tuple(np.quantile(aucs, [0.025, 0.975])), abs=1e-12)
    with pytest.raises(ValueError, match="both classes"):
        auc_interval(clean, adv, groups_clean=photos)
    with pytest.raises(ValueError, match="one photograph per score"):
        auc_interval(clean, adv, groups_clean=photos, groups_adv=photos)


def test_matched_fpr_needs_five_expected_false_positives():
    assert resolvable(0.05, 100) and not resolvable(0.05, 99) and not resolvable(0.05, 12)
    rng = np.random.default_rng(1)
    clean, adv = rng.normal(size=24), rng.normal(2, size=24)
    photos = np.repeat([f"p{i}" for i in range(12)], 2)
    calib = grouped_split(photos, 0)
    rows = {r["metric"]: r for r in score_rows(clean, adv, calib, calib, 0.05, 0, photos, photos)}
    assert rows["tpr_at_fpr"]["note"] == "not resolvable at n = 6" and np.isnan(rows["tpr_at_fpr"]["value"])
    threshold = clean[calib].max()  # nominally 0% FPR: the largest calibration score
    assert rows["fpr_heldout"]["value"] == np.mean(clean[~calib] > threshold)
    assert rows["fpr_heldout"]["n"] == 12 and rows["fpr_heldout"]["n_photographs"] == 6
    assert rows["auc"]["n"] == 48 and rows["auc"]["n_photographs"] == 12
    # the rule counts the 6 calibration photographs, not their 12 views: 0.5 x 6 < 5 (0.5 x 12 would pass)
    rows = {r["metric"]: r for r in score_rows(clean, adv, calib, calib, 0.5, 0, photos, photos)}
    assert rows["tpr_at_fpr"]["note"] == "not resolvable at n = 6" and rows["tpr_at_fpr"]["n_calibration"] == 6
    rows = {r["metric"]: r for r in score_rows(clean, adv, calib, calib, 0.9, 0, photos, photos)}
    assert rows["tpr_at_fpr"]["note"] == "" and rows["tpr_at_fpr"]["n_calibration"] == 6
    assert rows["tpr_at_fpr"]["value"] == np.mean(adv[~calib] > threshold_at_fpr(clean[calib], 0.9))


def test_design_effect_is_conservative_when_rho_cannot_be_estimated():
    """One photograph: rho has no between-photograph variance to come from, so the views count as copies
    (deff = n, the interval of one observation); clusters of one: deff = 1 exactly, as many observations as
    photographs. Never narrower than one observation per photograph."""
    from helpers.metrics import design_effect

    flags = np.array([True, False, True, True, False, True])
    assert design_effect(flags, ["a"] * 6) == pytest.approx(6.0)
    from helpers.metrics import _wilson

    one = _wilson(4 / 6, 1.0, 1.959963984540054)  # one observation with the share 4/6
    assert clustered_interval(4, 6, design_effect(flags, ["a"] * 6)) == pytest.approx(one)
    assert design_effect(flags, list("abcdef")) == 1.0
    # two photographs: one degree of freedom between them, no estimate of rho either (the estimator would give 0
    # here and an interval as narrow as 6 independent images); the views count as copies, n_eff = 2
    two = np.array([True, True, False, True, False, False])
    assert design_effect(two, list("aaabbb")) == pytest.approx(3.0)
    three = np.array([True, False, True, False, True, False])  # three photographs: estimated (here rho = 0)
    assert design_effect(three, list("aabbcc")) == 1.0

