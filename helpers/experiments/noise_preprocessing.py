"""Notebook 03: colour reversing and zero mean (the paper's Figure 4) on benign inputs and successful adversarial
examples: the figure and the paragraph written from the run."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.figures import panel_title
from helpers.labels import noise_label
from helpers.models import ModelBundle
from helpers.plotting import (
    DOUBLE_COLUMN,
    MAX_GRID_COLUMNS,
    Cell,
    image_grid,
    page_items,
)


def _standardised(image: np.ndarray) -> np.ndarray:
    """Display normalisation: each channel's mean removed and +-3 standard deviations stretched to 0..255."""
    centred = image - image.mean(axis=(0, 1), keepdims=True)
    spread = 3 * np.maximum(image.std(axis=(0, 1), keepdims=True), 1e-6)
    return 127.5 + 127.5 * np.clip(centred / spread, -1, 1)


def noise_figure(bundle: ModelBundle, images: dict[str, np.ndarray], preds: dict[str, tuple[np.ndarray, np.ndarray]],
                 column_labels: Sequence[str], page: int = 0, failed: Sequence[bool] | None = None) -> plt.Figure:
    """Figure 4 (double column): the same inputs (columns, e.g. each benign image and its adversarial
    version) under each noise (rows: 'none', 'color_reverse', 'zero_mean'), each titled with its label
    and '=' / '≠' against the label of the same column's un-noised input: in a benign column the
    benign label, in an adversarial column the adversarial label, the comparison the detector makes.
    The zero-mean row is shown per-channel standardised, so it can be told from the original (the
    note under the figure says so). :data:`MAX_GRID_COLUMNS` columns a page (``page`` from 0).

    Args:
        bundle: the model, for its class names.
        images: noise -> (N, H, W, 3) inputs under it; must include 'none'.
        preds: noise -> the (labels, confidences) for them.
        column_labels: N column labels.
        page: the page, from 0.
        failed: per column, whether it shows the output of an attack that failed (no adversarial example: its
            un-noised title says 'attack failed', its other titles carry no mark); None: none failed.

    Raises:
        ValueError: without the un-noised inputs ('none') to compare with, or a page that does not exist."""
    if "none" not in images or "none" not in preds:
        raise ValueError("noise_figure needs the un-noised inputs ('none') to compare each label with")
    names = {"none": "original", "color_reverse": "colour reversing", "zero_mean": "zero mean*"}
    shown, paging = page_items(len(column_labels), MAX_GRID_COLUMNS, page, "Columns")
    reference = preds["none"][0]
    failed = [False] * len(column_labels) if failed is None else list(failed)
    cells = []
    for noise, x in images.items():
        labels, conf = preds[noise]
        marks = [("attack failed" if noise == "none" else "") if failed[i] else "" if noise == "none"
                 else "=" if labels[i] == reference[i] else "≠" for i in shown]
        cells.append([Cell(_standardised(x[i]) if noise == "zero_mean" else x[i], panel_title(bundle, labels[i],
                                                                                                conf[i], mark))
                      for i, mark in zip(shown, marks, strict=True)])
    note = ("Titles: predicted class (softmax confidence). =: the same label as the column's un-noised input (the "
            "detector's comparison); ≠: a different label; 'attack failed': no adversarial example in that column.")
    if "zero_mean" in images:
        note += ("\n*zero mean shown per channel standardised (±3 s.d. to full range) for visibility; "
                 "the model sees the unscaled image.")
    note += f" {paging}" if paging else ""
    return image_grid(cells, [column_labels[i] for i in shown], [names[k] for k in images], DOUBLE_COLUMN, note=note)


def noise_findings(labels: dict[str, np.ndarray], benign: np.ndarray, adversarial: np.ndarray,
                   success: np.ndarray) -> str:
    """Notebook 03: per noise, benign images that keep their label and *successful* adversarial
    examples that lose their adversarial label.

    Args:
        labels: noise -> (2N,) labels, benign and adversarial inputs interleaved.
        benign: (N,) the benign inputs' labels without noise.
        adversarial: (N,) the adversarial inputs' labels without noise.
        success: (N,) whether the attack fooled the model on each image (a failed attack's output is no
            adversarial example)."""
    success = np.asarray(success, bool)
    parts = []
    for noise, lab in labels.items():
        if noise == "none":
            continue
        kept = int((lab[::2] == benign).sum())
        left = int(((lab[1::2] != adversarial) & success).sum())
        parts.append(f"{noise_label(noise)}: {kept} of {len(benign)} benign images keep their label, {left} of "
                     f"{int(success.sum())} adversarial examples leave their adversarial label")
    failed = int((~success).sum())
    counted = f" ({failed} of {success.size} attacks failed and are not counted)" if failed else ""
    return "; ".join(parts) + f"{counted}. An illustration on a few images; rates with intervals are in notebook 05."
