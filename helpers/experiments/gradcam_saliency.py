"""Notebook 01: how an attack moves the Grad-CAM saliency map (the paper's Figure 1), against a random-noise
control of the same size: the figure and the paragraph written from the run."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.figures import SALIENCY_LABEL, panel_title
from helpers.models import ModelBundle
from helpers.plotting import (
    DOUBLE_COLUMN,
    MAX_GRID_ROWS,
    Cell,
    image_grid,
    image_label,
    page_items,
)


def saliency_pairs_figure(bundle: ModelBundle, x: np.ndarray, x_adv: np.ndarray, maps: np.ndarray,
                          maps_adv: np.ndarray, pred: tuple[np.ndarray, np.ndarray],
                          pred_adv: tuple[np.ndarray, np.ndarray], ids: Sequence[str],
                          maps_noise: np.ndarray | None = None,
                          pred_noise: tuple[np.ndarray, np.ndarray] | None = None,
                          x_noise: np.ndarray | None = None, noise_label: str = "random-noise control",
                          page: int = 0) -> plt.Figure:
    """Figure 1 (double column): each benign input and its adversarial version, with their Grad-CAM
    maps (upsampled, in [0, 1]) and the model's label and confidence for each; with ``maps_noise``
    (and ``pred_noise``, ``x_noise``) a last column shows the random-noise control's map. One row per
    image, :data:`MAX_GRID_ROWS` a page: ``page`` (from 0) picks the page, the note states it.

    Args:
        bundle: the model, for its class names.
        x, x_adv: (N, H, W, 3) benign and adversarial inputs, RGB 0..255.
        maps, maps_adv: (N, H, W) their upsampled maps in [0, 1].
        pred, pred_adv: (labels, confidences) of each.
        ids: the images' ids (row labels).
        maps_noise, pred_noise, x_noise: the random-noise control's maps, predictions and inputs, or None.
        page: the page, from 0.

    Raises:
        ValueError: a page that does not exist."""
    shown, paging = page_items(len(x), MAX_GRID_ROWS, page)
    cells = []
    for i in shown:
        benign = panel_title(bundle, pred[0][i], pred[1][i])
        adv = panel_title(bundle, pred_adv[0][i], pred_adv[1][i], "" if pred_adv[0][i] == pred[0][i] else "≠")
        row = [Cell(x[i], benign), Cell(x[i], benign, maps[i]), Cell(x_adv[i], adv), Cell(x_adv[i], adv, maps_adv[i])]
        if maps_noise is not None:
            noisy = panel_title(bundle, pred_noise[0][i], pred_noise[1][i],
                                "" if pred_noise[0][i] == pred[0][i] else "≠")
            row.append(Cell(x[i] if x_noise is None else x_noise[i], noisy, maps_noise[i]))
        cells.append(row)
    cols = ["benign input", "benign H", "adversarial input", "adversarial H"]
    cols += [noise_label] if maps_noise is not None else []
    note = " ".join(filter(None, ["Rows: the image (its file name). Panel titles: the model's predicted class "
                                  "(softmax confidence), not the true class; ≠: label differs from the benign "
                                  "input's.", paging]))
    return image_grid(cells, cols, [image_label(ids[i]) for i in shown], DOUBLE_COLUMN,
                      colorbar_label=SALIENCY_LABEL, note=note)


def saliency_shift_findings(success: np.ndarray, r_adversarial: np.ndarray, r_control: np.ndarray) -> str:
    """Notebook 01: how far the attack moves the Grad-CAM map, against a random-noise control.

    Args:
        success: (N,) bool, whether FGSM changed each label.
        r_adversarial: (N,) correlations between each benign and adversarial map.
        r_control: (N,) correlations between each benign map and the random-noise control's."""
    moved = np.nanmedian(r_adversarial) < np.nanmedian(r_control)
    return (f"FGSM changed the label of {int(success.sum())} of {len(success)} images. The median correlation "
            f"between the benign and the adversarial map is {np.nanmedian(r_adversarial):.2f}, against "
            f"{np.nanmedian(r_control):.2f} for the random-sign control of the same size: the adversarial map "
            + ("moves more than the control's, the inconsistency the detector exploits."
               if moved else "does not move more than the control's on these images."))
