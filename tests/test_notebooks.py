"""Every notebook runs end to end through papermill with small parameters and exports its figures
and tables."""

from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SMALL = {
    "01_gradcam_saliency.ipynb": ({"n_images": 2}, ["figure1_saliency_benign_vs_adversarial"]),
    "02_emphasis_image.ipynb": ({"n_images": 2, "thetas": [0.2]}, ["figure2_emphasis_image",
                                                                    "figure2b_overlay_orders"]),
    "03_noise_preprocessing.ipynb": ({"n_images": 1, "zero_mean_reference": "gray"},
                                     ["figure4_noise_preprocessing"]),
    "04_attacks.ipynb": ({"n_images": 2, "attacks": ["fgsm", "cw_l2"], "sweep_attacks": ["fgsm"],
                          "sweep_eps_255": [1, 2], "cache_dir": "{tmp}/cache",
                          "attack_params": {"cw_l2": {"binary_search_steps": 1, "max_iter": 2}}},
                         ["figure_attack_success_vs_eps", "figure_attack_examples"]),
    "05_theta_sweep.ipynb": ({"n_images": 4, "attacks": ["fgsm"], "thetas": [0.0, 0.3], "noises": ["none", "zero_mean"],
                              "roc_thetas": [0.3], "cache_dir": "{tmp}/cache", "results_dir": "{tmp}/results"},
                             ["figure_tradeoff_ospa_vs_detection", "figure_roc_theta"]),
    "06_feature_squeezing.ipynb": ({"n_images": 4, "attacks": ["fgsm"], "squeezers": ["bit_depth:4", "median:2x2"],
                                    "joint": ["bit_depth:4", "median:2x2"], "cache_dir": "{tmp}/cache",
                                    "results_dir": "{tmp}/results"},
                                   ["table4_feature_squeezing_label_change.csv", "table4_feature_squeezing_auc.tex"]),
    "07_comparison.ipynb": ({"n_images": 4, "attacks": ["fgsm"], "squeezers": ["bit_depth:5", "median:2x2"],
                             "cost_images": 2, "cache_dir": "{tmp}/cache",
                             "results_dir": "{tmp}/results"}, ["figure_roc_comparison"]),
    "08_adaptive_attacks.ipynb": ({"n_images": 1, "calibration_images": 2, "sweep_eps_255": [16], "variants": ["bpda"],
                                   "thetas": [0.1], "squeezers": ["bit_depth:5"], "cache_dir": "{tmp}/cache",
                                   "results_dir": "{tmp}/results",
                                   "attack_params": {"pgd": {"max_iter": 2}, "pgd_l2": {"max_iter": 2},
                                                     "cw_l2": {"max_iter": 2}, "square": {"max_iter": 5},
                                                     "hopskipjump": {"max_iter": 1, "max_eval": 5, "init_eval": 2,
                                                                     "init_size": 2}}},
                                  ["figure_adaptive_bypass_vs_eps", "table_adaptive_paper_vs_adaptive.csv"]),
    "09_scale_out.ipynb": ({"n_images": 2, "batch_size": 1, "thetas": [0.1], "noises": ["none"],
                            "joint": ["bit_depth:5"], "cache_dir": "{tmp}/cache", "out_dir": "{tmp}/study"},
                           ["study/scores.parquet", "study/rates.csv"]),
    "10_saliency_ablation.ipynb": ({"n_images": 4, "models": ["efficientnet_lite0"], "saliency_methods": ["gradcam",
                                    "layercam"], "attacks": ["fgsm"], "thetas": [0.3], "figure_images": 2,
                                    "cost_images": 2, "cache_dir": "{tmp}/cache", "results_dir": "{tmp}/results"},
                                   ["figure_saliency_methods", "figure_auc_by_saliency_method",
                                    "table_saliency_ablation_auc.csv", "table_saliency_ablation_detection.tex"]),
}

# Two models side by side (`models`): one column group per model in each table, a figure per model.
LITES = ["efficientnet_lite0", "efficientnet_lite2"]
SEVERAL_MODELS = {
    "05_theta_sweep.ipynb": ({**SMALL["05_theta_sweep.ipynb"][0], "models": LITES},
                             [*(f"{f}_{m}" for f in ("figure_tradeoff_ospa_vs_detection", "figure_roc_theta")
                                for m in LITES), "table_none_theta_sweep.csv", "table_paper_side_by_side.tex",
                              "results/scores_theta_sweep_efficientnet_lite2.parquet"]),
    "07_comparison.ipynb": ({**SMALL["07_comparison.ipynb"][0], "models": LITES},
                            [*(f"figure_roc_comparison_{m}" for m in LITES), "table5_comparison_auc.csv",
                             "results/scores_comparison_efficientnet_lite0.parquet"]),
}


def test_every_notebook_is_covered():
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) == sorted(SMALL)


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_with_small_parameters(name, tmp_path):
    run(name, *SMALL[name], tmp_path)


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(SEVERAL_MODELS))
def test_notebook_runs_with_several_models(name, tmp_path):
    run(name, *SEVERAL_MODELS[name], tmp_path)
    tables = [t for t in tmp_path.glob("table*.csv") if not t.name.endswith("_tidy.csv")]
    assert tables
    for table in tables:  # a column group per model (the first header row names them), each model's rows in the twin
        header = table.read_text().splitlines()[0]
        assert [m for m in LITES if m in header] == LITES, table.name
        assert set(pd.read_csv(table.with_name(f"{table.stem}_tidy.csv"))["model"]) >= set(LITES), table.name


def run(name: str, params: dict, outputs: list[str], tmp_path: Path) -> None:
    """Run notebook ``name`` with ``params`` into ``tmp_path`` and check that each of ``outputs`` is there."""
    params = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in params.items()}
    params["figures_dir"] = str(tmp_path)
    pm.execute_notebook(NOTEBOOKS / name, tmp_path / name, parameters=params,
                        kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    for output in outputs:  # a figure name stands for its PDF and PNG
        for name in [output] if "." in output else [f"{output}.pdf", f"{output}.png"]:
            assert (tmp_path / name).stat().st_size > 100
