"""The paper's illustrative figures, rebuilt from real model outputs:
Figure 1 (saliency of benign vs adversarial inputs), Figure 2 (construction of the subject
emphasis image), Figure 4 (colour reversing and zero mean)."""

from __future__ import annotations

import numpy as np

from helpers.models import ModelBundle
from helpers.plotting import fit_text

SALIENCY_LABEL = "Grad-CAM saliency H (normalised, 0-1)"
AUC_BELOW_HALF = ("AUC < 0.5: the score ranks adversarial inputs below clean ones (e.g. PGD makes the "
                  "model more confident, so 1 − max softmax falls).")


def error_bars(value, ci_low, ci_high, scale: float = 1.0) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(values, yerr)`` for ``Axes.errorbar``: the values times ``scale`` and the distances down to
    ``ci_low`` and up to ``ci_high`` (e.g. ``scale=100`` for fractions drawn in percent).

    Args:
        value, ci_low, ci_high: array-likes of one length.
        scale: the factor of every number.

    Returns:
        the scaled values and [below, above], non-negative where the interval holds its value."""
    v, lo, hi = (scale * np.asarray(a, float) for a in (value, ci_low, ci_high))
    return v, [v - lo, hi - v]


def short_name(bundle: ModelBundle, label: int, width: int = 18) -> str:
    """A class name cut to its first synonym and ``width`` characters.

    Args:
        bundle: the model, for its class names."""
    name = bundle.class_names[int(label)].split(",")[0]
    return name if len(name) <= width else name[: width - 1] + "…"


def label_text(bundle: ModelBundle, label: int, confidence: float) -> str:
    """'class name (0.87)': the predicted class and its softmax confidence.

    Args:
        bundle: the model, for its class names."""
    return f"{short_name(bundle, label)} ({confidence:.2f})"


def panel_title(bundle: ModelBundle, label: int, confidence: float, marker: str = "") -> str:
    """An image-panel title: the class name (wrapped to at most two lines) / '(0.87) marker', narrow enough for 7 pt
    in a ~1 in panel.

    Args:
        bundle: the model, for its class names.
        marker: a symbol appended after the confidence ('≠'), a word ('(failed)') on a line of its own, or ''."""
    name = fit_text(bundle.class_names[int(label)].split(",")[0], 15, 2)  # wrapped, not cut
    return f"{name}\n({confidence:.2f})" + ("" if not marker else f" {marker}" if len(marker) == 1 else f"\n{marker}")


