"""The adaptive evaluation's report against per-image computations with the non-adaptive helpers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import stripes
from scipy.special import softmax

from helpers.adaptive.defences import Defence, System, hold_out, realised_fpr, resolvable_fit, system_fpr
from helpers.adaptive.protocol import (
    ENSEMBLE_MODE,
    HIGH_CONFIDENCE,
    NON_ADAPTIVE,
    VERSUS_RATES,
    AttackRun,
    bypass_layout,
    bypass_table,
    evaluation_runs,
    load_bypass_table,
    paper_vs_adaptive,
    paper_vs_adaptive_tidy,
    save_bypass_table,
    within_budget,
)
from helpers.attacks import AttackResult, bypass
from helpers.data import ImageSet
from helpers.detectors import ConfidenceDetector, FeatureSqueezingDetector, SaliencyDetector
from helpers.emphasis import emphasis_images
from helpers.experiments.adaptive import adaptive_findings, adaptive_readme_lines, bypass_vs_eps_figure, ensemble_line
from helpers.metrics import clustered_interval, design_effect, threshold_at_fpr, wilson_interval
from helpers.readme import README_SOURCES, readme_findings
from helpers.saliency import GradCAM
from helpers.squeeze import squeezer
from helpers.transforms import apply_noise

THETAS = (0.1, 0.3)


@pytest.fixture(scope="module")
def data(toy):
    x, _ = stripes(40, seed=3)
    return x[:8], x[8:], toy.predict(x[:8])[0]


def saliency_score(bundle, x, thetas, noise):
    """max over theta of the L1 distance between softmax(f(x)) and softmax(f(E_theta(x))), image by image."""
    cam = GradCAM(bundle.model, bundle.gradcam_layer)(x).coarse
    p = softmax(bundle.logits(x), axis=1)
    views = [emphasis_images(apply_noise(x, noise), cam, t) for t in thetas]
    return np.max([np.abs(softmax(bundle.logits(v), axis=1) - p).sum(1) for v in views], axis=0), \
        np.any([bundle.predict(v)[0] != p.argmax(1) for v in views], axis=0)


def test_defence_flags_match_a_per_image_computation(toy, data):
    x, calib, _ = data
    defence = Defence("s", SaliencyDetector(toy, THETAS, "color_reverse")).fit(calib, fpr=0.25)
    calib_score, _ = saliency_score(toy, calib, THETAS, "color_reverse")
    k = int(np.floor(0.25 * len(calib)))  # at most this many clean calibration scores above the threshold
    assert defence.threshold == pytest.approx(np.sort(calib_score)[-k - 1], rel=1e-5)
    score, changed = saliency_score(toy, x, THETAS, "color_reverse")
    own, matched = defence.flags(x)
    np.testing.assert_array_equal(own, changed)
    assert np.abs(score - defence.threshold).min() > 1e-4  # a margin: the two computations differ in the last bits
    np.testing.assert_array_equal(matched, score > defence.threshold)
    np.testing.assert_array_equal(own, bypass(toy, SaliencyDetector(toy, THETAS, "color_reverse"), x,
                                              toy.predict(x)[0] + 0).flagged)


def test_score_only_and_squeezing_defences(toy, data):
    x, calib, _ = data
    baseline = Defence("b", ConfidenceDetector(toy)).fit(calib, fpr=0.2)
    own, matched = baseline.flags(x)
    assert own is None
    confidence = softmax(toy.logits(x), axis=1).max(1)
    assert np.abs(1 - confidence - baseline.threshold).min() > 1e-5  # a margin from the threshold, as above
    np.testing.assert_array_equal(matched, 1 - confidence > baseline.threshold)
    specs = ("bit_depth:4", "median:2x2")
    squeezing = Defence("fs", FeatureSqueezingDetector(toy, specs, "label_change")).fit(calib, fpr=0.2)
    labels = toy.predict(x)[0]
    changed = np.any([toy.predict(squeezer(s)(x))[0] != labels for s in specs], axis=0)
    np.testing.assert_array_equal(squeezing.flags(x)[0], changed)
    with pytest.raises(RuntimeError, match="call fit"):
        Defence("b", ConfidenceDetector(toy)).flags(x)


def fake_result(x_adv, l2, linf, queries=None):
    n = len(x_adv)
    return AttackResult("a", x_adv, np.ones(n, bool), np.zeros(n, np.int32), np.zeros(n, np.int32), None,
                        np.asarray(l2, np.float32), np.asarray(linf, np.float32), {}, 1.0, queries)


def test_bypass_table_against_a_per_image_count(toy, data):
    x, calib, y = data
    rng = np.random.default_rng(0)
    x_adv = np.clip(x + rng.normal(0, 60, x.shape), 0, 255).astype(np.float32)  # some fool f, some do not
    l2 = np.linspace(0.5, 2.0, len(x))
    runs = [AttackRun("noise", "pgd_l2", NON_ADAPTIVE, "", "l2", 1.2, toy),
            AttackRun("free", "hopskipjump", "black box", "", "l2", np.nan, toy)]
    results = {"noise": fake_result(x_adv, l2, l2 / 10), "free": fake_result(x_adv, l2, l2 / 10, np.arange(8))}
    defence = Defence("s", SaliencyDetector(toy, THETAS)).fit(calib, fpr=0.25)
    table = bypass_table(toy, runs, results, [defence], x, y)
    fooled = toy.predict(x_adv)[0] != y
    own, matched = defence.flags(x_adv)
    for label, ok in (("noise", fooled & (l2 <= 1.2)), ("free", fooled)):
        row = table[table["label"] == label].iloc[0]
        assert row["success"] == ok.mean() and row["success_n"] == len(x)
        assert row["bypass_own"] == (ok & ~own).mean() and row["bypass_matched"] == (ok & ~matched).mean()
        assert row["detection_own_n"] == ok.sum()
        if ok.any():
            assert row["detection_own"] == (own & ok).sum() / ok.sum()
            assert row["l2_median"] == pytest.approx(np.median(l2[ok]))
        lo, hi = wilson_interval(int((ok & ~own).sum()), len(x))
        assert (row["bypass_own_ci_low"], row["bypass_own_ci_high"]) == pytest.approx((lo, hi))
    assert 0 < table.loc[table["label"] == "noise", "success"].iloc[0] < 1  # the budget cut some successes
    assert table.loc[table["label"] == "free", "queries_median"].iloc[0] == 3.5
    clean = table[table["label"] == "clean"].iloc[0]
    assert clean["fpr_own"] == defence.flags(x)[0].mean() and clean["fpr_matched"] == defence.flags(x)[1].mean()
    # views of one photograph: clustered intervals; a defence without a threshold: no matched rates
    photographs = np.repeat(["a", "b", "c", "d"], 2)
    unfitted = Defence("u", SaliencyDetector(toy, THETAS))
    grouped = bypass_table(toy, runs, results, [defence, unfitted], x, y, photographs)
    for label, ok in (("noise", fooled & (l2 <= 1.2)), ("free", fooled)):
        row = grouped[(grouped["label"] == label) & (grouped["defence"] == "s")].iloc[0]
        flags = ok & ~own
        assert (row["bypass_own_ci_low"], row["bypass_own_ci_high"]) == pytest.approx(
            clustered_interval(int(flags.sum()), len(x), design_effect(flags, photographs)))
        assert row["bypass_own_photographs"] == 4
        row = grouped[(grouped["label"] == label) & (grouped["defence"] == "u")].iloc[0]
        assert row["bypass_matched_n"] == 0 and row["detection_matched_n"] == 0 and row["bypass_own_n"] == len(x)


def test_within_budget():
    r = fake_result(np.zeros((3, 2, 2, 3), np.float32), [0.5, 1.0, 1.5], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(within_budget(r, "l2", 1.0), [True, True, False])
    np.testing.assert_array_equal(within_budget(r, "linf", 0.15), [True, False, False])
    np.testing.assert_array_equal(within_budget(r, "l2", np.nan), [True, True, True])


def test_evaluation_runs_are_the_papers_attacks_made_on_f(toy):
    detectors = {"s": SaliencyDetector(toy, THETAS)}
    settings = {"pgd": {"max_iter": 4}, "pgd_l2": {"max_iter": 4}, "cw_l2": {}, "square": {}, "hopskipjump": {}}
    runs = evaluation_runs(toy, settings, [2 / 255, 8 / 255], 1.0, 5.0, 8 / 255, ("s", detectors["s"]))
    labels = [r.label for r in runs]
    assert len(labels) == len(set(labels)) == 2 + 1 + 2 + 1 + 2
    assert all(r.model is toy for r in runs)  # one adaptive attacker: the ensemble, not these
    assert [r.mode for r in runs if r.attack in ("pgd", "pgd_l2", "cw_l2")] == [NON_ADAPTIVE] * 4 + [HIGH_CONFIDENCE]
    pgd = [r for r in runs if r.attack == "pgd" and r.eps == 8 / 255]
    assert len(pgd) == 1 and pgd[0].params["eps_step"] == pytest.approx(2.5 * 8 / 255 / 4)
    assert runs[-1].detector is detectors["s"] and runs[-1].target == "s"


def test_hold_out_keeps_each_photograph_on_one_side():
    ids = ("a", "b", "c", "d", "a#view1", "b#view1", "c#view1", "d#view1", "e", "e#view1")
    images = ImageSet(np.zeros((10, 2, 2, 3), np.float32), ids, np.arange(10), "10 images")
    attacked, calibration, test = hold_out(images, 2, seed=0)
    assert attacked.ids == ("a", "b")
    sides = [{i.split("#")[0] for i in part.ids} for part in (attacked, calibration, test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert sides[1] | sides[2] == {"c", "d", "e"}  # the attacked photographs' other views are dropped
    assert len(calibration) + len(test) == 6
    with pytest.raises(ValueError, match="more than n = 10"):
        hold_out(images, 10)
    with pytest.raises(ValueError, match="at least 2 photographs"):
        hold_out(images.take(np.array([0, 1, 2, 4, 5, 6])), 2)


def test_matched_threshold_refuses_too_few_calibration_images(toy, data):
    _, calib, _ = data
    with pytest.raises(ValueError, match=r"fpr = 0.05 needs fpr x n_calibration >= 5; got n_calibration = 32"):
        Defence("b", ConfidenceDetector(toy)).fit(calib, fpr=0.05)
    Defence("b", ConfidenceDetector(toy)).fit(calib, fpr=5 / 32)  # exactly 5 expected false positives


def test_matched_threshold_counts_calibration_photographs_not_views(toy, data):
    """32 views of 8 photographs: fpr 0.25 x 32 views = 8 would pass, 0.25 x 8 photographs = 2 does not."""
    _, calib, _ = data
    photographs = np.repeat([f"p{i}" for i in range(8)], 4)
    with pytest.raises(ValueError, match=r"got n_calibration = 8 photographs"):
        Defence("b", ConfidenceDetector(toy)).fit(calib, fpr=0.25, photographs=photographs)
    with pytest.raises(ValueError, match=r"got n_calibration = 8 photographs"):
        System([Defence("b", ConfidenceDetector(toy))]).fit(calib, fpr=0.25, photographs=photographs)
    assert resolvable_fit(Defence("b", ConfidenceDetector(toy)), calib, 0.25, photographs).startswith("not resolvable")
    system = System([Defence("b", ConfidenceDetector(toy))])
    note = resolvable_fit(system, calib, 0.25, photographs)
    assert system.threshold is None and note == "not resolvable at n = 8 calibration photographs (fpr 0.25 x 8 < 5)"
    assert resolvable_fit(system, calib, 0.25) == "" and system.threshold is not None  # 32 photographs


def test_the_system_has_one_threshold_on_its_largest_score(toy, data):
    """One threshold on the largest of the detectors' scores: the system's FPR is the target (not the union of
    thresholds fitted one by one, whose FPR is up to the sum of theirs)."""
    x, calib, _ = data
    defences = [Defence("s", SaliencyDetector(toy, THETAS, "color_reverse")), Defence("b", ConfidenceDetector(toy))]
    system = System(defences).fit(calib, fpr=0.25)
    calib_max = np.max([d.scores(calib)[1] for d in defences], axis=0)
    assert system.threshold == threshold_at_fpr(calib_max, 0.25)
    assert (calib_max > system.threshold).mean() <= 0.25
    own, matched, score = system.flags(x)
    scores = np.array([d.scores(x)[1] for d in defences])
    np.testing.assert_array_equal(score, scores.max(axis=0))
    np.testing.assert_array_equal(matched, scores.max(axis=0) > system.threshold)
    np.testing.assert_array_equal(own, defences[0].scores(x)[0])  # the baseline has no own rule
    table = system_fpr(system, x, photographs=np.repeat(["a", "b", "c", "d"], 2))
    assert table["defence"].tolist() == ["s", "b", "system"]
    got = table.set_index("defence")
    assert got.loc["system", "fpr_matched"] == matched.mean() and got.loc["system", "fpr_own"] == own.mean()
    for d, s in zip(["s", "b"], scores, strict=True):
        assert got.loc[d, "fpr_matched"] == (s > system.threshold).mean()  # its share at the system's threshold
    assert got.loc["system", "fpr_matched_photographs"] == 4 and (got["threshold"] == system.threshold).all()
    assert np.isnan(got.loc["b", "fpr_own"])
    flags = matched  # the interval counts photographs (views of one are not independent)
    deff = design_effect(flags, np.repeat(["a", "b", "c", "d"], 2))
    lo, hi = clustered_interval(int(flags.sum()), len(flags), deff)
    assert (got.loc["system", "fpr_matched_ci_low"], got.loc["system", "fpr_matched_ci_high"]) == (lo, hi)


def test_an_unfitted_system_reports_its_note_and_no_matched_rate(toy, data):
    x, calib, _ = data
    system = System([Defence("s", SaliencyDetector(toy, THETAS, "color_reverse"))])
    system.note = "not resolvable at n = 2 calibration photographs (fpr 0.2 x 2 < 5)"
    table = system_fpr(system, x)
    assert table["fpr_matched_n"].eq(0).all() and table["note"].eq(system.note).all()
    assert table.set_index("defence").loc["system", "fpr_own"] == system.flags(x)[0].mean()


def test_realised_fpr_counts_flags_on_the_test_split(toy, data):
    x, calib, _ = data
    defence = Defence("b", ConfidenceDetector(toy)).fit(calib, fpr=0.25)
    table = realised_fpr([defence], x)
    _, matched = defence.flags(x)
    assert table.loc[0, "fpr_matched"] == matched.mean() and table.loc[0, "n"] == len(x)
    assert np.isnan(table.loc[0, "fpr_own"])  # a score-only detector has no own rule


def synthetic_table() -> pd.DataFrame:
    rows = [{"label": "clean", "attack": "clean", "mode": "", "target": "", "norm": "", "eps": np.nan, "defence": "s",
             "n": 4, "fpr_own": 0.5, "fpr_matched": 0.0}]
    for eps, by in ((2 / 255, 0.25), (16 / 255, 0.75)):
        rows.append({"label": f"PGD {eps}", "attack": "pgd", "mode": NON_ADAPTIVE, "target": "", "norm": "linf",
                     "eps": eps, "defence": "s", "n": 4, "success": 1.0 if eps > 0.05 else 0.5,
                     "bypass_own": by, "bypass_matched": by})
    return pd.DataFrame(rows)


def test_layouts_and_round_trip(tmp_path):
    table = full_table()
    assert len(bypass_layout(table)) == 2  # the clean row is left out
    column = f"bypass (own): {ENSEMBLE_MODE}"
    versus = paper_vs_adaptive(table)
    assert list(versus["ε"]) == ["2/255", "16/255"] and list(versus[column]) == ["–", "–"]  # no ensemble given
    ensemble = ensemble_table(4, 3)  # the ensemble at 2/255 only
    versus = paper_vs_adaptive(table, "pgd", ensemble, ["s"])
    assert str(versus.loc[0, column]).startswith("100.0") and versus.loc[1, column] == "–"
    assert paper_vs_adaptive(table, "pgd", ensemble, ["other"]).loc[0, column] == "–"  # s not in the system
    path = save_bypass_table(table, tmp_path / "t.csv")
    pd.testing.assert_frame_equal(load_bypass_table(path), table, check_dtype=False)
    # the tidy twin: each cell of the wide table is a row with its number, in percent
    tidy = paper_vs_adaptive_tidy(table, ["pgd"], ensemble, ["s"])
    assert len(tidy) == 2 * len(VERSUS_RATES) + 1 and set(tidy["unit"]) == {"%"}
    row = tidy[(tidy["mode"] == ENSEMBLE_MODE) & (tidy["metric"] == "bypass_own")].iloc[0]
    assert (row["value"], row["n"], row["eps"]) == (100.0, 4, 2 / 255)
    row = tidy[(tidy["mode"] == NON_ADAPTIVE) & (tidy["metric"] == "bypass_own") & (tidy["eps"] == 16 / 255)].iloc[0]
    assert (row["value"], row["ci_low"], row["ci_high"], row["n"]) == (75.0, 0.0, 100.0, 4)
    assert paper_vs_adaptive_tidy(table, ["cw_l2"]).empty


def full_table() -> pd.DataFrame:
    table = synthetic_table()
    for metric in ("success", "detection_own", "bypass_own", "detection_matched", "bypass_matched"):
        table[metric] = table.get(metric, 0.5)
        table[f"{metric}_ci_low"], table[f"{metric}_ci_high"], table[f"{metric}_n"] = 0.0, 1.0, 4
    table["l2_median"], table["linf_median_255"], table["queries_median"] = 1.0, 2.0, np.nan
    return table


def committed_scores(tmp_path: Path) -> Path:
    """A results folder holding copies of the committed score tables the README findings read."""
    results = tmp_path / "results"
    results.mkdir()
    committed = Path(__file__).resolve().parents[1] / "data" / "results"
    for name in (source.format(model="efficientnet_lite0") for source in README_SOURCES):
        (results / name).write_bytes((committed / name).read_bytes())
    return results


def passing_checks() -> pd.DataFrame:
    return pd.DataFrame({"check": ["iterations", "unbounded"], "rule": ["own", "own"], "passed": [True, True],
                         "detail": ["no gain", "4 of 4"]})


def test_findings_figure_and_readme_lines(tmp_path):
    table, checks = full_table(), passing_checks()
    text = adaptive_findings(table, checks, ["s"], 0.05)
    assert ("- *s, PGD made on f (non-adaptive), bypass at its own operating point* (fooled f and not flagged, over "
            "all attacked images): ε = 2/255: 25.0% [0, 100] (n = 4); ε = 16/255: 75.0% [0, 100] (n = 4).") in text
    assert "2 of 2 pass" in text and "adaptive (BPDA)" not in text
    assert "at a matched" not in text  # no matched rate without its realised false-positive rate
    text = adaptive_findings(table, checks, ["s"], 0.05, realised=fpr_rows())
    assert ("over all attacked images; its own rule flags 40.0% [10, 80] (n = 10 views of 5 photographs) of the "
            "untouched clean split): ε = 2/255") in text
    assert ("- *s at a matched 5% false-positive rate* (its threshold's realised false-positive rate on the untouched "
            "split 20.0% [10, 80] (n = 10 views of 5 photographs)): PGD made on f at ε = 16/255 bypasses 75.0%") in text
    text = adaptive_findings(table, checks, ["s"], 0.05, realised=fpr_rows("not resolvable at n = 2 calibration "
                                                                           "photographs (fpr 0.05 x 2 < 5)"))
    assert "- *s at a matched 5% false-positive rate:* not resolvable at n = 2 calibration photographs" in text
    assert adaptive_readme_lines(table, fpr_rows())[0].endswith(
        "in 75.0% [0, 100] (n = 4); its own rule flags 40.0% [10, 80] (n = 10 views of 5 photographs) of the "
        "untouched clean split.")
    assert adaptive_readme_lines(table) == [
        "- Transferred attacks (notebook 08), s: PGD at ε = 16/255 made on the undefended model bypasses it "
        "(fools f, not flagged) in 75.0% [0, 100] (n = 4)."]
    fig = bypass_vs_eps_figure(table, ["s"], ensemble=ensemble_table(4, 3))
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]  # below the column, every line of it
    assert len(fig.axes) == 2 and legend == ["non-adaptive (transferred from f) (n = 4)",
                                             "adaptive ensemble vs the system (n = 4)"]
    assert "ε" in fig.axes[1].get_xlabel() and "%" in fig.axes[0].get_ylabel()
    assert len(fig.axes[0].lines) > len(fig.axes[1].lines)  # the system's matched rule is not the detector's
    results = committed_scores(tmp_path)
    without = readme_findings(results)
    save_bypass_table(table, results / "adaptive_efficientnet_lite0.csv")
    assert readme_findings(results) == without + "\n" + adaptive_readme_lines(table)[0]


def ensemble_table(k_own: int, k_matched: int) -> pd.DataFrame:
    """An evaluation's table: the reported worst case (k_own, k_matched of 4), the ensemble (one fewer each), and
    a check's attack on the images it left."""
    rows = []
    for role, own, matched in (("worst case", k_own, k_matched), ("ensemble", k_own - 1, k_matched - 1),
                               ("transferred", 1, 0)):
        row = {"role": role, "attack": f"{role} attack", "norm": "linf", "eps_255": 2.0, "max_iter": 10, "n": 4}
        for rule, k in (("own", own), ("matched", matched)):
            rate = wilson_interval(k, 4)
            row |= {f"bypass_{rule}": k / 4, f"bypass_{rule}_ci_low": rate[0], f"bypass_{rule}_ci_high": rate[1],
                    f"bypass_{rule}_n": 4, f"bypass_{rule}_k": k}
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_ensemble_line_states_the_worst_case_or_that_the_evaluation_is_invalid(tmp_path):
    table, checks = ensemble_table(4, 3), passing_checks()
    line = ensemble_line(table, checks)
    assert "ε = 2/255 (L∞), 10 iterations per member" in line
    assert "worst-case bypass (fools f, flagged by no detector) at the detectors' own rule 100.0% [51, 100] (n = 4)" \
        in line  # the worst case, not the ensemble's first run (75%)
    assert "75.0%" not in line and "no realised false-positive rate recorded" in line  # no matched rate without it
    assert line.endswith("all 2 sanity checks pass.")
    assert adaptive_findings(full_table(), checks, ["s"], 0.05, table).startswith(line + "\n")
    failed = checks.assign(passed=[True, False])
    assert ensemble_line(table, failed).endswith(": evaluation invalid: unbounded (own rule).")
    line = ensemble_line(table, checks, fpr_rows())
    assert "at the matched threshold (one for the system, target 5% false-positive rate) 75.0% [30, 95] (n = 4)" in line
    assert "the system's realised false-positive rate on the untouched split 20.0% [10, 80]" in line
    results = committed_scores(tmp_path)
    without = readme_findings(results)
    table.to_csv(results / "adaptive_ensemble_efficientnet_lite0.csv", index=False)
    checks.to_csv(results / "adaptive_checks_efficientnet_lite0.csv", index=False)
    assert readme_findings(results) == without + "\n" + ensemble_line(table, checks)


def test_a_failed_check_replaces_every_rate_by_evaluation_invalid(tmp_path):
    table = full_table()
    checks = pd.DataFrame({"check": ["unbounded", "iterations", "budget"], "rule": ["own", "matched", "own"],
                           "passed": [True, False, False], "detail": ["", "", ""]})
    invalid = "evaluation invalid: iterations (matched rule), budget (own rule)"
    assert adaptive_findings(table, checks, ["s"], 0.05) == invalid
    results = committed_scores(tmp_path)
    without = readme_findings(results)
    save_bypass_table(table, results / "adaptive_efficientnet_lite0.csv")
    checks.to_csv(results / "adaptive_checks_efficientnet_lite0.csv", index=False)
    assert readme_findings(results) == without + f"\n- Adaptive attacks (notebook 08): {invalid}."
    checks.assign(passed=True).to_csv(results / "adaptive_checks_efficientnet_lite0.csv", index=False)
    assert readme_findings(results) == without + "\n" + adaptive_readme_lines(table)[0]


def test_budgets_read_back_from_a_csv_print_as_whole_grey_levels(tmp_path):
    table = full_table()
    table["eps"] = table["eps"].where(table["eps"].isna() | (table["eps"] < 0.05), 8 / 255)
    line = adaptive_readme_lines(load_bypass_table(save_bypass_table(table, tmp_path / "t.csv")))[0]
    assert "PGD at ε = 8/255 made on" in line  # not 7.99999/255 (the CSV keeps 6 significant digits)


def fpr_rows(note: str = "") -> pd.DataFrame:
    """A realised-FPR table (adaptive_fpr_<model>.csv): two detectors and their system, 10 views of 5 photographs."""
    rows = []
    for scope, name, own, matched in (("alone", "s", 0.4, 0.2), ("system", "s", 0.4, 0.1), ("system", "fs", 0.2, 0.1),
                                      ("system", "system", 0.5, 0.2)):
        row = {"scope": scope, "defence": name, "n": 10, "target_fpr": 0.05, "threshold": np.nan if note else 0.3,
               "note": note}
        for rule, v in (("own", own), ("matched", matched)):
            m = 0 if note and rule == "matched" else 10
            row |= {f"fpr_{rule}": v if m else np.nan, f"fpr_{rule}_ci_low": 0.1 if m else np.nan,
                    f"fpr_{rule}_ci_high": 0.8 if m else np.nan, f"fpr_{rule}_n": m,
                    f"fpr_{rule}_photographs": 5 if m else 0}
        rows.append(row)
    return pd.DataFrame(rows)


def test_every_ensemble_rate_stands_beside_its_realised_false_positive_rate(tmp_path):
    table = ensemble_table(4, 3)
    checks = passing_checks()
    line = ensemble_line(table, checks, fpr_rows())
    assert ("own rule 100.0% [51, 100] (n = 4), the system's realised false-positive rate on the untouched split "
            "50.0% [10, 80] (n = 10 views of 5 photographs) (s: 40.0% [10, 80] (n = 10 views of 5 photographs); fs: "
            "20.0% [10, 80] (n = 10 views of 5 photographs))") in line
    assert ("matched threshold (one for the system, target 5% false-positive rate) 75.0% [30, 95] (n = 4), the "
            "system's realised false-positive rate on the untouched split 20.0% [10, 80] (n = 10 views of 5 "
            "photographs) (s: 10.0%") in line
    line = ensemble_line(table, checks, fpr_rows("not resolvable at n = 2 calibration photographs (fpr 0.05 x 2 < 5)"))
    assert "matched threshold (target 5% false-positive rate): not resolvable at n = 2 calibration photographs" in line
    assert "75.0%" not in line  # no matched rate without a threshold that can be placed
    results = committed_scores(tmp_path)
    without = readme_findings(results)
    table.to_csv(results / "adaptive_ensemble_efficientnet_lite0.csv", index=False)
    checks.to_csv(results / "adaptive_checks_efficientnet_lite0.csv", index=False)
    fpr_rows().to_csv(results / "adaptive_fpr_efficientnet_lite0.csv", index=False)
    assert readme_findings(results) == without + "\n" + ensemble_line(table, checks, fpr_rows())
