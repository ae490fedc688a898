"""Every notebook runs end to end through papermill with small parameters and exports its figures
and tables."""

from pathlib import Path

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


def test_every_notebook_is_covered():
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) == sorted(SMALL)


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_with_small_parameters(name, tmp_path):
    params, outputs = SMALL[name]
    params = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in params.items()}
    params["figures_dir"] = str(tmp_path)
    pm.execute_notebook(NOTEBOOKS / name, tmp_path / name, parameters=params,
                        kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    for output in outputs:  # a figure name stands for its PDF and PNG
        for name in [output] if "." in output else [f"{output}.pdf", f"{output}.png"]:
            assert (tmp_path / name).stat().st_size > 100
