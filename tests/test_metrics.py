import math

import pytest

from helpers.metrics import format_rate, wilson_interval


def test_wilson_matches_hand_computed_values():
    # 8/10 at 95%: p=0.8, z=1.95996; centre=(0.8+0.19207)/1.38415=0.71674, half=0.22656.
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.49016, abs=1e-4) and hi == pytest.approx(0.94332, abs=1e-4)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.16113, abs=1e-4)
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.83887, abs=1e-4)


def test_wilson_edge_cases():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(1, 2, confidence=1.0)
    assert format_rate(0, 0) == "0/0 (no cases)"
    assert format_rate(8, 10) == "8/10 = 80.0% (95% CI 49.0-94.3%)"
