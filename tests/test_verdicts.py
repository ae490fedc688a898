"""The verdicts every comparison prints, on hand-computed intervals: each boundary on both sides."""

import numpy as np
import pytest

from helpers.verdicts import claim_verdict, dominates, interval_verdict, versus_baseline

NAN = np.nan


@pytest.mark.parametrize("a, b, verdict", [
    ((0.6, 0.8), (0.3, 0.5), "better"),
    ((0.3, 0.5), (0.6, 0.8), "worse"),
    ((0.5, 0.9), (0.2, 0.55), "not resolved"),  # overlapping, whatever the point estimates
    ((0.5, 0.9), (0.2, 0.5), "not resolved"),  # touching is overlapping: a's low equals b's high
    ((0.2, 0.5), (0.5, 0.9), "not resolved"),  # a's high equals b's low
    ((0.50001, 0.9), (0.2, 0.5), "better"),  # just apart
    ((0.2, 0.49999), (0.5, 0.9), "worse"),
    ((0.1, 0.9), (0.4, 0.6), "not resolved"),  # one interval inside the other
])
def test_a_verdict_comes_from_the_intervals_never_from_the_point_estimates(a, b, verdict):
    assert interval_verdict(*a, *b) == verdict


@pytest.mark.parametrize("position", range(4))
def test_a_missing_bound_anywhere_is_not_measured(position):
    bounds = [0.6, 0.8, 0.1, 0.2]
    bounds[position] = NAN
    assert interval_verdict(*bounds) == "not measured"


def test_a_baseline_that_separates_reversed_is_said_so_not_beaten():
    assert versus_baseline(0.6, 0.8, 0.0, 0.2) == "separates, reversed"  # the baseline's AUC wholly below 0.5
    assert versus_baseline(0.6, 0.8, 0.1, 0.49999) == "separates, reversed"
    assert versus_baseline(0.6, 0.8, 0.1, 0.5) == "better"  # reaches 0.5: an ordinary interval
    assert versus_baseline(0.3, 0.45, 0.46, 0.5) == "worse"
    assert versus_baseline(0.5, 0.8, 0.2, 0.55) == "not resolved" and versus_baseline(0.7, 0.9, 0.5, 0.6) == "better"
    assert versus_baseline(0.6, 0.8, NAN, NAN) == "not measured"
    assert versus_baseline(0.6, 0.8, 0.1, NAN) == "not measured"


def test_a_claim_is_judged_by_the_intervals_on_our_rates_and_a_tie_of_the_papers_is_no_failure():
    assert claim_verdict((78.6,) * 3, (78.6,) * 3, paper=True) == "tie"
    assert claim_verdict((80.0,) * 3, (78.6,) * 3, paper=True) == "holds"
    assert claim_verdict((70.0,) * 3, (78.6,) * 3, paper=True) == "fails"
    # the paper's numbers by their values only: the bounds (here made up to disagree) are not read
    assert claim_verdict((80.0, 0.0, 100.0), (78.6, 90.0, 100.0), paper=True) == "holds"
    assert claim_verdict((70.0, 80.0, 80.0), (78.6, 60.0, 60.0), paper=True) == "fails"
    assert claim_verdict((60.0, 50.0, 70.0), (30.0, 20.0, 40.0), paper=False) == "holds"
    assert claim_verdict((30.0, 20.0, 40.0), (60.0, 50.0, 70.0), paper=False) == "fails"
    assert claim_verdict((60.0, 35.0, 70.0), (30.0, 20.0, 40.0), paper=False) == "not resolved"  # 35 < 40
    assert claim_verdict((60.0, 40.0, 70.0), (30.0, 20.0, 40.0), paper=False) == "not resolved"  # touching
    assert claim_verdict((30.0, 20.0, 55.0), (60.0, 50.0, 70.0), paper=False) == "not resolved"  # 55 > 50
    assert claim_verdict((NAN,) * 3, (30.0, 20.0, 40.0), paper=False) == "not measured"
    # ours by the intervals, not the values: equal values inside separated intervals cannot happen, but a value
    # that says 'holds' with overlapping intervals must not
    assert claim_verdict((90.0, 10.0, 95.0), (20.0, 5.0, 30.0), paper=False) == "not resolved"


def test_a_configuration_dominates_only_when_better_on_every_rate_than_every_rival():
    best = ((0.8, 0.9), (0.7, 0.9))  # (OSPA interval, detection interval)
    low = ((0.3, 0.5), (0.2, 0.4))
    assert dominates(best, [low])
    assert not dominates(low, [best])
    assert not dominates(best, [])  # nothing to beat: no advantage
    assert not dominates(best, [low, ((0.3, 0.5), (0.8, 0.95))])  # one rival detects more
    assert not dominates(best, [((0.85, 0.95), (0.2, 0.4))])  # one rival keeps more clean labels
    assert not dominates(best, [((0.3, 0.8), (0.2, 0.4))])  # OSPA touches: not resolved
    assert not dominates(best, [((0.3, 0.5), (0.2, 0.7))])  # detection touches
    assert dominates(best, iter([low, ((0.5, 0.79), (0.1, 0.69))]))  # an iterator of rivals, read once
    with pytest.raises(ValueError):
        dominates(best, [((0.3, 0.5),)])  # rates do not pair up
