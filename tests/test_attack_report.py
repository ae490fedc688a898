import math

import numpy as np
import pytest

from helpers.attack_report import attack_summary
from helpers.attacks import AttackResult


def result(success, l2, linf, seconds=2.0):
    n = len(success)
    return AttackResult("x", np.zeros((n, 2, 2, 3), np.float32), np.array(success), np.zeros(n, np.int32),
                        np.ones(n, np.int32), None, np.array(l2, np.float32), np.array(linf, np.float32), {}, seconds)


def test_attack_summary_uses_successful_examples_only():
    summary = attack_summary({"a": result([True, False, True, True], [1.0, 9.0, 2.0, 6.0], [0.01, 0.5, 0.02, 0.03]),
                              "none": result([False, False], [1.0, 1.0], [0.1, 0.1])})
    a, none = summary.iloc[0], summary.iloc[1]
    assert a["n"] == 4 and a["successes"] == 3 and a["success_rate"] == 0.75
    assert a["l2_mean"] == pytest.approx(3.0) and a["l2_median"] == pytest.approx(2.0)
    assert a["linf_median_255"] == pytest.approx(0.02 * 255)
    assert not any("second" in column for column in summary.columns)  # timings belong in make benchmark
    assert 0.3 < a["success_rate_ci_low"] < 0.75 < a["success_rate_ci_high"] <= 1.0
    assert none["success_rate"] == 0.0 and math.isnan(none["l2_mean"])
