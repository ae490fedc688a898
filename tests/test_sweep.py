import numpy as np
import pandas as pd
import pytest

from helpers.attacks import run_attack
from helpers.detector import SaliencyDetector
from helpers.paper import claims_check, paper_tables_1_3, side_by_side
from helpers.sweep import BASELINE, COLUMNS, paper_layout, run_sweep, saliency_added_value, select_theta, tidy_results

THETAS, NOISES = (0.0, 0.2, 0.5), ("none", "color_reverse", "zero_mean")


@pytest.fixture(scope="module")
def setup(lite0, photos):
    x = photos.x
    attacks = {"fgsm": run_attack("fgsm", lite0, x, eps=0.5 / 255),
               "pgd": run_attack("pgd", lite0, x, eps=0.5 / 255, eps_step=0.25 / 255, max_iter=3)}
    sweep = run_sweep(lite0, x, attacks, THETAS, NOISES, batch_size=4)
    return x, attacks, sweep, tidy_results(sweep, fpr=0.2, seed=0)


def test_sweep_equals_one_detector_per_noise(lite0, setup):
    """One Grad-CAM pass for everything gives what separate detectors give."""
    x, attacks, sweep, _ = setup
    assert 0 < attacks["fgsm"].success.sum() < len(x)  # only the successful examples are evaluated
    for k, noise in enumerate(NOISES):
        detector = SaliencyDetector(lite0, theta=list(THETAS), noise=noise)
        report, flags = detector.detect(x)
        np.testing.assert_array_equal(sweep.sets["clean"].report["emphasis_labels"][k], report["emphasis_labels"])
        np.testing.assert_allclose(sweep.sets["clean"].report["score"][k], report["score"], atol=1e-4)
        adv = attacks["fgsm"].x_adv[attacks["fgsm"].success]
        np.testing.assert_array_equal(sweep.sets["fgsm"].flags(k, 2), detector.detect(adv)[1][2])
    np.testing.assert_array_equal(sweep.sets["pgd"].source, np.flatnonzero(attacks["pgd"].success))


def test_tidy_table_rates_match_direct_counts(setup):
    _, attacks, sweep, tidy = setup
    assert list(tidy.columns) == COLUMNS
    clean = sweep.sets["clean"]
    for k, noise in enumerate(NOISES):
        for t, theta in enumerate(THETAS):
            row = tidy[(tidy.noise == noise) & (tidy.theta == theta) & (tidy.metric == "ospa")].iloc[0]
            assert row["value"] == pytest.approx(np.mean(~clean.flags(k, t))) and row["n"] == 6
            row = tidy[(tidy.noise == noise) & (tidy.theta == theta) & (tidy.attack == "fgsm")
                       & (tidy.metric == "detection_rate")].iloc[0]
            assert row["value"] == pytest.approx(np.mean(sweep.sets["fgsm"].flags(k, t)))
            assert row["n"] == attacks["fgsm"].success.sum()
            assert row["ci_low"] <= row["value"] <= row["ci_high"]
    none0 = tidy[(tidy.noise == "none") & (tidy.theta == 0.0)]
    assert (none0[none0.metric == "ospa"]["value"] == 1.0).all()  # E = x: nothing flagged
    assert (none0[none0.metric == "auc"]["value"] == 0.5).all()
    base = tidy[tidy.noise == BASELINE]
    assert set(base.metric) == {"auc", "tpr_at_fpr", "fpr_heldout"} and base.theta.isna().all()
    held = tidy[tidy.metric == "fpr_heldout"]
    assert (held["n"] == 3).all()


def test_displays_and_selection(setup):
    _, _, sweep, tidy = setup
    table = paper_layout(tidy, "zero_mean", ["fgsm", "pgd", "absent"])
    assert list(table.columns) == ["OSPA", "fgsm", "pgd"] and list(table.index) == list(THETAS)
    assert table.loc[0.0, "OSPA"].endswith("(6)")
    chosen = select_theta(sweep, seed=0)
    assert list(chosen["noise"]) == list(NOISES) and set(chosen["theta"]) <= set(THETAS)
    assert all(cell.endswith("(3)") for cell in chosen["OSPA"])  # reported on the held-out half
    added = saliency_added_value(tidy)
    assert len(added) == len(NOISES) * 2 and {"overlay beats noise alone", "overlay beats baseline"} <= set(added)


def test_mismatched_attack_set_is_rejected(lite0, setup):
    x, attacks, _, _ = setup
    with pytest.raises(ValueError, match="examples for"):
        run_sweep(lite0, x[:5], attacks, THETAS, NOISES)


def test_paper_tables_and_claims():
    paper = paper_tables_1_3()
    assert len(paper) == 3 * 6 * 2 * 3
    cell = paper[(paper.noise == "zero_mean") & (paper.theta == 0.3) & (paper.model == "vgg16")
                 & (paper.metric == "fgsm")]
    assert cell["value"].item() == 82.2
    ours = pd.DataFrame([
        {"noise": "none", "theta": 0.1, "attack": "clean", "metric": "ospa", "value": 0.9, "ci_low": 0.8,
         "ci_high": 0.95, "n": 10},
        {"noise": "none", "theta": 0.5, "attack": "clean", "metric": "ospa", "value": 0.95, "ci_low": 0.8,
         "ci_high": 0.99, "n": 10},
    ])
    claims = claims_check(ours)
    assert claims.iloc[0]["vgg16"] == "yes (94.8 vs 69.5)"
    assert claims.iloc[0]["ours"] == "no (90.0 vs 95.0)"
    assert claims.iloc[1]["ours"].startswith("n/a")
    table = side_by_side(ours)
    assert table.iloc[0]["ospa paper"] == "94.8 / 85.2" and table.iloc[0]["ospa ours"] == "90.0 [80, 95]"


def test_sweep_passes_the_saliency_method_on(tiny, rng):
    x = rng.uniform(0, 255, (6, 16, 16, 3)).astype(np.float32)
    sweep = run_sweep(tiny, x, {}, [0.3, 0.6], ["none"], saliency_method="layercam")
    assert sweep.saliency_method == "layercam" and run_sweep(tiny, x, {}, [0.3], ["none"]).saliency_method == "gradcam"
    report, _ = SaliencyDetector(tiny, theta=[0.3, 0.6], saliency_method="layercam").detect(x)
    np.testing.assert_allclose(sweep.sets["clean"].report["score"][0], report["score"], atol=1e-6)
    gradcam, _ = SaliencyDetector(tiny, theta=[0.3, 0.6]).detect(x)
    assert np.abs(gradcam["score"] - report["score"]).max() > 1e-4  # the method was not ignored
    with pytest.raises(ValueError, match="unknown saliency method"):
        run_sweep(tiny, x, {}, [0.3], ["none"], saliency_method="cam")
