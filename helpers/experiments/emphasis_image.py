"""Notebook 02: the subject emphasis image E = x + θ·overlay(H) (the paper's Figure 2) and the benign images whose
emphasis image changes label: the figure and the paragraph written from the run."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.figures import panel_title
from helpers.models import ModelBundle
from helpers.plotting import (
    DOUBLE_COLUMN,
    MAX_GRID_COLUMNS,
    MAX_GRID_ROWS,
    Cell,
    ColourBar,
    image_grid,
    image_label,
    page_items,
)


def emphasis_figure(bundle: ModelBundle, x: np.ndarray, maps: np.ndarray, overlays: np.ndarray,
                    emphasis: np.ndarray, thetas: Sequence[float], pred: tuple[np.ndarray, np.ndarray],
                    pred_emph: tuple[np.ndarray, np.ndarray], ids: Sequence[str], colormap: str = "jet",
                    page: int = 0) -> plt.Figure:
    """Figure 2 (double column): x -> H -> overlay(H) -> E(theta) for several thetas, with the label of
    each E; colour bars for H (inferno, drawn over x) and for the overlay's ``colormap`` (also in E).
    At most ``MAX_GRID_COLUMNS - 3`` thetas are drawn (evenly spread, first and last included; the
    note names the others); one row per image, :data:`MAX_GRID_ROWS` a page (``page`` from 0).

    Args:
        bundle: the model, for its class names.
        x: (N, H, W, 3) inputs, RGB 0..255.
        maps: (N, H, W) upsampled Grad-CAM maps in [0, 1].
        overlays: (N, H, W, 3) coloured overlays in [0, 1].
        emphasis: (T, N, H, W, 3) emphasis images, one per theta.
        pred: (labels, confidences) of x.
        pred_emph: (labels, confidences) of the emphasis images, each (T, N).
        ids: the images' ids (row labels).
        page: the page, from 0.

    Raises:
        ValueError: a page that does not exist."""
    shown, paging = page_items(len(x), MAX_GRID_ROWS, page)
    keep = np.unique(np.linspace(0, len(thetas) - 1, min(len(thetas), MAX_GRID_COLUMNS - 3)).round().astype(int))
    left_out = [f"{thetas[t]:g}" for t in range(len(thetas)) if t not in keep]
    cells = []
    for i in shown:
        row = [Cell(x[i], panel_title(bundle, pred[0][i], pred[1][i])), Cell(x[i], "", maps[i]),
               Cell(overlays[i] * 255.0, "")]
        for t in keep:
            changed = "≠" if pred_emph[0][t, i] != pred[0][i] else ""
            row.append(Cell(emphasis[t, i], panel_title(bundle, pred_emph[0][t, i], pred_emph[1][t, i], changed)))
        cells.append(row)
    cols = ["input x", "saliency H", "overlay(H)"] + [f"E, θ = {thetas[t]:g}" for t in keep]
    bars = [ColourBar("inferno", "Grad-CAM H (0-1), drawn over x", [1]),
            ColourBar(colormap, f"overlay colour ({colormap}) of Grad-CAM H (0-1); E = x + θ·255·overlay",
                      list(range(2, len(cols))))]
    note = ("Rows: the image (its file name). Titles: the model's predicted class (softmax confidence), not the true "
            "class; ≠: the label of E differs from the label of x, "
            "so the detector flags x as adversarial."
            + (f" Not drawn: θ = {', '.join(left_out)}." if left_out else "") + (f" {paging}" if paging else ""))
    return image_grid(cells, cols, [image_label(ids[i]) for i in shown], DOUBLE_COLUMN, colorbars=bars, note=note)


def emphasis_findings(thetas: Sequence[float], flagged: np.ndarray) -> str:
    """Notebook 02: how many benign images change label in their emphasis image, per theta.

    Args:
        flagged: (T, N) bool, whether each benign image's emphasis image changes label."""
    n = flagged.shape[1]
    counts = ", ".join(f"θ = {t:g}: {int(f.sum())} of {n}" for t, f in zip(thetas, flagged, strict=True))
    return (f"Benign images whose emphasis image changes label (false alarms of the detector): {counts}. "
            "The θ sweep (notebook 05) measures this trade-off with intervals.")
