"""Every notebook runs end to end through papermill with small parameters and exports its figures."""

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
}


def test_every_notebook_is_covered():
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) == sorted(SMALL)


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_with_small_parameters(name, tmp_path):
    params, figures = SMALL[name]
    pm.execute_notebook(NOTEBOOKS / name, tmp_path / name, parameters={**params, "figures_dir": str(tmp_path)},
                        kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    for figure in figures:
        for ext in ("pdf", "png"):
            assert (tmp_path / f"{figure}.{ext}").stat().st_size > 1000
