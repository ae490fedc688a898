"""The paper's illustrative figures, rebuilt from real model outputs:
Figure 1 (saliency of benign vs adversarial inputs), Figure 2 (construction of the subject
emphasis image), Figure 4 (colour reversing and zero mean)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.metrics import roc
from helpers.models import ModelBundle
from helpers.plotting import Cell, image_grid
from helpers.scores import configurations, select, split_sets
from helpers.tables import method_label

SALIENCY_LABEL = "Grad-CAM saliency H (normalised, 0-1)"


def short_name(bundle: ModelBundle, label: int, width: int = 18) -> str:
    """A class name cut to its first synonym and ``width`` characters."""
    name = bundle.class_names[int(label)].split(",")[0]
    return name if len(name) <= width else name[: width - 1] + "…"


def label_text(bundle: ModelBundle, label: int, confidence: float) -> str:
    """'class name (0.87)': the predicted class and its softmax confidence."""
    return f"{short_name(bundle, label)} ({confidence:.2f})"


def saliency_pairs_figure(bundle: ModelBundle, x: np.ndarray, x_adv: np.ndarray, maps: np.ndarray,
                          maps_adv: np.ndarray, pred: tuple[np.ndarray, np.ndarray],
                          pred_adv: tuple[np.ndarray, np.ndarray], ids: Sequence[str]) -> plt.Figure:
    """Figure 1: each benign input and its adversarial version, with their Grad-CAM maps
    (upsampled, in [0, 1]) and the model's label and confidence for each."""
    cells = []
    for i in range(len(x)):
        benign, adv = label_text(bundle, pred[0][i], pred[1][i]), label_text(bundle, pred_adv[0][i], pred_adv[1][i])
        cells.append([Cell(x[i], benign), Cell(x[i], benign, maps[i]),
                      Cell(x_adv[i], adv), Cell(x_adv[i], adv, maps_adv[i])])
    cols = ["benign input", "benign saliency", "adversarial input", "adversarial saliency"]
    return image_grid(cells, cols, [i.split("/")[-1] for i in ids], colorbar_label=SALIENCY_LABEL)


def emphasis_figure(bundle: ModelBundle, x: np.ndarray, maps: np.ndarray, overlays: np.ndarray,
                    emphasis: np.ndarray, thetas: Sequence[float], pred: tuple[np.ndarray, np.ndarray],
                    pred_emph: tuple[np.ndarray, np.ndarray], ids: Sequence[str]) -> plt.Figure:
    """Figure 2: x -> H -> overlay(H) -> E(theta) for several thetas, with the label of each E.

    ``emphasis`` and ``pred_emph`` arrays have a leading theta axis."""
    cells = []
    for i in range(len(x)):
        row = [Cell(x[i], label_text(bundle, pred[0][i], pred[1][i])),
               Cell(x[i], "", maps[i]), Cell(overlays[i] * 255.0, "")]
        for t in range(len(thetas)):
            changed = " ≠" if pred_emph[0][t, i] != pred[0][i] else ""
            row.append(Cell(emphasis[t, i], label_text(bundle, pred_emph[0][t, i], pred_emph[1][t, i]) + changed))
        cells.append(row)
    cols = ["input x", "saliency H", "overlay(H)"] + [f"E, θ = {t:g}" for t in thetas]
    return image_grid(cells, cols, [i.split("/")[-1] for i in ids], colorbar_label=SALIENCY_LABEL)


def noise_figure(bundle: ModelBundle, images: dict[str, np.ndarray], preds: dict[str, tuple[np.ndarray, np.ndarray]],
                 row_labels: Sequence[str]) -> plt.Figure:
    """Figure 4: the same inputs under each noise ('none', 'color_reverse', 'zero_mean'), with labels.

    ``images[noise]`` is (N, H, W, 3); ``preds[noise]`` the (labels, confidences) for it."""
    names = {"none": "original", "color_reverse": "colour reversing", "zero_mean": "zero mean"}
    cells = [[Cell(images[k][i], label_text(bundle, preds[k][0][i], preds[k][1][i])) for k in images]
             for i in range(len(row_labels))]
    return image_grid(cells, [names[k] for k in images], list(row_labels))


def epsilon_sweep_figure(sweep) -> plt.Figure:
    """Attack success rate (with Wilson 95% intervals) against the L-inf budget in grey levels."""
    fig, ax = plt.subplots(figsize=(4.2, 3.0), layout="constrained")
    groups = list(sweep.groupby("attack", sort=False))
    for k, ((name, group), marker) in enumerate(zip(groups, "osD^v", strict=False)):
        rate = 100 * group["success_rate"]
        err = [rate - 100 * group["success_rate_ci_low"], 100 * group["success_rate_ci_high"] - rate]
        dodge = 2 ** (0.07 * (k - (len(groups) - 1) / 2))  # side by side, so equal rates stay visible
        ax.errorbar(group["eps_255"] * dodge, rate, yerr=err, marker=marker, capsize=3, label=name.upper())
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(sweep["eps_255"].unique()))
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("L∞ budget ε (grey levels of 255)")
    ax.set_ylabel("attack success rate (%)")
    ax.set_ylim(-3, 103)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return fig


def attack_examples_figure(bundle: ModelBundle, x: np.ndarray, results: dict, index: int) -> plt.Figure:
    """One input under each attack: clean, adversarial, and the perturbation amplified to full range."""
    labels = bundle.predict(x[index:index + 1])
    cells, rows = [], []
    for name, r in results.items():
        delta = r.x_adv[index] - x[index]
        scale = 127.5 / max(float(np.abs(delta).max()), 1e-6)
        adv = label_text(bundle, r.adv_labels[index], bundle.predict(r.x_adv[index:index + 1])[1][0])
        cells.append([Cell(x[index], label_text(bundle, labels[0][0], labels[1][0])),
                      Cell(r.x_adv[index], adv + ("" if r.success[index] else " (failed)")),
                      Cell(127.5 + delta * scale, f"L2 {r.l2[index]:.3f}, L∞ {255 * r.linf[index]:.1f}/255")])
        rows.append(name)
    return image_grid(cells, ["clean", "adversarial", "perturbation (amplified)"], rows)


NOISE_NAMES = {"none": "saliency only", "color_reverse": "+ colour reversing", "zero_mean": "+ zero mean"}


def tradeoff_figure(rates, attacks: Sequence[str]) -> plt.Figure:
    """OSPA against detection success rate from a rate table, one panel per attack, one curve per
    noise through the thetas (labelled at the points), Wilson 95% intervals as bars in both directions."""
    tidy = rates[rates["detector"] == "saliency"]
    fig, axes = plt.subplots(1, len(attacks), figsize=(3.3 * len(attacks), 3.3), squeeze=False,
                             layout="constrained", sharey=True)
    for ax, attack in zip(axes[0], attacks, strict=True):
        for noise, marker in zip(NOISE_NAMES, "osD", strict=True):
            o = tidy[(tidy["noise"] == noise) & (tidy["metric"] == "ospa")].sort_values("theta")
            d = tidy[(tidy["noise"] == noise) & (tidy["attack"] == attack)
                     & (tidy["metric"] == "detection_rate")].sort_values("theta")
            if o.empty or d.empty:
                continue
            x, y = 100 * o["value"].to_numpy(), 100 * d["value"].to_numpy()
            xerr = [x - 100 * o["ci_low"].to_numpy(), 100 * o["ci_high"].to_numpy() - x]
            yerr = [y - 100 * d["ci_low"].to_numpy(), 100 * d["ci_high"].to_numpy() - y]
            line = ax.errorbar(x, y, xerr=xerr, yerr=yerr, marker=marker, capsize=2, elinewidth=0.7,
                               label=NOISE_NAMES[noise])
            for xi, yi, t in zip(x, y, o["theta"], strict=True):
                ax.annotate(f"{t:g}", (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=6,
                            color=line[0].get_color())
        ax.set_title(f"{attack.upper()} (n = {int(d['n'].max()) if not d.empty else 0} successful)")
        ax.set_xlabel("OSPA: clean inputs not flagged (%)")
        ax.set_xlim(-3, 103)
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("detection success rate (%)")
    axes[0, -1].legend(frameon=False, fontsize=7, title="θ labelled at the points", title_fontsize=7)
    return fig


def roc_figure(scores, thetas_show: Sequence[float], attacks: Sequence[str]) -> plt.Figure:
    """ROC curves of the saliency score (L1 distance of softmax outputs) from a score table, rows =
    noises, columns = attacks: theta = 0 (noise alone), the thetas in ``thetas_show``, and the
    1 - max softmax baseline."""
    saliency = scores[scores["detector"] == "saliency"]
    noises = list(dict.fromkeys(saliency["noise"]))
    attacks = [a for a in attacks if (saliency["attack"] == a).any()]
    fig, axes = plt.subplots(len(noises), len(attacks), figsize=(2.9 * len(attacks), 2.7 * len(noises)),
                             squeeze=False, layout="constrained", sharex=True, sharey=True)
    shown = [t for t in dict.fromkeys(saliency["theta"]) if t == 0 or any(np.isclose(t, thetas_show))]
    clean_baseline, baseline = split_sets(select(scores, "baseline"))
    for r, noise in enumerate(noises):
        for c, attack in enumerate(attacks):
            ax = axes[r, c]
            for t in shown:
                clean, adv = split_sets(select(scores, "saliency", noise, t))
                fpr, tpr, auc = roc(clean["score"], adv[attack]["score"])
                ax.plot(100 * fpr, 100 * tpr, label=f"θ = {t:g}: AUC {auc:.2f}")
            fpr, tpr, auc = roc(clean_baseline["score"], baseline[attack]["score"])
            ax.plot(100 * fpr, 100 * tpr, "k--", lw=1, label=f"1 − max softmax: AUC {auc:.2f}")
            ax.plot([0, 100], [0, 100], color="0.8", lw=0.8, zorder=0)
            ax.set_title(f"{NOISE_NAMES[noise]}, {attack.upper()}")
            ax.legend(frameon=False, fontsize=6, loc="best")
            ax.set_aspect("equal")
    for ax in axes[-1]:
        ax.set_xlabel("false-positive rate on clean inputs (%)")
    for ax in axes[:, 0]:
        ax.set_ylabel("true-positive rate (%)")
    return fig


def roc_comparison_figure(scores, attacks: Sequence[str]) -> plt.Figure:
    """ROC curves of every configuration in a score table on the same inputs, one panel per attack,
    AUC in the legend under each panel; the baseline is drawn dashed black."""
    fig, axes = plt.subplots(1, len(attacks), figsize=(3.4 * len(attacks), 4.6), squeeze=False,
                             layout="constrained", sharey=True)
    for ax, attack in zip(axes[0], attacks, strict=True):
        for method, group in configurations(scores):
            clean, adv = split_sets(group)
            if attack not in adv:
                continue
            fpr, tpr, auc = roc(clean["score"], adv[attack]["score"])
            style = {"color": "k", "ls": "--", "lw": 1} if method["detector"] == "baseline" else {}
            ax.plot(100 * fpr, 100 * tpr, label=f"{method_label(**method)}: {auc:.2f}", **style)
        ax.plot([0, 100], [0, 100], color="0.8", lw=0.8, zorder=0)
        ax.set_title(attack.upper())
        ax.set_xlabel("false-positive rate on clean inputs (%)")
        ax.legend(frameon=False, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), title="AUC",
                  title_fontsize=6)
        ax.set_aspect("equal")
    axes[0, 0].set_ylabel("true-positive rate (%)")
    return fig


def bypass_vs_eps_figure(table, defences: Sequence[str], attack: str = "pgd") -> plt.Figure:
    """Bypass rate against the L-inf budget from :func:`helpers.adaptive_report.bypass_table`: one column
    per defence, rows = its own operating point and the matched false-positive rate; one line per mode
    (the non-adaptive attack transferred, and each attack adapted to that defence), Wilson 95% bars."""
    rules = {"own": "own operating point (label change)", "matched": "matched false-positive rate"}
    sub = table[(table["attack"] == attack) & (table["norm"] == "linf")]
    fig, axes = plt.subplots(len(rules), len(defences), figsize=(3.4 * len(defences), 5.6), squeeze=False,
                             layout="constrained", sharex=True, sharey=True)
    for c, defence in enumerate(defences):
        rows = sub[(sub["defence"] == defence) & ((sub["mode"] == "non-adaptive") | (sub["target"] == defence))]
        for r, (rule, title) in enumerate(rules.items()):
            ax = axes[r, c]
            modes = list(rows.groupby("mode", sort=False))
            for i, ((mode, g), marker) in enumerate(zip(modes, "osD^", strict=False)):
                g = g.sort_values("eps")
                dodge = 2 ** (0.07 * (i - (len(modes) - 1) / 2))  # side by side on the log axis
                value = 100 * g[f"bypass_{rule}"].to_numpy()
                err = [value - 100 * g[f"bypass_{rule}_ci_low"].to_numpy(),
                       100 * g[f"bypass_{rule}_ci_high"].to_numpy() - value]
                ax.errorbar(255 * g["eps"] * dodge, value, yerr=err, marker=marker, capsize=2, elinewidth=0.7,
                            label=f"{mode} (n = {int(g['n'].max())})")
            ax.set_xscale("log", base=2)
            ax.set_xticks(255 * np.sort(sub["eps"].unique()), [f"{e:g}" for e in 255 * np.sort(sub["eps"].unique())])
            ax.set_ylim(-3, 103)
            ax.grid(alpha=0.3)
            ax.set_title(f"{defence}\n{title}")
            if r == len(rules) - 1:
                ax.set_xlabel(f"{attack.upper()} L∞ budget ε (grey levels, /255)")
            if c == 0:
                ax.set_ylabel("bypass rate (%): fooled f, not flagged")
            ax.legend(frameon=False, fontsize=6, loc="lower right")
    return fig
