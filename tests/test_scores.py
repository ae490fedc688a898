"""The per-image score table against the detectors it is built from, and every rate against a
direct count on its rows."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from helpers.attacks import run_attack
from helpers.data import ImageSet
from helpers.detectors import FeatureSqueezingDetector, SaliencyDetector
from helpers.metrics import grouped_split, photograph_bootstrap, threshold_at_fpr, wilson_interval
from helpers.models import softmax
from helpers.scores import (
    COLUMNS,
    RATE_COLUMNS,
    baseline_scores,
    calibration_half,
    configurations,
    load_scores,
    rate_table,
    rates_by_saliency_method,
    saliency_added_value,
    saliency_scores,
    save_scores,
    select,
    select_theta,
    split_sets,
    squeezing_scores,
)

THETAS, NOISES = (0.0, 0.2, 0.5), ("none", "color_reverse", "zero_mean")
JOINT = ["bit_depth:4", "median:2x2"]


@pytest.fixture(scope="module")
def setup(lite0, photos):
    images = ImageSet(photos.x, photos.ids, np.arange(6, dtype=np.int32), photos.description)
    attacks = {"fgsm": run_attack("fgsm", lite0, photos.x, eps=0.5 / 255),
               "pgd": run_attack("pgd", lite0, photos.x, eps=0.5 / 255, eps_step=0.25 / 255, max_iter=3)}
    scores = pd.concat([saliency_scores(lite0, images, attacks, THETAS, NOISES, batch_size=4),
                        squeezing_scores(lite0, images, attacks, ["bit_depth:4", "median:2x2"], [JOINT]),
                        baseline_scores(lite0, images, attacks)], ignore_index=True)
    return images, attacks, scores, rate_table(scores, fpr=0.2, seed=0)


@pytest.mark.slow  # 3.4 of make unit's 27 minutes on a busy 2-core machine: make test only
def test_saliency_rows_equal_one_detector_per_noise(lite0, setup):
    images, attacks, scores, _ = setup
    assert list(scores.columns) == COLUMNS and set(scores["model"]) == {lite0.name}
    assert 0 < attacks["fgsm"].success.sum() < len(images)  # only successful examples have rows
    adv = attacks["fgsm"].x_adv[attacks["fgsm"].success]
    for noise in NOISES:
        detector = SaliencyDetector(lite0, theta=list(THETAS), noise=noise)
        report, flags = detector.detect(images.x)
        adv_flags = detector.detect(adv)[1]
        for t, theta in enumerate(THETAS):
            clean, by_attack = split_sets(select(scores, "saliency", noise, theta))
            np.testing.assert_array_equal(clean["transformed_label"], report["emphasis_labels"][t])
            np.testing.assert_array_equal(clean["label"], report["labels"])
            np.testing.assert_allclose(clean["score"], report["score"][t], atol=1e-4)
            np.testing.assert_array_equal(clean["flag"].to_numpy(bool), flags[t])
            np.testing.assert_array_equal(by_attack["fgsm"]["flag"].to_numpy(bool), adv_flags[t])
            np.testing.assert_array_equal(by_attack["pgd"]["image"], np.flatnonzero(attacks["pgd"].success))
    np.testing.assert_array_equal(clean["true_label"], np.arange(6))
    assert list(clean["image_id"]) == list(images.ids)


def test_squeezing_and_baseline_rows(lite0, setup):
    images, attacks, scores, _ = setup
    b4, m2, joint = (split_sets(select(scores, "feature_squeezing", squeezer=s))[0].reset_index(drop=True)
                     for s in ("bit_depth:4", "median:2x2", "bit_depth:4+median:2x2"))
    np.testing.assert_allclose(joint["score"], np.maximum(b4["score"], m2["score"]))
    np.testing.assert_array_equal(joint["flag"], b4["flag"] | m2["flag"])
    report, flags = FeatureSqueezingDetector(lite0, JOINT, "label_change").detect(images.x)
    np.testing.assert_array_equal(joint["flag"].to_numpy(bool), flags)
    np.testing.assert_allclose(joint["score"], report["score"], atol=1e-6)
    np.testing.assert_array_equal(b4["transformed_label"], report["squeezed_labels"][0])
    clean, by_attack = split_sets(select(scores, "baseline"))
    np.testing.assert_allclose(clean["score"], 1 - softmax(lite0.logits(images.x)).max(1), atol=1e-6)
    assert clean["flag"].isna().all() and (clean["transformed_label"] == -1).all()


def test_rates_match_direct_counts_on_the_rows(setup):
    images, attacks, scores, rates = setup
    assert list(rates.columns) == RATE_COLUMNS
    calib = grouped_split(np.array(images.ids, dtype=object), 0)  # one view per photograph
    for noise in NOISES:
        for theta in THETAS:
            clean, by_attack = split_sets(select(scores, "saliency", noise, theta))
            mine = rates[(rates.noise == noise) & np.isclose(rates.theta, theta)]
            get = mine.set_index(["attack", "metric"])
            assert get.loc[("clean", "ospa"), "value"] == pytest.approx(np.mean(~clean["flag"].to_numpy(bool)))
            adv = by_attack["fgsm"]
            assert get.loc[("fgsm", "detection_rate"), "value"] == pytest.approx(adv["flag"].mean())
            assert get.loc[("fgsm", "detection_rate"), "n"] == attacks["fgsm"].success.sum()
            y = np.r_[np.zeros(6), np.ones(len(adv))]
            assert get.loc[("fgsm", "auc"), "value"] == pytest.approx(roc_auc_score(y, np.r_[clean["score"],
                                                                                             adv["score"]]))
            threshold = threshold_at_fpr(clean["score"].to_numpy()[calib], 0.2)
            # 0.2 x 3 calibration images < 5 expected false positives: no matched-FPR rate, the realised FPR.
            assert np.isnan(get.loc[("fgsm", "tpr_at_fpr"), "value"])
            assert get.loc[("fgsm", "tpr_at_fpr"), "note"] == "not resolvable at n = 3"
            assert get.loc[("fgsm", "fpr_heldout"), "value"] == pytest.approx(
                np.mean(clean["score"].to_numpy()[~calib] > threshold))
            assert get.loc[("fgsm", "fpr_heldout"), "n"] == 3
            k, n = int((~clean["flag"].to_numpy(bool)).sum()), 6  # one view per photograph: plain Wilson, exactly
            assert (get.loc[("clean", "ospa"), ["ci_low", "ci_high"]].tolist() == list(wilson_interval(k, n)))
            assert (get.loc[("clean", "ospa"), "n_photographs"] == 6)
    none0 = rates[(rates.noise == "none") & (rates.theta == 0.0)]
    assert (none0[none0.metric == "ospa"]["value"] == 1.0).all()  # E = x: nothing flagged
    base = rates[rates.detector == "baseline"]
    assert set(base.metric) == {"auc", "tpr_at_fpr", "fpr_heldout"} and base.theta.isna().all()


def test_theta_selected_on_the_calibration_half_is_reported_on_the_other(setup):
    images, _, scores, rates = setup
    chosen = select_theta(scores, seed=0)
    calib = grouped_split(np.array(images.ids, dtype=object), 0)  # one view per photograph
    for noise in NOISES:
        def balanced(theta, keep, noise=noise):
            clean, by_attack = split_sets(select(scores, "saliency", noise, theta))
            detect = [a["flag"].to_numpy(bool)[keep[a["image"].to_numpy()]].mean() for a in by_attack.values()]
            return ((~clean["flag"].to_numpy(bool)[keep]).mean() + np.mean(detect)) / 2

        best = THETAS[int(np.argmax([balanced(t, calib) for t in THETAS]))]
        mine = chosen[chosen.noise == noise]
        assert (mine["theta"] == best).all()
        ospa = mine[mine.attack == "clean"].iloc[0]
        clean = split_sets(select(scores, "saliency", noise, best))[0]
        assert ospa["n"] == 3 and ospa["value"] == pytest.approx((~clean["flag"].to_numpy(bool)[~calib]).mean())
    added = saliency_added_value(rates)
    assert len(added) == len(NOISES) * 2 and {"overlay vs noise alone", "overlay vs baseline"} <= set(added)
    for _, r in added.iterrows():  # each verdict from the intervals, by hand
        lo, hi, zlo, zhi = r["AUC best θ>0 low"], r["AUC best θ>0 high"], r["AUC θ=0 low"], r["AUC θ=0 high"]
        assert r["overlay vs noise alone"] == ("better" if lo > zhi else "worse" if hi < zlo else "not resolved")
        best = rates[(rates.metric == "auc") & (rates.detector == "saliency") & (rates.noise == r["noise"])
                     & (rates.attack == r["attack"]) & (rates.theta > 0)]["value"].max()
        assert r["AUC best θ>0"] == best


def test_a_saved_table_is_reanalysed_without_a_model(setup, tmp_path):
    _, _, scores, rates = setup
    meta = {"model": "efficientnet_lite0", "seed": 0, "attack_settings": "default"}
    path = save_scores(scores, tmp_path / "scores.parquet", meta)
    loaded, loaded_meta = load_scores(path)
    assert loaded_meta == meta
    pd.testing.assert_frame_equal(loaded, scores)
    pd.testing.assert_frame_equal(rate_table(loaded, fpr=0.2, seed=0), rates)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_mismatched_attack_set_is_rejected(lite0, setup):
    images, attacks, _, _ = setup
    small = ImageSet(images.x[:5], images.ids[:5], images.labels[:5], "5")
    with pytest.raises(ValueError, match="examples for 5 clean inputs"):
        saliency_scores(lite0, small, attacks, THETAS, NOISES)


def test_saliency_scores_pass_the_saliency_method_on(tiny, rng):
    x = rng.uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    images = ImageSet(x, tuple("abcd"), np.full(4, -1, np.int32), "4 random images")
    scores = saliency_scores(tiny, images, {}, [0.3, 0.6], ["none"], saliency_method="layercam")
    report, flags = SaliencyDetector(tiny, theta=[0.3, 0.6], saliency_method="layercam").detect(x)
    for t, theta in enumerate((0.3, 0.6)):
        clean, _ = split_sets(select(scores, "saliency", "none", theta))
        np.testing.assert_allclose(clean["score"], report["score"][t], atol=1e-6)
        np.testing.assert_array_equal(clean["flag"].to_numpy(bool), flags[t])
    with pytest.raises(ValueError, match="unknown saliency method 'cam'"):
        saliency_scores(tiny, images, {}, [0.3], ["none"], saliency_method="cam")


def test_rows_name_their_saliency_method_and_methods_are_analysed_apart(tiny, rng):
    x = rng.uniform(0, 255, (6, 16, 16, 3)).astype(np.float32)
    images = ImageSet(x, tuple("abcdef"), np.full(6, -1, np.int32), "6 random images")
    attacks = {"fgsm": run_attack("fgsm", tiny, x, eps=8 / 255)}
    parts = {m: saliency_scores(tiny, images, attacks, [0.3], ["none"], saliency_method=m)
             for m in ("gradcam", "layercam")}
    scores = pd.concat([*parts.values(), baseline_scores(tiny, images, attacks)], ignore_index=True)
    assert list(scores.columns) == COLUMNS
    assert set(parts["layercam"]["saliency_method"]) == {"layercam"}
    assert set(scores[scores.detector == "baseline"]["saliency_method"]) == {""}
    with pytest.raises(ValueError, match="mixes saliency methods"):
        rate_table(scores)
    rates = rates_by_saliency_method(scores, fpr=0.2, seed=0)
    for method, expected in [("gradcam", rate_table(parts["gradcam"], 0.2, 0)),
                             ("layercam", rate_table(parts["layercam"], 0.2, 0)),
                             ("", rate_table(scores[scores.detector == "baseline"], 0.2, 0))]:
        mine = rates[rates.saliency_method == method].drop(columns="saliency_method").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, expected, check_dtype=False)  # object vs string columns


def test_tables_saved_before_the_saliency_method_column_still_load(setup, tmp_path):
    _, _, scores, rates = setup
    old = pa.Table.from_pandas(scores.drop(columns="saliency_method"), preserve_index=False)
    pq.write_table(old.replace_schema_metadata({**old.schema.metadata, b"saliency_detector_run": b'{"seed": 0}'}),
                   tmp_path / "old.parquet")
    loaded, meta = load_scores(tmp_path / "old.parquet")
    assert meta == {"seed": 0}
    pd.testing.assert_frame_equal(loaded, scores)  # saliency rows: gradcam, the others: ""
    pd.testing.assert_frame_equal(rate_table(loaded, fpr=0.2, seed=0), rates)
    old = pa.Table.from_pandas(scores.drop(columns="model"), preserve_index=False)  # before every row named its model
    pq.write_table(old.replace_schema_metadata({**old.schema.metadata, b"saliency_detector_run": b'{"model": "m"}'}),
                   tmp_path / "older.parquet")
    pd.testing.assert_frame_equal(load_scores(tmp_path / "older.parquet")[0], scores.assign(model="m"))


def synthetic_scores(seed: int, n: int = 8, views: int = 1, model: str = "m") -> pd.DataFrame:
    """A score table of ``model`` (made up, no model run): saliency (none, thetas 0 and 0.3) and the baseline, on clean
    inputs and FGSM's successful examples (a random subset of the images); ``views`` consecutive
    images are views of one photograph."""
    rng = np.random.default_rng(seed)
    adv = np.flatnonzero(rng.random(n) < 0.7)
    rows = []
    saliency = {"detector": "saliency", "noise": "none", "squeezer": "", "saliency_method": "gradcam"}
    for method in ({**saliency, "theta": 0.0}, {**saliency, "theta": 0.3},
                   {"detector": "baseline", "noise": "", "theta": np.nan, "squeezer": "", "saliency_method": ""}):
        for attack, images, shift in (("clean", np.arange(n), 0.0), ("fgsm", adv, 0.8)):
            for i in images:
                score = rng.normal(shift)
                photo = f"img{i // views}"
                rows.append({**method, "model": model, "image": i,
                             "image_id": f"{photo}#view{i % views}" if i % views else photo, "photograph": photo,
                             "true_label": -1, "attack": attack, "label": 0, "transformed_label": 0, "score": score,
                             "flag": pd.NA if method["detector"] == "baseline" else bool(score > 0.5)})
    return pd.DataFrame(rows)[COLUMNS].astype({"theta": "float64", "flag": "boolean"})


def test_rates_of_several_models_are_each_models_rate_table_never_pooled():
    tables = {"lite0": synthetic_scores(0, model="lite0"), "lite2": synthetic_scores(1, n=10, model="lite2")}
    both = pd.concat(tables.values(), ignore_index=True)
    rates = rate_table(both, fpr=0.2, seed=3)
    assert list(dict.fromkeys(rates["model"])) == ["lite0", "lite2"]
    for model, scores in tables.items():
        alone = rate_table(scores, fpr=0.2, seed=3)
        pd.testing.assert_frame_equal(rates[rates["model"] == model].reset_index(drop=True), alone)
    ospa = rates[(rates["metric"] == "ospa") & (rates["theta"] == 0.3)].set_index("model")["n"]
    assert ospa.to_dict() == {"lite0": 8, "lite2": 10}  # each model's own clean images, not 18 pooled
    added = saliency_added_value(rates)  # per model, as on each model's rates alone
    for model in tables:
        pd.testing.assert_frame_equal(added[added["model"] == model].reset_index(drop=True),
                                      saliency_added_value(rates[rates["model"] == model]))
    chosen = select_theta(both, seed=3)
    pd.testing.assert_frame_equal(chosen[chosen["model"] == "lite2"].reset_index(drop=True),
                                  select_theta(tables["lite2"], seed=3))
    with pytest.raises(ValueError, match=r"mixes models \['lite0', 'lite2'\]"):
        configurations(both)


def test_no_split_or_resample_separates_two_views_of_a_photograph(tmp_path):
    scores = synthetic_scores(4, n=60, views=3)  # 20 photographs x 3 views
    clean = split_sets(select(scores, "saliency", "none", 0.3))[0]
    photos = clean["photograph"].to_numpy()
    for seed in range(10):
        calib = calibration_half(clean, seed)
        assert all(len(set(calib[photos == p])) == 1 for p in set(photos)) and calib.sum() == 30
    calib = calibration_half(clean, 0)
    # select_theta reports on the held-out photographs' views only: 10 photographs, 30 views.
    chosen = select_theta(scores, seed=0)
    assert (chosen[chosen.attack == "clean"][["n", "n_photographs"]].to_numpy() == [30, 10]).all()
    # The matched-FPR threshold comes from the calibration photographs, and the fpr x n >= 5 rule counts them,
    # not their views: 0.2 x 10 photographs = 2 < 5 is not resolvable (0.2 x 30 views would be), 0.5 x 10 is.
    rates = rate_table(scores, fpr=0.2, seed=0)
    row = rates[(rates.theta == 0.3) & (rates.metric == "tpr_at_fpr")].iloc[0]
    assert np.isnan(row["value"]) and row["note"] == "not resolvable at n = 10" and row["n_calibration"] == 10
    rates = rate_table(scores, fpr=0.5, seed=0)
    for theta in (0.0, 0.3):
        clean, by_attack = split_sets(select(scores, "saliency", "none", theta))
        adv = by_attack["fgsm"]
        threshold = threshold_at_fpr(clean["score"].to_numpy()[calib], 0.5)
        held = ~calib[adv["image"].to_numpy()]
        row = rates[(rates.theta == theta) & (rates.metric == "tpr_at_fpr")].iloc[0]
        assert row["value"] == np.mean(adv["score"].to_numpy()[held] > threshold) and row["note"] == ""
        assert row["n_calibration"] == 10 and row["n_photographs"] == len(set(adv["photograph"][held]))
    # Every bootstrap resample weighs all views of a photograph, clean and adversarial, alike.
    adv = by_attack["fgsm"]
    w_clean, w_adv = photograph_bootstrap(clean["photograph"], adv["photograph"], 200, 0)
    for p in set(photos):
        same = np.c_[w_clean[:, photos == p], w_adv[:, adv["photograph"].to_numpy() == p]]
        assert (same == same[:, :1]).all()
    # Views widen the intervals: n = 60 views of 20 photographs is never narrower than plain Wilson.
    ospa_row = rates[(rates.theta == 0.3) & (rates.metric == "ospa")].iloc[0]
    lo, hi = wilson_interval(round(ospa_row["value"] * 60), 60)
    assert ospa_row["ci_low"] <= lo and ospa_row["ci_high"] >= hi and ospa_row["n_photographs"] == 20
    # An old table without the photograph column gets it back from the image ids.
    path = save_scores(scores, tmp_path / "s.parquet", {})
    old = pq.read_table(path).drop_columns(["photograph"])
    pq.write_table(old, tmp_path / "old.parquet")
    pd.testing.assert_frame_equal(load_scores(tmp_path / "old.parquet")[0], scores)


def test_a_damaged_score_table_is_named(tmp_path):
    table = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    path = save_scores(table, tmp_path / "shard.parquet", {"parameters": {}})
    data = bytearray(path.read_bytes())
    data[-40:-8] = bytes(b ^ 0xFF for b in data[-40:-8])  # the footer (schema, metadata) before its length
    path.write_bytes(bytes(data))
    with pytest.raises(OSError, match="cannot read score table .*shard.parquet"):
        load_scores(path)
