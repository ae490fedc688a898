import math

import numpy as np
import pytest

from helpers.metrics import (
    Rate,
    auc_interval,
    calibration_split,
    detection_rate,
    format_rate,
    ospa,
    roc,
    threshold_at_fpr,
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
    assert format_rate(0, 0) == "0/0 (no cases)"
    assert format_rate(8, 10) == "8/10 = 80.0% (95% CI 49.0-94.3%)"


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


def test_calibration_split_is_seeded_and_half():
    a, b = calibration_split(11, 3), calibration_split(11, 3)
    np.testing.assert_array_equal(a, b)
    assert a.sum() == 5 and not np.array_equal(a, calibration_split(11, 4))


def test_grouped_split_keeps_every_group_on_one_side_and_takes_half_the_groups():
    from helpers.metrics import grouped_split

    groups = np.array([f"photo{i % 5}" for i in range(17)], dtype=object)  # 5 groups of 3-4 views
    for seed in range(20):
        mask = grouped_split(groups, seed)
        for g in set(groups):
            assert len(set(mask[groups == g])) == 1, (seed, g)
        assert len(set(groups[mask])) == 2  # floor(0.5 * 5) groups
    assert np.array_equal(grouped_split(groups, 7), grouped_split(groups, 7))


def test_grouped_split_with_one_item_per_group_chooses_that_many_items():
    from helpers.metrics import grouped_split

    mask = grouped_split(np.array([str(i) for i in range(10)], dtype=object), seed=1, fraction=0.3)
    assert mask.sum() == 3
