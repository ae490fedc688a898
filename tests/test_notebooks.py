"""The notebooks run end to end through papermill with small parameters and export their figures
and tables. Those whose defaults are already small (``RUN_BY_NBVAL``) are executed by ``make test``'s
nbval step instead, at their defaults, in a temporary copy of the tree: a run here would repeat it.
Every run uses the notebooks' default attack cache (``data/cache/attacks``), the one nbval's copy links to:
an attack set is computed once per ``make test``."""

import importlib.util
import re
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest
from latex import PDFLATEX, latex_problems
from PIL import Image

from helpers.plotting import FIGURE_WIDTHS
from helpers.scores import load_scores

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SMALL = {
    "04_attacks.ipynb": ({"n_images": 2, "attacks": ["fgsm", "cw_l2"], "sweep_attacks": ["fgsm"],
                          "sweep_eps_255": [1, 2],
                          "attack_params": {"cw_l2": {"binary_search_steps": 1, "max_iter": 2}}},
                         ["figure_attack_success_vs_eps", "figure_attack_examples"]),
    "08_adaptive_attacks.ipynb": ({"n_images": 1, "calibration_images": 40, "fpr": 0.4, "sweep_eps_255": [16],
                                   "variants": ["bpda"], "check_eps_255": [1],
                                   "adaptive_budget": {"max_iter": 2, "n_targets": 1, "sweep_factor": 2,
                                                       "unbounded_images": 1, "square_queries": 5},
                                   "thetas": [0.1], "squeezers": ["bit_depth:5"],
                                   "system_noises": ["none"], "results_dir": "{tmp}/results",
                                   "attack_params": {"pgd": {"max_iter": 2}, "pgd_l2": {"max_iter": 2},
                                                     "cw_l2": {"max_iter": 2}, "square": {"max_iter": 5},
                                                     "hopskipjump": {"max_iter": 1, "max_eval": 5, "init_eval": 2,
                                                                     "init_size": 2}}},
                                  ["figure_adaptive_bypass_vs_eps", "table_adaptive_paper_vs_adaptive.csv"]),
    "10_saliency_ablation.ipynb": ({"n_images": 4, "models": ["efficientnet_lite0"], "saliency_methods": ["gradcam",
                                    "layercam"], "attacks": ["fgsm"], "thetas": [0.3], "figure_images": 2,
                                    "cost_images": 2, "results_dir": "{tmp}/results"},
                                   ["figure_saliency_methods", "figure_auc_by_saliency_method",
                                    "table_saliency_ablation_auc.csv", "table_saliency_ablation_detection.tex"]),
}
RUN_BY_NBVAL = {"01_gradcam_saliency.ipynb", "02_emphasis_image.ipynb", "03_noise_preprocessing.ipynb",
                "06_feature_squeezing.ipynb", "09_scale_out.ipynb"}

# Two models side by side (`models`): one column group per model in each table, a figure per model
# (their one-model path is what nbval re-executes: the committed notebooks).
LITES = ["efficientnet_lite0", "efficientnet_lite2"]
SEVERAL_MODELS = {
    "05_theta_sweep.ipynb": ({"n_images": 4, "models": LITES, "attacks": ["fgsm"], "thetas": [0.0, 0.3],
                              "noises": ["none", "zero_mean"], "roc_thetas": [0.3],
                              "results_dir": "{tmp}/results"},
                             [*(f"{f}_{m}" for f in ("figure_tradeoff_ospa_vs_detection", "figure_roc_theta")
                                for m in LITES), "table_none_theta_sweep.csv", "table_paper_side_by_side.tex",
                              "results/scores_theta_sweep_efficientnet_lite2.parquet"]),
    "07_comparison.ipynb": ({"n_images": 4, "models": LITES, "attacks": ["fgsm"], "joint": ["bit_depth:5",
                             "median:2x2"], "cost_images": 2,
                             "results_dir": "{tmp}/results"},
                            [*(f"figure_roc_comparison_{m}" for m in LITES), "table5_comparison_auc.csv",
                             "results/scores_comparison_efficientnet_lite0.parquet"]),
}


def test_every_notebook_is_covered():
    runs = [*SMALL, *SEVERAL_MODELS, *RUN_BY_NBVAL]
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) == sorted(runs)  # each notebook once


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
            check_output(tmp_path / name)


def check_output(path: Path) -> None:
    """What each kind of output must hold to be of use: a figure at a journal's print width, a table with rows, a
    LaTeX table float, a score table whose rows all name the model its metadata names."""
    if path.suffix == ".png":
        with Image.open(path) as image:
            assert any(abs(image.size[0] - 300 * w) <= 1 for w in FIGURE_WIDTHS), (path.name, image.size)
    elif path.suffix == ".pdf":
        width = float(re.search(rb"/MediaBox \[ *0 0 ([\d.]+)", path.read_bytes()).group(1)) / 72
        assert any(abs(width - w) < 0.01 for w in FIGURE_WIDTHS), (path.name, width)
    elif path.suffix == ".csv":
        assert len(pd.read_csv(path)) > 0, path.name
    elif path.suffix == ".tex":
        text = path.read_text()
        assert "\\begin{table" in text and "\\bottomrule" in text, path.name
        if PDFLATEX:  # a two-column paper takes it: no error, no overfull box (tests/test_latex.py)
            assert latex_problems(path, path.parent / "latex") == [], path.name
    else:
        scores, metadata = load_scores(path)
        assert len(scores) > 0 and set(scores["model"]) == {metadata["model"]}, path.name


def test_nbval_order_names_existing_notebooks():
    # the plugin as make test loads it (-p tests.nbval_order, from the repository root), whatever sys.path holds here
    spec = importlib.util.spec_from_file_location("nbval_order", Path(__file__).with_name("nbval_order.py"))
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    LONGEST, rank = plugin.LONGEST, plugin.rank  # noqa: N806 (the plugin's names)

    names = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert set(LONGEST) <= set(names)  # a renamed notebook would silently lose its place
    assert sorted(names, key=rank)[:2] == list(LONGEST) and rank("01_gradcam_saliency.ipynb") == len(LONGEST)
