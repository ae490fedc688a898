"""The experiments' facts (the numbers their findings state) against hand-computed cases, and the shared
plumbing: one saliency method per table, one score table per model, one export call per table."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.adaptive.protocol import load_bypass_table
from helpers.experiments import ablation, adaptive, comparison, theta_sweep
from helpers.experiments.export import Table
from helpers.experiments.runs import load_run
from helpers.labels import DetectorKey
from helpers.scores import COLUMNS, saliency_method, save_scores


def rate(detector, attack, metric, value, lo, hi, noise="", theta=np.nan, squeezer="", model="m", method=""):
    return {"model": model, "detector": detector, "noise": noise, "theta": theta, "squeezer": squeezer,
            "attack": attack, "metric": metric, "value": value, "ci_low": lo, "ci_high": hi, "n": 10,
            "saliency_method": method}


ABLATION_PARAMS = {"saliency_methods": ["gradcam", "layercam"], "attacks": ["fgsm", "pgd", "cw_l2"], "noises": ["none"],
                   "thetas": [0.1], "colormap": "jet", "overlay_order": "coarse", "zero_mean_reference": "imagenet",
                   "fpr": 0.05, "seed": 0, "batch_size": 16}


def ablation_result(costs=None) -> ablation.Result:
    """Grad-CAM and LayerCAM AUCs in three (noise, θ, attack) cells of one model, and the baseline's: LayerCAM's
    interval lies above Grad-CAM's for FGSM and C&W, below it for PGD; against the baseline ([0.3, 0.5] for
    FGSM, [0.8, 0.9] for PGD, [0.4, 0.6] for C&W) both lie above it for FGSM and below it for PGD, and only
    LayerCAM's lies above it for C&W (Grad-CAM's [0.45, 0.55] overlaps)."""
    cells = [("fgsm", "gradcam", 0.6, 0.55, 0.65), ("fgsm", "layercam", 0.8, 0.7, 0.9),
             ("pgd", "gradcam", 0.6, 0.5, 0.7), ("pgd", "layercam", 0.3, 0.2, 0.4),
             ("cw_l2", "gradcam", 0.5, 0.45, 0.55), ("cw_l2", "layercam", 0.9, 0.85, 0.95)]
    rows = [rate("saliency", a, "auc", v, lo, hi, "none", 0.1, method=m) for a, m, v, lo, hi in cells]
    rows += [rate("baseline", "fgsm", "auc", 0.4, 0.3, 0.5), rate("baseline", "pgd", "auc", 0.85, 0.8, 0.9),
             rate("baseline", "cw_l2", "auc", 0.5, 0.4, 0.6)]
    config = ablation.Config.from_params(ABLATION_PARAMS)
    empty = pd.DataFrame(columns=["saliency_method", "ms_per_image", "ratio_to_inference", "model"])
    return ablation.Result(pd.DataFrame(columns=COLUMNS), pd.DataFrame(rows), {"m": {"images": "4 images"}}, config,
                           empty if costs is None else costs)


def test_ablation_facts_count_intervals_wholly_above_and_below():
    facts = ablation.facts(ablation_result()).counts.set_index(["saliency_method", "against"])
    assert facts.loc[("layercam", "gradcam"), ["above", "below", "compared"]].tolist() == [2, 1, 3]
    assert facts.loc[("gradcam", "baseline"), ["above", "below", "compared"]].tolist() == [1, 1, 3]
    assert facts.loc[("layercam", "baseline"), ["above", "below", "compared"]].tolist() == [2, 1, 3]
    assert ("gradcam", "gradcam") not in facts.index  # the reference is not compared with itself
    text = ablation.findings(ablation.facts(ablation_result()))  # the sentences state the same counts
    assert "LayerCAM above in 2, below in 1 of 3" in text and "Grad-CAM above in 1, below in 1 of 3" in text


def test_ablation_cost_table_orders_inference_first_then_the_methods():
    costs = pd.DataFrame({"saliency_method": ["layercam", "inference", "gradcam"], "ms_per_image": [3.0, 1.0, 2.0],
                          "ratio_to_inference": [3.0, 1.0, 2.0], "model": "m"})
    result = ablation_result(costs)
    facts = ablation.facts(result)
    assert ablation.cost_table(facts)["m"].tolist() == [1.0, 2.0, 3.0]
    assert "inference: LayerCAM 3.00, Grad-CAM 2.00." in ablation.findings(facts)  # inference is not a detector


def near(value: float) -> tuple[float, float]:
    """A narrow 95% interval around ``value`` (±0.05): rates this far apart are resolved."""
    return max(value - 0.05, 0.0), min(value + 0.05, 1.0)


def comparison_result(saliency_ospa: float, saliency_fgsm: float) -> comparison.Result:
    """One saliency configuration and joint Feature Squeezing (OSPA 0.6, FGSM 0.45) at their own rules, each rate
    within ±0.05; the detectors' measured costs: 40 ms per image for Feature Squeezing, 10 for the saliency
    detector."""
    config = comparison.Config.from_params(COMPARISON_PARAMS)
    fs, sal = config.squeezing_key, config.saliency_key
    s = {"noise": "color_reverse", "theta": 0.1}
    rows = [rate("saliency", "clean", "ospa", saliency_ospa, *near(saliency_ospa), **s),
            rate("saliency", "fgsm", "detection_rate", saliency_fgsm, *near(saliency_fgsm), **s),
            rate("saliency", "fgsm", "tpr_at_fpr", 0.1, *near(0.1), **s),
            rate("feature_squeezing", "clean", "ospa", 0.6, *near(0.6), squeezer=fs.squeezer),
            rate("feature_squeezing", "fgsm", "detection_rate", 0.45, *near(0.45), squeezer=fs.squeezer),
            rate("feature_squeezing", "fgsm", "tpr_at_fpr", 0.25, *near(0.25), squeezer=fs.squeezer)]
    costs = pd.DataFrame({"detector": ["inference", sal, fs], "ms_per_image": [5.0, 10.0, 40.0],
                          "ratio_to_inference": [1.0, 2.0, 8.0]})
    return comparison.Result(pd.DataFrame(columns=COLUMNS), pd.DataFrame(rows).assign(note=""), {"m": {}}, config,
                             {"m": costs})


COMPARISON_PARAMS = {"attacks": ["fgsm"], "theta": 0.1, "joint": ["bit_depth:5", "median:2x2"], "colormap": "jet",
                     "overlay_order": "coarse", "zero_mean_reference": "imagenet", "channel_order": "rgb",
                     "fpr": 0.05, "seed": 0, "batch_size": 16}


@pytest.mark.parametrize(("ospa", "fgsm", "wins"), [(0.9, 0.7, 1), (0.7, 0.3, 0), (0.5, 0.7, 0), (0.9, 0.45, 0)])
def test_comparison_facts_table_v_wins_need_both_rates_strictly_higher(ospa, fgsm, wins):
    facts = comparison.facts(comparison_result(ospa, fgsm)).summary.iloc[0]
    assert facts["n_wins"] == wins
    assert facts["wins"] == ("saliency (colour reversing, θ = 0.1)" if wins else "")
    assert facts["cost_ratio"] == pytest.approx(4.0)  # 40 ms / 10 ms


def test_comparison_cost_text_and_findings_use_the_measured_ratio():
    facts = comparison.facts(comparison_result(0.9, 0.7))
    assert "feature squeezing / saliency detector = 4.0" in comparison.costs_text(facts)
    assert "Feature Squeezing takes 4.0× the saliency detector's time" in comparison.findings(facts)


def test_comparison_findings_state_the_facts_verdict_and_the_best_matched_detector():
    facts = comparison.facts(comparison_result(0.7, 0.3))
    assert facts.rows["matched"].loc[facts.rows["matched"]["best"], "squeezer"].tolist() == ["bit_depth:5+median:2x2"]
    text = comparison.findings(facts)
    assert "not seen here" in text and "detected most by feature squeezing (bit depth 5, median 2×2) (25.0%" in text
    won = comparison.findings(comparison.facts(comparison_result(0.9, 0.7)))
    assert "seen here for saliency (colour reversing, θ = 0.1)" in won
    assert comparison.table_v_wins(comparison_result(0.9, 0.7).rates, "fgsm") == (
        DetectorKey("saliency", "color_reverse", 0.1),)
    for ospa, fgsm in ((0.7, 0.3), (0.9, 0.45), (0.6, 0.7)):  # each rate must beat Feature Squeezing's, strictly
        assert comparison.table_v_wins(comparison_result(ospa, fgsm).rates, "fgsm") == ()
    rates = comparison_result(0.9, 0.7).rates
    assert comparison.table_v_wins(rates[rates["detector"] == "saliency"], "fgsm") == ()


def test_comparison_findings_of_two_models_name_each_model():
    one, two = comparison_result(0.7, 0.3), comparison_result(0.9, 0.7)
    rates = pd.concat([one.rates.assign(model="a"), two.rates.assign(model="b")], ignore_index=True)
    both = comparison.Result(one.scores, rates, {"a": {}, "b": {}}, one.config,
                             {"a": one.costs["m"], "b": two.costs["m"]})
    text = comparison.findings(comparison.facts(both))
    assert "- **a:** *The paper's Table V advantage*" in text and "**a:** *Cost:* Feature Squeezing takes 4.0×" in text
    assert "**b:** *The paper's Table V advantage* (more OSPA and more FGSM detection than Feature Squeezing): seen" \
        in text


def test_comparison_table_v_next_to_the_paper():
    facts = comparison.facts(comparison_result(0.9, 0.7))
    paper, ours = comparison.table_v(facts)
    paper_fs = "feature squeezing (bit depth 5, median 2×2, non-local means 11-3-4)"  # its display name
    assert paper.loc[paper_fs, "C&W-L2"] == 91.5 and list(paper.columns) == ["OSPA", "FGSM", "C&W-L2"]
    assert ours.loc["feature squeezing (bit depth 5, median 2×2)", "m"].tolist() == [60.0, 45.0]
    assert ours.loc["saliency (colour reversing, θ = 0.1)", "m"].tolist() == [90.0, 70.0]


def test_comparison_config_reads_the_joint_detector_under_its_old_name_too():
    old = {k: v for k, v in COMPARISON_PARAMS.items() if k != "joint"} | {"squeezers": ["bit_depth:5", "median:2x2"]}
    assert comparison.Config.from_params(old) == comparison.Config.from_params(COMPARISON_PARAMS)
    assert comparison.Config.from_params(COMPARISON_PARAMS).cost_images == 0  # a saved table: no cost measured


def test_theta_sweep_facts_count_the_added_value_and_the_claims():
    added = pd.DataFrame({"model": ["m", "m", "m", "k"],
                          "overlay vs noise alone": ["better", "better", "not resolved", "better"],
                          "overlay vs baseline": ["worse", "better", "separates, reversed", "not resolved"]})
    claims = pd.DataFrame({"model": ["m"] * 4 + ["k"],
                           "verdict": ["holds", "fails", "not measured", "not resolved", "fails"]})
    facts = theta_sweep.counts_of(added, claims, ["m", "k"]).set_index("model")
    assert facts.loc["m"].to_dict() == {"pairs": 3, "overlay_better_than_noise_alone": 2,
                                        "overlay_better_than_baseline": 1, "overlay_worse_than_baseline": 1,
                                        "overlay_vs_baseline_not_resolved": 0, "baseline_reversed": 1, "claims": 4,
                                        "claims_hold": 1, "claims_fail": 1, "claims_not_resolved": 1,
                                        "claims_not_measured": 1}
    assert facts.loc["k", ["pairs", "overlay_vs_baseline_not_resolved", "claims_hold", "claims_fail"]].tolist() == \
        [1, 1, 0, 1]


def score_rows(model: str, methods: list[str]) -> pd.DataFrame:
    rows = [{"model": model, "image": 0, "image_id": "a", "photograph": "a", "true_label": -1, "attack": "clean",
             "detector": "saliency", "noise": "none", "theta": 0.1, "squeezer": "", "saliency_method": m,
             "label": 1, "transformed_label": 1, "score": 0.5, "flag": False} for m in methods]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_one_saliency_method_per_table_and_one_table_per_model(tmp_path):
    assert saliency_method(score_rows("m", ["layercam"])) == "layercam"
    assert saliency_method(score_rows("m", [])) == "gradcam"  # no saliency rows: the paper's
    with pytest.raises(ValueError, match=r"mixes saliency methods \['gradcam', 'layercam'\]"):
        saliency_method(score_rows("m", ["gradcam", "layercam"]))
    paths = [save_scores(score_rows("m", ["gradcam"]), tmp_path / f"scores_x_{i}.parquet", {"model": "m"})
             for i in range(2)]
    with pytest.raises(ValueError, match="two score tables of model 'm'"):
        load_run(paths)
    scores, metadata = load_run(paths[:1])
    assert list(metadata) == ["m"] and len(scores) == 1
    with pytest.raises(ValueError, match="no score table"):
        load_run([])


def test_a_table_is_exported_in_one_call(tmp_path):
    frame = pd.DataFrame({"rate": [1.5]}, index=pd.Index(["a"], name="row"))
    paths = Table(frame, "A caption.").save("table_x", tmp_path, None)
    assert sorted(p.name for p in paths) == ["table_x.csv", "table_x.tex", "table_x_tidy.csv"]
    assert (tmp_path / "table_x.csv").read_text() == "row,rate\na,1.5\n"
    assert "\\caption{A caption.}" in (tmp_path / "table_x.tex").read_text()


def notebook_defaults(name: str) -> dict:
    """The defaults of a notebook's parameters cell."""
    import json
    from pathlib import Path

    cells = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / name).read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "parameters" in c["metadata"].get("tags", []))
    defaults: dict = {}
    exec(source, {}, defaults)  # the notebook's own literal defaults
    return defaults


@pytest.mark.slow  # loads EfficientNet-Lite0 and fits five detectors: make test, not make unit
def test_the_adaptive_system_has_a_saliency_detector_per_noise(tmp_path):
    from helpers.adaptive.defences import Defence
    from helpers.detectors import SaliencyDetector
    from helpers.experiments import adaptive
    from helpers.params import check_params

    config = check_params({**notebook_defaults("08_adaptive_attacks.ipynb"), "n_images": 1, "calibration_images": 40,
                           "fpr": 0.4, "thetas": [0.1], "squeezers": ["bit_depth:5"], "noise": "color_reverse",
                           "system_noises": ["none", "color_reverse", "zero_mean"],
                           "sweep_eps_255": [2], "cache_dir": str(tmp_path)})
    setup = adaptive.prepare(config)
    names = [d.name for d in setup.system]
    assert names == [adaptive.saliency_name(config, "color_reverse"), adaptive.detector_names(config)[1],
                     adaptive.saliency_name(config, "none"), adaptive.saliency_name(config, "zero_mean")]
    assert [d.name for d in setup.defences] == list(setup.detectors)  # the per-defence part is unchanged
    assert setup.system[0] is setup.defences[0] and setup.system[1] is setup.defences[1]
    for defence, noise in zip(setup.system[2:], ["none", "zero_mean"], strict=True):
        assert defence.detector.noise == noise
        alone = adaptive.fitted(Defence("alone", SaliencyDetector(setup.bundle, [0.1], noise), 16), setup.calibration,
                                0.4)
        assert (alone.threshold, alone.note) == (defence.threshold, defence.note)  # the same detector, fitted alike
    # the offline photographs leave a few calibration photographs: 0.4 x n < 5, so the system has no threshold
    assert setup.system.threshold is None and setup.system.note.startswith("not resolvable at n = ")
    table = adaptive.fpr_table(setup, 0.4)
    assert table["scope"].tolist() == ["alone"] * 5 + ["system"] * 5 and table["defence"].iloc[-1] == "system"
    assert (table["fpr_matched_n"] == 0).all() and (table.loc[table["fpr_own_n"] > 0, "fpr_own_photographs"] ==
                                                    len(set(setup.test.photographs))).all()


def test_adaptive_check_text_is_what_notebook_08_checks():
    """check_text of the committed bypass table prints exactly the committed checked output of notebook 08."""
    root = Path(__file__).resolve().parents[1]
    table = load_bypass_table(root / "data" / "results" / "adaptive_efficientnet_lite0.csv")
    cells = json.loads((root / "notebooks" / "08_adaptive_attacks.ipynb").read_text())["cells"]
    cell = next(c for c in cells if c["cell_type"] == "code" and "adaptive.check_text" in "".join(c["source"]))
    printed = "".join(t for out in cell["outputs"] for t in out.get("text", []))
    result = adaptive.Result(table, None, [], {}, {})
    assert adaptive.check_text(result) + "\n" == printed


@pytest.mark.parametrize(("changes", "expected"), [
    ({"n_images": 7, "calibration_images": 12, "fpr": 0.9},  # the 7 attacked photographs leave 1 for two halves
     r"parameters n_images = 7 and calibration_images = 12: need clean images of at least 2 photographs"),
])
def test_notebook_08_names_its_parameters_when_the_images_held_apart_are_too_few(monkeypatch, tiny, changes, expected):
    from helpers.params import check_params

    config = check_params({**notebook_defaults("08_adaptive_attacks.ipynb"), **changes})
    monkeypatch.setattr(adaptive, "load_model", lambda *args, **kwargs: tiny)  # 16x16 views of the photographs
    with pytest.raises(ValueError, match=expected):
        adaptive.prepare(config)


def test_table_v_advantage_needs_the_intervals_apart_not_higher_point_estimates():
    facts = comparison.facts(comparison_result(0.62, 0.5))  # above FS's 0.6 and 0.45, but within ±0.05 of them
    assert facts.wins["m"] == () and "with the 95% intervals apart" in comparison.findings(facts)
    assert comparison.facts(comparison_result(0.9, 0.7)).wins["m"] == (comparison.PAPER_V["saliency_color_reverse"],)


def test_the_auc_comparison_says_better_worse_or_not_resolved_from_the_bootstrap_intervals():
    key_s, key_f = comparison.PAPER_V["saliency_color_reverse"], comparison.PAPER_V["feature_squeezing"]
    auc = pd.DataFrame([{**comparison._key_columns(key_s), "attack": "cw_l2", "value": 0.72, "ci_low": 0.55,
                         "ci_high": 0.85},
                        {**comparison._key_columns(key_f), "attack": "cw_l2", "value": 0.96, "ci_low": 0.9,
                         "ci_high": 1.0}])
    line = comparison._auc_line(auc, "cw_l2")
    assert "against Feature Squeezing's 0.96 [0.90, 1.00]" in line and "0.72 [0.55, 0.85]: worse" in line
    assert "not resolved" in comparison._auc_line(auc.assign(ci_high=[0.95, 1.0]), "cw_l2")
    assert comparison._auc_line(auc.iloc[:1], "cw_l2") is None  # no Feature Squeezing row


def test_matched_view_lines_join_the_attacks_no_detector_resolves():
    def rows(attack, detector, tpr, note=""):
        base = {"model": "m", "detector": detector, "noise": "none" if detector == "saliency" else "",
                "theta": 0.1 if detector == "saliency" else np.nan,
                "squeezer": "bit_depth:5" if detector == "feature_squeezing" else "", "attack": attack,
                "view": "matched", "target_fpr": 0.05}
        return [{**base, "metric": "tpr_at_fpr", "value": tpr, "note": note},
                {**base, "metric": "fpr_heldout", "value": 0.04, "note": note}]
    never = "not resolvable at n = 4"
    facts = pd.DataFrame([*rows("fgsm", "saliency", np.nan, never), *rows("fgsm", "feature_squeezing", np.nan, never),
                          *rows("pgd", "saliency", 0.5), *rows("pgd", "feature_squeezing", np.nan, never),
                          *rows("cw_l2", "saliency", np.nan, never),
                          *rows("cw_l2", "feature_squeezing", np.nan, never)])
    lines = comparison.matched_fpr_lines(facts)
    assert len(lines) == 2
    assert lines[0].startswith("- PGD at a matched 5% false-positive rate (held-out half): saliency")
    assert "50.0% (held-out FPR 4.0%)" in lines[0] and never in lines[0]
    assert lines[1] == ("- FGSM, C&W-L2 at a matched 5% false-positive rate (held-out half): not resolvable at n = 4 "
                        "calibration photographs for every detector (5% of them is under 5 expected false positives).")
