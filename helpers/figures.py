"""The paper's illustrative figures, rebuilt from real model outputs:
Figure 1 (saliency of benign vs adversarial inputs), Figure 2 (construction of the subject
emphasis image), Figure 4 (colour reversing and zero mean)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.labels import attack_label
from helpers.models import ModelBundle
from helpers.plotting import (
    DOUBLE_COLUMN,
    MAX_GRID_COLUMNS,
    MAX_GRID_ROWS,
    SINGLE_COLUMN,
    Cell,
    ColourBar,
    figure,
    image_grid,
    image_label,
    page_items,
)

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
        bundle: the model, for its class names.
        label: a class index.
        width: the most characters.

    Returns:
        the name."""
    name = bundle.class_names[int(label)].split(",")[0]
    return name if len(name) <= width else name[: width - 1] + "…"


def label_text(bundle: ModelBundle, label: int, confidence: float) -> str:
    """'class name (0.87)': the predicted class and its softmax confidence.

    Args:
        bundle: the model, for its class names.
        label: a class index.
        confidence: its softmax probability.

    Returns:
        the text."""
    return f"{short_name(bundle, label)} ({confidence:.2f})"


def panel_title(bundle: ModelBundle, label: int, confidence: float, marker: str = "") -> str:
    """A two-line image-panel title: 'class name' / '(0.87) marker', narrow enough for 7 pt in a ~1 in panel.

    Args:
        bundle: the model, for its class names.
        label: a class index.
        confidence: its softmax probability.
        marker: appended after the confidence ('≠'), or ''.

    Returns:
        the title."""
    return f"{short_name(bundle, label, 15)}\n({confidence:.2f}){' ' + marker if marker else ''}"


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
        noise_label: the control column's label.
        page: the page, from 0.

    Returns:
        the figure.

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
    note = " ".join(filter(None, ["Panel titles: predicted class (softmax confidence); ≠: label differs from the "
                                  "benign input's.", paging]))
    return image_grid(cells, cols, [image_label(ids[i]) for i in shown], DOUBLE_COLUMN,
                      colorbar_label=SALIENCY_LABEL, note=note)


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
        thetas: the T thetas.
        pred: (labels, confidences) of x.
        pred_emph: (labels, confidences) of the emphasis images, each (T, N).
        ids: the images' ids (row labels).
        colormap: the overlay's colour map.
        page: the page, from 0.

    Returns:
        the figure.

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
    note = ("Titles: predicted class (softmax confidence); ≠: the label of E differs from the label of x, "
            "so the detector flags x as adversarial."
            + (f" Not drawn: θ = {', '.join(left_out)}." if left_out else "") + (f" {paging}" if paging else ""))
    return image_grid(cells, cols, [image_label(ids[i]) for i in shown], DOUBLE_COLUMN, colorbars=bars, note=note)


def _standardised(image: np.ndarray) -> np.ndarray:
    """Display normalisation: each channel's mean removed and +-3 standard deviations stretched to 0..255."""
    centred = image - image.mean(axis=(0, 1), keepdims=True)
    spread = 3 * np.maximum(image.std(axis=(0, 1), keepdims=True), 1e-6)
    return 127.5 + 127.5 * np.clip(centred / spread, -1, 1)


def noise_figure(bundle: ModelBundle, images: dict[str, np.ndarray], preds: dict[str, tuple[np.ndarray, np.ndarray]],
                 column_labels: Sequence[str], page: int = 0) -> plt.Figure:
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

    Returns:
        the figure.

    Raises:
        ValueError: without the un-noised inputs ('none') to compare with, or a page that does not exist."""
    if "none" not in images or "none" not in preds:
        raise ValueError("noise_figure needs the un-noised inputs ('none') to compare each label with")
    names = {"none": "original", "color_reverse": "colour reversing", "zero_mean": "zero mean*"}
    shown, paging = page_items(len(column_labels), MAX_GRID_COLUMNS, page, "Columns")
    reference = preds["none"][0]
    cells = []
    for noise, x in images.items():
        labels, conf = preds[noise]
        marks = ["" if noise == "none" else "=" if labels[i] == reference[i] else "≠" for i in shown]
        cells.append([Cell(_standardised(x[i]) if noise == "zero_mean" else x[i], panel_title(bundle, labels[i],
                                                                                                conf[i], mark))
                      for i, mark in zip(shown, marks, strict=True)])
    note = "=: the same label as the column's un-noised input (the detector's comparison); ≠: a different label."
    if "zero_mean" in images:
        note += ("\n*zero mean shown per channel standardised (±3 s.d. to full range) for visibility; "
                 "the model sees the unscaled image.")
    note += f" {paging}" if paging else ""
    return image_grid(cells, [column_labels[i] for i in shown], [names[k] for k in images], DOUBLE_COLUMN, note=note)


def epsilon_sweep_figure(sweep) -> plt.Figure:
    """Attack success rate (with Wilson 95% intervals) against the L-inf budget in grey levels (single column).

    Args:
        sweep: :func:`helpers.attack_report.epsilon_sweep`'s rows.

    Returns:
        the figure."""
    fig, axes = figure(SINGLE_COLUMN, 2.6)
    ax = axes[0, 0]
    groups = list(sweep.groupby("attack", sort=False))
    for k, ((name, group), marker) in enumerate(zip(groups, "osD^v", strict=False)):
        rate, err = error_bars(group["success_rate"], group["success_rate_ci_low"], group["success_rate_ci_high"], 100)
        dodge = 2 ** (0.07 * (k - (len(groups) - 1) / 2))  # side by side, so equal rates stay visible
        ax.errorbar(group["eps_255"] * dodge, rate, yerr=err, marker=marker, ms=4, capsize=2, elinewidth=0.8,
                    label=f"{attack_label(name)} (n = {int(group['n'].max())})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(sweep["eps_255"].unique()))
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("L∞ budget ε (grey levels of 255)")
    ax.set_ylabel("attack success rate (%)")
    ax.set_ylim(-3, 103)
    ax.legend(frameon=False, title="bars: Wilson 95% CI")
    ax.grid(alpha=0.3)
    return fig


def attack_examples_figure(bundle: ModelBundle, x: np.ndarray, results: dict, index: int) -> plt.Figure:
    """One input under each attack (double column): the clean input once, then per attack the
    adversarial input and its perturbation, all perturbations amplified by one shared factor (stated in
    the row label and on the colour bar) so their sizes compare.

    Args:
        bundle: the model, for its class names.
        x: (N, H, W, 3) clean inputs, RGB 0..255.
        results: attack -> its :class:`~helpers.attacks.AttackResult` on ``x``.
        index: the input shown.

    Returns:
        the figure."""
    labels = bundle.predict(x[index:index + 1])
    deltas = {name: r.x_adv[index] - x[index] for name, r in results.items()}
    largest = max(max(float(np.abs(d).max()) for d in deltas.values()), 1e-6)  # grey levels
    scale = 127.5 / largest
    top = [Cell(x[index], panel_title(bundle, labels[0][0], labels[1][0]))]
    bottom: list[Cell | None] = [None]
    for name, r in results.items():
        adv = panel_title(bundle, r.adv_labels[index], bundle.predict(r.x_adv[index:index + 1])[1][0],
                          "" if r.success[index] else "(failed)")
        top.append(Cell(r.x_adv[index], adv))
        bottom.append(Cell(127.5 + deltas[name] * scale, f"L2 {255 * r.l2[index]:.0f}\nL∞ {255 * r.linf[index]:.1f}"))
    cols = ["clean"] + [attack_label(n) for n in results]
    rows = ["adversarial", f"perturbation ×{scale:.0f}"]
    bar = ColourBar("gray", f"perturbation per channel (grey levels of 255), shared scale ±{largest:.1f}",
                    list(range(1, len(cols))), (-largest, largest))
    note = "Titles: predicted class (softmax confidence); sizes of x_adv − x in grey levels of 255."
    return image_grid([top, bottom], cols, rows, DOUBLE_COLUMN, colorbars=[bar], note=note)


def saliency_methods_figure(bundle: ModelBundle, x: np.ndarray, maps: dict[str, np.ndarray],
                            pred: tuple[np.ndarray, np.ndarray], ids: Sequence[str],
                            titles: dict[str, Sequence[str]] | None = None, width: float = DOUBLE_COLUMN,
                            page: int = 0) -> plt.Figure:
    """The same inputs under each saliency method: rows images, columns the input then one map per
    method (``maps[name]``: upsampled maps (N, H, W) in [0, 1]), one colour bar; ``titles[name]``: a
    caption per image (e.g. the correlation with Grad-CAM's map). ``width`` in inches;
    :data:`MAX_GRID_ROWS` images a page (``page`` from 0, stated under the grid).

    Args:
        bundle: the model, for its class names.
        x: (N, H, W, 3) inputs, RGB 0..255.
        maps: method -> its maps.
        pred: (labels, confidences) of x.
        ids: the images' ids (row labels).
        titles: method -> one caption per image, or None.
        width: inches, a journal width.
        page: the page, from 0.

    Returns:
        the figure.

    Raises:
        ValueError: a page that does not exist, or a grid too large for the width."""
    titles = titles or {}
    shown, paging = page_items(len(x), MAX_GRID_ROWS, page)
    cells = [[Cell(x[i], label_text(bundle, pred[0][i], pred[1][i]))]
             + [Cell(x[i], titles[name][i] if name in titles else "", m[i]) for name, m in maps.items()]
             for i in shown]
    return image_grid(cells, ["input x", *maps], [image_label(ids[i]) for i in shown], width,
                      colorbar_label="saliency H (normalised, 0-1)", note=paging or None)


