import numpy as np
import pytest

from helpers.attacks import run_attack
from helpers.comparison import (
    baseline_method,
    comparison_layout,
    detector_costs,
    method_table,
    saliency_method,
    squeezing_methods,
)
from helpers.squeeze import FeatureSqueezingDetector
from helpers.sweep import run_sweep


@pytest.fixture(scope="module")
def setup(lite0, photos):
    attacks = {"fgsm": run_attack("fgsm", lite0, photos.x, eps=0.5 / 255)}
    sweep = run_sweep(lite0, photos.x, attacks, [0.1], ["color_reverse"])
    groups = {"b4": ["bit_depth:4"], "m2": ["median:2x2"], "joint": ["bit_depth:4", "median:2x2"]}
    return attacks, sweep, squeezing_methods(lite0, photos.x, attacks, groups)


def test_joint_squeezing_is_the_max_and_any_of_its_members(lite0, photos, setup):
    attacks, _, fs = setup
    np.testing.assert_allclose(fs["joint"].clean_scores, np.maximum(fs["b4"].clean_scores, fs["m2"].clean_scores))
    either = fs["b4"].adv_flags["fgsm"] | fs["m2"].adv_flags["fgsm"]
    np.testing.assert_array_equal(fs["joint"].adv_flags["fgsm"], either)
    report, flags = FeatureSqueezingDetector(lite0, ["bit_depth:4", "median:2x2"], "label_change").detect(photos.x)
    np.testing.assert_array_equal(fs["joint"].clean_flags, flags)
    np.testing.assert_allclose(fs["joint"].clean_scores, report["score"], atol=1e-6)
    np.testing.assert_array_equal(fs["joint"].source["fgsm"], np.flatnonzero(attacks["fgsm"].success))


def test_method_table_and_layouts(setup):
    _, sweep, fs = setup
    methods = {"saliency": saliency_method(sweep, "color_reverse", 0.1), **fs, "baseline": baseline_method(sweep)}
    np.testing.assert_array_equal(methods["saliency"].clean_flags, sweep.sets["clean"].flags(0, 0))
    table = method_table(methods, fpr=0.2, seed=0)
    row = table[(table.method == "joint") & (table.metric == "ospa")].iloc[0]
    assert row["value"] == pytest.approx(np.mean(~fs["joint"].clean_flags)) and row["n"] == 6
    assert not ((table.method == "baseline") & (table.metric.isin(["ospa", "detection_rate"]))).any()
    own, matched, auc = (comparison_layout(table, ["fgsm"], mode) for mode in ("own", "matched", "auc"))
    assert list(own.columns) == ["method", "OSPA", "fgsm"] and own.iloc[-1]["OSPA"] == "–"
    assert list(matched.columns) == ["method", "held-out FPR", "fgsm"] and matched.iloc[0]["fgsm"].endswith("(3)")
    assert auc.iloc[0]["fgsm"].count("[") == 1


def test_detector_costs(lite0, photos):
    costs = detector_costs(lite0, photos.x[:2], ["bit_depth:5"], repeats=1)
    assert len(costs) == 3 and costs["ratio_to_inference"].iloc[0] == 1.0
    assert (costs["ms_per_image"] > 0).all()
