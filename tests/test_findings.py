"""Generated result sentences say what the numbers say, whichever way they go."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from helpers.attack_report import full_success_budgets
from helpers.experiments import ablation, attack_success, theta_sweep
from helpers.experiments.emphasis_image import emphasis_findings
from helpers.experiments.gradcam_saliency import saliency_shift_findings

SWEEP = {"attacks": ["fgsm"], "thetas": [0.1, 0.5], "noises": ["none"], "colormap": "jet", "overlay_order": "coarse",
         "zero_mean_reference": "imagenet", "roc_thetas": [0.1], "fpr": 0.05, "seed": 0, "batch_size": 16}


def theta_sweep_findings(rates, attacks, added, verdicts, selected) -> str:
    """Notebook 05's sentences of these facts (:func:`helpers.experiments.theta_sweep.findings`)."""
    models = list(dict.fromkeys(rates["model"]))
    config = theta_sweep.Config.from_params({**SWEEP, "attacks": attacks})
    facts = theta_sweep.Facts(config, {m: "" for m in models}, rates, added, selected, verdicts,
                              theta_sweep.counts_of(added, verdicts, models), pd.DataFrame())
    return theta_sweep.findings(facts)


def row(detector, attack, metric, value, noise="", theta=np.nan, squeezer="", n=10, model="m"):
    return {"model": model, "detector": detector, "noise": noise, "theta": theta, "squeezer": squeezer,
            "attack": attack, "metric": metric, "value": value, "ci_low": max(value - 0.2, 0),
            "ci_high": min(value + 0.1, 1), "n": n}


def claims(verdicts, model="m"):
    """Rows of :func:`claims_check` for one model with these verdicts."""
    return pd.DataFrame({"claim": [f"claim {i}" for i in range(len(verdicts))], "model": model, "left": 1.0,
                         "right": 0.0, "verdict": verdicts})


ADDED = {"noise": "none", "attack": "fgsm", "AUC θ=0": 0.5, "AUC θ=0 low": 0.3, "AUC θ=0 high": 0.55, "best θ>0": 0.5,
         "AUC best θ>0": 0.6, "AUC best θ>0 low": 0.58, "AUC best θ>0 high": 0.8, "AUC 1-max softmax": 0.7,
         "AUC 1-max softmax low": 0.5, "AUC 1-max softmax high": 0.9, "overlay vs noise alone": "better",
         "overlay vs baseline": "not resolved"}


def sweep_rates(ospa_hi: float) -> pd.DataFrame:
    return pd.DataFrame([row("saliency", "clean", "ospa", 0.9, "none", 0.1),
                         row("saliency", "clean", "ospa", ospa_hi, "none", 0.5),
                         row("saliency", "fgsm", "detection_rate", 0.2, "none", 0.1),
                         row("saliency", "fgsm", "detection_rate", 0.4, "none", 0.5)])


def test_theta_sweep_findings_follow_the_direction_of_the_numbers():
    added = pd.DataFrame([{**ADDED, "model": "m"}])
    verdicts = claims(["holds", "fails", "not measured"])
    selected = pd.DataFrame([{"noise": "none", "theta": 0.1, "attack": "clean", "metric": "ospa", "value": 0.9,
                              "ci_low": 0.7, "ci_high": 1.0, "n": 10},
                             {"noise": "none", "theta": 0.1, "attack": "fgsm", "metric": "detection_rate",
                              "value": 0.2, "ci_low": 0.0, "ci_high": 0.3, "n": 10}]).assign(model="m")
    text = theta_sweep_findings(sweep_rates(0.3), ["fgsm"], added, verdicts, selected)
    assert "OSPA falls from 90.0% [70, 100] (n = 10) at θ = 0.1 to 30.0%" in text
    assert "FGSM detection goes from 20.0% to 40.0%, not resolved by the intervals" in text  # [0, 30] vs [20, 50]
    assert "Over the noise alone (θ = 0): better in 1, not better in 0 of 1 (noise, attack) pairs" in text
    assert "baseline: better in 0, worse in 0, not resolved in 1, baseline reversed in 0." in text
    assert "1 holds, 1 fails, 0 not resolved, 1 not measured on this model" in text
    two = claims(["holds", "holds", "not resolved", "fails"])
    assert "2 hold, 1 fails, 1 not resolved, 0 not measured" in theta_sweep_findings(sweep_rates(0.3), ["fgsm"],
                                                                                    added, two, selected)
    reversed_base = added.assign(**{"overlay vs baseline": "separates, reversed"})
    assert "its score separates the inputs with its sign flipped" in theta_sweep_findings(
        sweep_rates(0.3), ["fgsm"], reversed_base, two, selected)
    assert "no noise, θ = 0.1: OSPA 90.0 [70, 100] (10), FGSM 20.0 [0, 30] (10)" in text
    assert "OSPA goes from 90.0% [70, 100] (n = 10) at θ = 0.1 to 95.0%" in theta_sweep_findings(
        sweep_rates(0.95), ["fgsm"], added.iloc[:0], verdicts, selected)  # overlapping: no direction claimed


def test_findings_of_several_models_name_the_model_of_each_statement():
    added = pd.DataFrame([ADDED])
    verdicts = {"lite0": claims(["holds", "fails"], "lite0"), "lite2": claims(["fails", "fails"], "lite2")}
    selected = pd.DataFrame([{"noise": "none", "theta": 0.1, "attack": "clean", "metric": "ospa", "value": 0.9,
                              "ci_low": 0.7, "ci_high": 1.0, "n": 10}])
    alone = {m: theta_sweep_findings(sweep_rates(hi).assign(model=m), ["fgsm"], added.assign(model=m), verdicts[m],
                                     selected.assign(model=m))
             for m, hi in (("lite0", 0.3), ("lite2", 0.95))}
    both = theta_sweep_findings(pd.concat([sweep_rates(0.3).assign(model="lite0"),
                                           sweep_rates(0.95).assign(model="lite2")]), ["fgsm"],
                                pd.concat([added.assign(model="lite0"), added.assign(model="lite2")]),
                                pd.concat(verdicts.values()),
                                pd.concat([selected.assign(model="lite0"), selected.assign(model="lite2")]))
    lines = both.splitlines()
    assert len(lines) == len(alone["lite0"].splitlines()) + len(alone["lite2"].splitlines())
    assert all(line.startswith(("- **lite0:** ", "- **lite2:** ")) for line in lines)
    assert "- **lite0:** *Trade-off without noise.* OSPA falls" in both
    assert "- **lite2:** *Trade-off without noise.* OSPA goes from" in both
    assert "**lite0:** *The paper's claims (Tables I-III):* 1 holds, 1 fails" in both
    assert "**lite2:** *The paper's claims (Tables I-III):* 0 hold, 2 fail" in both
    assert both.replace("**lite0:** ", "").startswith(alone["lite0"])


def test_small_findings():
    assert "moves more than the control" in saliency_shift_findings(np.array([True, True]), np.array([0.2, 0.4]),
                                                                     np.array([0.9, 0.95]))
    assert "does not move more" in saliency_shift_findings(np.array([True]), np.array([0.9]), np.array([0.5]))
    assert "θ = 0.5: 2 of 3" in emphasis_findings([0.1, 0.5], np.array([[0, 0, 0], [1, 1, 0]], bool))
    summary = pd.DataFrame([{"attack": "pgd", "successes": 4, "n": 4, "l2_median": 2.31}])
    sweep = pd.DataFrame({"attack": ["pgd"] * 3, "eps_255": [0.25, 0.5, 1.0], "successes": [2, 4, 4], "n": [4] * 3})
    def attack_findings(summary, sweep):
        return attack_success.findings(SimpleNamespace(summary=summary, budgets=full_success_budgets(sweep)))

    text = attack_findings(summary, sweep)
    assert "PGD 4/4 (median L2 589.1 grey levels)" in text and "100% from 0.5/255 on" in text
    assert "never 100%" in attack_findings(summary, sweep.assign(successes=[1, 2, 3]))
    assert "100% at 0.5/255 but not at every larger budget" in attack_findings(summary,
                                                                              sweep.assign(successes=[2, 4, 3]))


def ablation_rates(layercam_auc: float, baseline_auc: float = 0.5) -> pd.DataFrame:
    """AUCs of Grad-CAM (0.6 [0.4, 0.7]) and LayerCAM on one model, attack and theta, and the baseline."""
    rows = [{**row("saliency", "fgsm", "auc", 0.6, "none", 0.1), "saliency_method": "gradcam"},
            {**row("saliency", "fgsm", "auc", layercam_auc, "none", 0.1), "saliency_method": "layercam"},
            {**row("baseline", "fgsm", "auc", baseline_auc), "saliency_method": ""}]
    return pd.DataFrame(rows).assign(model="m")


def saliency_ablation_findings(rates: pd.DataFrame, titles: dict, costs: pd.DataFrame | None = None) -> str:
    """Notebook 10's sentences of these rates (:func:`helpers.experiments.ablation.findings`)."""
    config = ablation.Config.from_params({"saliency_methods": list(titles), "attacks": ["fgsm"], "noises": ["none"],
                                          "thetas": [0.1], "colormap": "jet", "overlay_order": "coarse",
                                          "zero_mean_reference": "imagenet", "fpr": 0.05, "seed": 0, "batch_size": 1})
    costs = pd.DataFrame(columns=ablation.COST_COLUMNS) if costs is None else costs
    result = ablation.Result(pd.DataFrame(), rates, {m: {} for m in dict.fromkeys(rates["model"])}, config, costs)
    return ablation.findings(ablation.facts(result))


def test_saliency_ablation_verdict_follows_the_intervals():
    titles = {"gradcam": "Grad-CAM", "layercam": "LayerCAM"}
    overlapping = saliency_ablation_findings(ablation_rates(0.75), titles)
    assert "Does any method beat Grad-CAM?** No" in overlapping
    assert "LayerCAM above in 0, below in 0 of 1" in overlapping
    assert "baseline?** No method" in overlapping
    above = saliency_ablation_findings(ablation_rates(0.95, baseline_auc=0.2), titles)  # [0.75, 1] vs [0.4, 0.7]
    assert "Does any method beat Grad-CAM?** Yes" in above and "m: LayerCAM (FGSM, none, θ = 0.1)" in above
    assert "LayerCAM above in 1, below in 0 of 1" in above
    # baseline [0, 0.3]: both intervals lie above it
    assert "baseline?** Yes, in m: Grad-CAM (FGSM, none, θ = 0.1); m: LayerCAM (FGSM, none, θ = 0.1)." in above
    assert "Grad-CAM above in 1, below in 0 of 1" in above
    costs = pd.DataFrame({"model": ["m", "m"], "saliency_method": ["gradcam", "layercam"],
                          "ratio_to_inference": [2.0, 2.25]})
    assert "Grad-CAM 2.00, LayerCAM 2.25" in saliency_ablation_findings(ablation_rates(0.5), titles, costs)


def test_noise_findings_count_only_successful_adversarial_examples():
    from helpers.experiments.noise_preprocessing import noise_findings

    benign, adversarial = np.array([1, 2, 3, 4]), np.array([5, 6, 3, 7])  # image 2: the attack failed
    success = adversarial != benign
    labels = {"none": np.array([1, 5, 2, 6, 3, 3, 4, 7]),
              "color_reverse": np.array([1, 1, 2, 6, 3, 8, 9, 4])}  # images 0 and 3 leave; 2 changes but failed
    text = noise_findings(labels, benign, adversarial, success)
    assert text.startswith("colour reversing: 3 of 4 benign images keep their label, 2 of 3 adversarial examples "
                           "leave their adversarial label (1 of 4 attacks failed and are not counted).")


def test_the_margin_line_sets_cw_at_kappa_zero_beside_its_margin_twin_and_judges_by_the_intervals():
    params = {"attacks": ["cw_l2", "cw_l2_kappa"], "attack_settings": "default", "attack_params": {}}

    def rates(zero, margin, theta=0.1):
        return pd.DataFrame([row("saliency", "cw_l2", "detection_rate", zero, "none", theta),
                             row("saliency", "cw_l2_kappa", "detection_rate", margin, "none", theta),
                             row("saliency", "cw_l2", "detection_rate", 0.0, "none", 0.0)])  # θ = 0: not read

    line = theta_sweep.margin_line(rates(0.9, 0.2), params)  # intervals [0.7, 1] and [0, 0.3]: apart
    assert line.startswith("- *C&W-L2 with and without a margin* (no noise, θ = 0.1): detected in 90.0% [70, 100]")
    assert "in 20.0% [0, 30] (n = 10) with a margin of κ = 5 (lower, by the intervals)" in line
    assert "(higher, by the intervals)" in theta_sweep.margin_line(rates(0.2, 0.9), params)
    assert "(not resolved by the intervals)" in theta_sweep.margin_line(rates(0.5, 0.6), params)
    assert "θ = 0.3" in theta_sweep.margin_line(rates(0.9, 0.2, theta=0.3), params)  # the smallest θ > 0
    assert theta_sweep.margin_line(rates(0.9, 0.2), {**params, "attacks": ["cw_l2"]}) is None  # no twin
    kappa_one = {**params, "attack_params": {"cw_l2": {"confidence": 1.0}}}
    assert theta_sweep.margin_line(rates(0.9, 0.2), kappa_one) is None  # C&W-L2 itself has a margin
    assert theta_sweep.margin_line(rates(0.9, 0.2)[lambda r: r["attack"] == "cw_l2"], params) is None
