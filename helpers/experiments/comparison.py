"""Notebook 07: the saliency detector against Feature Squeezing (the paper's Table V), at each detector's
own operating point, at a matched false-positive rate, by ROC-AUC and by cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from helpers.detectors import FeatureSqueezingDetector, SaliencyDetector, detector_costs
from helpers.experiments.common import ModelRun, Table, images_text, prepare, protocol_text, score_runs
from helpers.figures import roc_comparison_figure
from helpers.findings import comparison_findings, table_v_wins
from helpers.labels import DetectorKey, attack_label
from helpers.paper import table_v
from helpers.scores import baseline_scores, rate_table, saliency_scores, squeezing_scores
from helpers.tables import method_header, method_layout, method_tidy, rate_caption

NAME = "comparison"  # the score tables' file names: scores_comparison_<model>.parquet
NOISES = ["color_reverse", "zero_mean"]  # the saliency detector's noises in Table V
CAPTIONS = {"own": "Each detector at its own operating point (label-change rule).",
            "auc": "ROC-AUC (0-1) of each detector's continuous score [stratified bootstrap 95% interval, "
                   "1000 resamples] on clean inputs and successful adversarial examples."}
TABLES = {"own": "table5_comparison_own_operating_point", "matched": "table5_comparison_matched_fpr",
          "auc": "table5_comparison_auc"}


@dataclass(frozen=True)
class Result:
    """One comparison: the score table of every model, its rates, the run's metadata and parameters
    (``config``), and each model's measured cost per image (``costs``: model -> a
    :func:`helpers.detectors.detector_costs` frame indexed by detector label; empty from a saved table).

    Attributes:
        scores: the stacked score table (``helpers.scores.COLUMNS``).
        rates: its :func:`helpers.scores.rate_table`.
        metadata: model -> its run's metadata.
        config: the run's parameters.
        costs: model -> its measured costs."""

    scores: pd.DataFrame
    rates: pd.DataFrame
    metadata: dict[str, dict]
    config: dict[str, Any]
    costs: dict[str, pd.DataFrame]

    @property
    def attacks(self) -> list[str]:
        """The attacks, in the order of the parameters."""
        return list(self.config["attacks"])


def squeezing_key(config: Mapping[str, Any]) -> DetectorKey:
    """The joint Feature Squeezing detector of the parameters (``squeezers``).

    Args:
        config: the checked parameters.

    Returns:
        the :class:`~helpers.labels.DetectorKey`."""
    return DetectorKey("feature_squeezing", squeezers=tuple(config["squeezers"]))


def saliency_key(config: Mapping[str, Any]) -> DetectorKey:
    """The saliency detector whose cost is measured: colour reversing at the parameters' θ.

    Args:
        config: the checked parameters.

    Returns:
        the :class:`~helpers.labels.DetectorKey`."""
    return DetectorKey("saliency", "color_reverse", config["theta"])


def run(config: Mapping[str, Any], runs: Mapping[str, ModelRun] | None = None) -> Result:
    """Score every model's images and attack sets with the saliency detector (colour reversing and zero mean at
    ``theta``), joint Feature Squeezing and the baseline, save the score tables (``results_dir``:
    ``scores_comparison_<model>.parquet``) and measure each detector's cost on ``cost_images`` images.

    Args:
        config: the checked parameters of notebook 07.
        runs: the prepared models (default: :func:`helpers.experiments.common.prepare` of ``config``).

    Returns:
        the :class:`Result`."""
    c, bs = config, config["batch_size"]
    runs = prepare(c) if runs is None else runs
    scores, metadata = score_runs(runs, lambda r: pd.concat([
        saliency_scores(r.bundle, r.images, r.attacks, [c["theta"]], NOISES, c["colormap"], c["overlay_order"],
                        c["zero_mean_reference"], batch_size=bs),
        squeezing_scores(r.bundle, r.images, r.attacks, joint=[c["squeezers"]], channel_order=c["channel_order"],
                         batch_size=bs),
        baseline_scores(r.bundle, r.images, r.attacks, bs)], ignore_index=True), c, NAME)
    return from_scores(scores, metadata, c, {model: costs(r, c) for model, r in runs.items()})


def costs(run: ModelRun, config: Mapping[str, Any]) -> pd.DataFrame:
    """Milliseconds per image of inference, the saliency detector and Feature Squeezing on one model's first
    ``cost_images`` images (wall-clock, this machine), indexed by detector label.

    Args:
        run: one model's prepared run.
        config: the checked parameters (``theta``, ``squeezers``, ``cost_images``, ...).

    Returns:
        the :func:`helpers.detectors.detector_costs` frame, index ``detector``."""
    c = config
    detectors = {saliency_key(c).label: SaliencyDetector(run.bundle, c["theta"], "color_reverse", c["colormap"],
                                                         c["overlay_order"]),
                 squeezing_key(c).label: FeatureSqueezingDetector(run.bundle, c["squeezers"], "label_change",
                                                                  c["channel_order"])}
    return detector_costs(run.bundle, run.images.x[:c["cost_images"]], detectors,
                          batch_size=c["batch_size"]).set_index("detector")


def from_scores(scores: pd.DataFrame, metadata: dict[str, dict], config: Mapping[str, Any],
                costs: Mapping[str, pd.DataFrame] | None = None) -> Result:
    """The :class:`Result` of a score table (e.g. a saved one), with ``config``'s ``fpr``, ``seed`` and ``attacks``.

    Args:
        scores: the score table of one or several models (``helpers.scores.COLUMNS``).
        metadata: model -> its run's metadata (``helpers.scores.run_metadata``).
        config: the run's parameters.
        costs: model -> its measured costs (:func:`costs`); none from a saved table.

    Returns:
        the :class:`Result`."""
    return Result(scores, rate_table(scores, fpr=config["fpr"], seed=config["seed"]), dict(metadata), dict(config),
                  dict(costs or {}))


def protocol(runs: Mapping[str, ModelRun], config: Mapping[str, Any]) -> str:
    """The lines printed first: per model the image protocol, the overlay settings, each attack's success.

    Args:
        runs: model name -> its prepared run.
        config: the checked parameters.

    Returns:
        the lines."""
    c = config
    return protocol_text(runs, lambda r: f"{r.images.description}; θ = {c['theta']:g}, {c['colormap']} overlay, "
                                         f"{c['overlay_order']} order")


def tables(result: Result) -> dict[str, Table]:
    """Table V three ways: each detector at its own rule, at a matched FPR, and by ROC-AUC (a column group
    per model).

    Args:
        result: the comparison.

    Returns:
        name -> :class:`~helpers.experiments.common.Table`."""
    r, attacks = result.rates, result.attacks
    captions = {**CAPTIONS, "matched": f"Each detector at a matched false-positive rate: threshold fitted at "
                f"{result.config['fpr']:.0%} FPR on a seeded calibration half of the photographs' clean images, "
                "held-out FPR and TPR on the other half."}
    out = {}
    for mode, name in TABLES.items():
        layout = method_layout(r, attacks, mode)
        caption = captions[mode] if mode == "auc" else rate_caption(captions[mode])
        out[name] = Table(layout, caption, method_tidy(r, attacks, mode), method_header(layout.columns, mode))
    return out


def figures(result: Result) -> dict[str, dict[str, plt.Figure]]:
    """The ROC curves of every detector, a figure per model (name -> model -> figure).

    Args:
        result: the comparison.

    Returns:
        name -> model -> figure."""
    return {"figure_roc_comparison": roc_comparison_figure(result.scores, result.attacks, seed=result.config["seed"])}


def captions(result: Result) -> dict[str, str]:
    """Each figure's caption (Markdown), with the run's images and settings.

    Args:
        result: the comparison.

    Returns:
        figure name -> caption."""
    return {"figure_roc_comparison":
            f"**Figure.** ROC curves of each detector's continuous score on the same inputs "
            f"({images_text(result.metadata)}), one panel per attack "
            f"({', '.join(attack_label(a) for a in result.attacks)}): the saliency score (L1 distance of the "
            f"softmax outputs of x and E, θ = {result.config['theta']:g}) with colour reversing and with zero mean, "
            "Feature Squeezing's max L1 score, and the 1 − max softmax baseline (dashed). Legends: AUC [bootstrap "
            "95% interval]; titles: n clean inputs and n successful adversarial examples. An AUC below 0.5 means "
            "the score ranks adversarial inputs *below* clean ones (e.g. PGD makes the model more confident, so "
            "1 − max softmax falls)."}


def cost_ratios(result: Result) -> dict[str, float]:
    """Model -> Feature Squeezing's time per image over the saliency detector's (measured models only).

    Args:
        result: the comparison.

    Returns:
        model -> ratio."""
    fs, saliency = squeezing_key(result.config).label, saliency_key(result.config).label
    return {model: float(c.loc[fs, "ms_per_image"] / c.loc[saliency, "ms_per_image"])
            for model, c in result.costs.items()}


def costs_text(result: Result) -> str:
    """Per model: the cost table (ms per image, rounded) and the ratio, as printed.

    Args:
        result: the comparison.

    Returns:
        the text."""
    ratios = cost_ratios(result)
    return "\n".join(f"{model}:\n{c.round(2).to_string()}\nfeature squeezing / saliency detector = {ratios[model]:.1f}"
                     for model, c in result.costs.items())


def table_v_text(result: Result) -> str:
    """The paper's Table V (VGG16, percent) and ours (label change, percent, a column group per model).

    Args:
        result: the comparison.

    Returns:
        the text."""
    paper, ours = table_v(result.rates, result.attacks)
    return f"{paper.to_string()}\n\nours (label change, percent):\n{ours.round(1).to_string()}"


def facts(result: Result) -> pd.DataFrame:
    """Per model: the saliency configurations that beat every Feature Squeezing configuration on OSPA and on
    the first attack's detection rate at their own rules (the paper's Table V advantage; ``wins``, labels
    joined by '; ', empty for none) and their number, and the measured cost ratio (NaN when not measured).

    Args:
        result: the comparison.

    Returns:
        one row per model: ``model``, ``attack``, ``n_wins``, ``wins``, ``cost_ratio``."""
    ratios = cost_ratios(result)
    rows = []
    for model, rates in result.rates.groupby("model", sort=False):
        wins = table_v_wins(rates, result.attacks[0])
        rows.append({"model": model, "attack": result.attacks[0], "n_wins": len(wins),
                     "wins": "; ".join(k.label for k in wins), "cost_ratio": ratios.get(model, float("nan"))})
    return pd.DataFrame(rows)


def findings(result: Result) -> str:
    """The headline sentences (Markdown) per model: own operating points, matched FPR, the Table V advantage
    (:func:`facts`), the cost.

    Args:
        result: the comparison.

    Returns:
        the Markdown list."""
    return comparison_findings(result.rates, result.attacks, cost_ratios(result))
