"""Notebook 05: the θ sweep (the paper's Tables I-III), with intervals, ROC, the held-out choice of θ
and the paper's numbers side by side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from helpers.experiments.common import (
    ModelRun,
    Table,
    images_text,
    prepare,
    protocol_text,
    saliency_method,
    score_runs,
)
from helpers.figures import roc_figure, tradeoff_figure
from helpers.findings import theta_sweep_findings
from helpers.paper import SIDE_BY_SIDE_CAPTION, claims_check, side_by_side, side_by_side_tidy
from helpers.scores import baseline_scores, rate_table, saliency_added_value, saliency_scores, select_theta
from helpers.tables import (
    auc_by_theta,
    export_table,
    paper_layout,
    paper_tidy,
    rate_caption,
    rate_header,
    rates_tidy,
    selected_theta_layout,
)

NAME = "theta_sweep"  # the score tables' file names: scores_theta_sweep_<model>.parquet
TITLES = {"none": "Table I: saliency map", "color_reverse": "Table II: saliency map & colour reversing",
          "zero_mean": "Table III: saliency map & zero mean"}


@dataclass(frozen=True)
class Result:
    """One θ sweep: the score table of every model (each row names its model), its rates, the overlay's added
    value, the θ chosen on a calibration half, the paper's claims checked, and the run's metadata
    (model -> :func:`helpers.scores.run_metadata`) and parameters (``config``).

    Attributes:
        scores: the stacked score table (``helpers.scores.COLUMNS``).
        rates: its :func:`helpers.scores.rate_table`.
        added: :func:`helpers.scores.saliency_added_value` of the rates.
        selected: :func:`helpers.scores.select_theta`'s rows.
        claims: :func:`helpers.paper.claims_check` of the rates.
        metadata: model -> its run's metadata.
        config: the run's parameters."""

    scores: pd.DataFrame
    rates: pd.DataFrame
    added: pd.DataFrame
    selected: pd.DataFrame
    claims: pd.DataFrame
    metadata: dict[str, dict]
    config: dict[str, Any]

    @property
    def attacks(self) -> list[str]:
        """The attacks, in the order of the parameters."""
        return list(self.config["attacks"])


def run(config: Mapping[str, Any], runs: Mapping[str, ModelRun] | None = None) -> Result:
    """Score every model's images and attack sets for each noise and θ and the baseline, save the score tables
    (``results_dir``: ``scores_theta_sweep_<model>.parquet``) and each model's rates (``theta_sweep_<model>.csv``).

    Args:
        config: the checked parameters of notebook 05.
        runs: the prepared models (default: :func:`helpers.experiments.common.prepare` of ``config``).

    Returns:
        the :class:`Result`."""
    c = config
    runs = prepare(c) if runs is None else runs
    scores, metadata = score_runs(runs, lambda r: pd.concat([
        saliency_scores(r.bundle, r.images, r.attacks, c["thetas"], c["noises"], c["colormap"], c["overlay_order"],
                        c["zero_mean_reference"], batch_size=c["batch_size"], progress=True),
        baseline_scores(r.bundle, r.images, r.attacks, c["batch_size"])], ignore_index=True), c, NAME)
    result = from_scores(scores, metadata, c)
    method = saliency_method(scores)
    for model, model_rates in result.rates.groupby("model", sort=False):  # the study's tidy schema (rates.csv)
        export_table(model_rates, f"{NAME}_{model}", c["results_dir"], float_format="%.6g", formats=("csv",),
                     tidy=rates_tidy(model_rates, method))
    return result


def from_scores(scores: pd.DataFrame, metadata: dict[str, dict], config: Mapping[str, Any]) -> Result:
    """The :class:`Result` of a score table (e.g. a saved one), with ``config``'s ``fpr``, ``seed`` and ``attacks``.

    Args:
        scores: the score table of one or several models (``helpers.scores.COLUMNS``).
        metadata: model -> its run's metadata (``helpers.scores.run_metadata``).
        config: the run's parameters.

    Returns:
        the :class:`Result`."""
    rates = rate_table(scores, fpr=config["fpr"], seed=config["seed"])
    return Result(scores, rates, saliency_added_value(rates), select_theta(scores, seed=config["seed"]),
                  claims_check(rates), dict(metadata), dict(config))


def protocol(runs: Mapping[str, ModelRun], config: Mapping[str, Any]) -> str:
    """The lines printed first: per model the image protocol, the overlay settings, each attack's success.

    Args:
        runs: model name -> its prepared run.
        config: the checked parameters.

    Returns:
        the lines."""
    c = config
    return protocol_text(runs, lambda r: f"{r.images.description}; {c['colormap']} overlay, {c['overlay_order']} "
                                         f"order; zero mean on {c['zero_mean_reference']}")


def tables(result: Result) -> dict[str, Table]:
    """Tables I-III in the paper's layout (one per noise), the held-out θ and the paper side by side.

    Args:
        result: the θ sweep.

    Returns:
        name -> :class:`~helpers.experiments.common.Table`."""
    r, attacks = result.rates, result.attacks
    out = {}
    for noise in result.config["noises"]:
        layout = paper_layout(r, noise, attacks)  # a column group per model
        out[f"table_{noise}_{NAME}"] = Table(
            layout, rate_caption(f"{TITLES[noise]}. OSPA on clean inputs, detection success rate on each attack's "
                                 "successful adversarial examples, by saliency proportion θ."),
            paper_tidy(r, noise, attacks), rate_header(layout.columns))
    chosen = selected_theta_layout(result.selected, attacks)
    out["table_selected_theta_heldout"] = Table(
        chosen, rate_caption("θ chosen per noise on a seeded calibration half of the photographs (highest mean of "
                             "OSPA and detection rate), OSPA and detection rates on the held-out half."),
        rates_tidy(result.selected), rate_header(chosen.columns))
    out["table_paper_side_by_side"] = Table(side_by_side(r), SIDE_BY_SIDE_CAPTION, side_by_side_tidy(r))
    return out


def paper_text(tables: Mapping[str, Table], noises: list[str]) -> str:
    """Tables I-III as printed: each title, then its table.

    Args:
        tables: :func:`tables`' output.
        noises: the noises shown.

    Returns:
        the text."""
    return "".join(f"{TITLES[noise]}\n{tables[f'table_{noise}_{NAME}'].frame.to_string()}\n\n" for noise in noises)


def auc_table(result: Result) -> pd.DataFrame:
    """ROC-AUC [bootstrap 95% CI] by noise and θ, the baseline in its own row (a column group per model).

    Args:
        result: the θ sweep.

    Returns:
        the layout, index (noise, θ), columns (model, attack)."""
    return auc_by_theta(result.rates, result.attacks)


def figures(result: Result) -> dict[str, dict[str, plt.Figure]]:
    """The trade-off of Tables I-III and the ROC curves, a figure per model each (name -> model -> figure).

    Args:
        result: the θ sweep.

    Returns:
        name -> model -> figure."""
    return {"figure_tradeoff_ospa_vs_detection": tradeoff_figure(result.rates, result.attacks),
            "figure_roc_theta": roc_figure(result.scores, result.config["roc_thetas"], result.attacks,
                                           seed=result.config["seed"])}


def captions(result: Result) -> dict[str, str]:
    """Each figure's caption (Markdown), with the run's images and settings.

    Args:
        result: the θ sweep.

    Returns:
        figure name -> caption."""
    c = result.config
    return {
        "figure_tradeoff_ospa_vs_detection":
            f"**Figure.** The trade-off of Tables I-III ({images_text(result.metadata)}): OSPA (clean inputs not "
            "flagged) against detection success rate (successful adversarial examples flagged), one panel per "
            f"attack, one curve per noise through θ = {', '.join(f'{t:g}' for t in c['thetas'])} (the first and "
            "last θ labelled); bars: Wilson 95% intervals; n in the titles and axis labels. A perfect detector "
            "sits at the top right.",
        "figure_roc_theta":
            "**Figure.** ROC curves of the saliency score (L1 distance between the softmax outputs of x and E), "
            "rows = noises, columns = attacks, for θ = 0 (the noise alone) and θ = "
            f"{', '.join(f'{t:g}' for t in c['roc_thetas'])}; dashed: the 1 − max softmax baseline; grey: chance. "
            "Legends: AUC [bootstrap 95% interval]; titles: n clean inputs and n successful adversarial examples. "
            "An AUC below 0.5 means the score ranks adversarial inputs *below* clean ones: PGD, for instance, "
            "drives the model to a confident wrong label, so 1 − max softmax is lower on its examples than on "
            "clean inputs."}


def facts(result: Result) -> pd.DataFrame:
    """The counts the findings state, per model: (noise, attack) pairs, those where the overlay's best θ > 0
    beats the noise alone (θ = 0) and the 1 − max softmax baseline (AUC, chosen in hindsight), and the
    paper's claims that hold, fail or were not measured here.

    Args:
        result: the θ sweep.

    Returns:
        one row per model."""
    rows = []
    for model in result.metadata:
        added = result.added[result.added["model"] == model]
        holds = result.claims[result.claims["model"] == model]["holds"]
        rows.append({"model": model, "pairs": len(added),
                     "overlay_beats_noise_alone": int(added["overlay beats noise alone"].sum()),
                     "overlay_beats_baseline": int(added["overlay beats baseline"].sum()),
                     "claims": len(holds), "claims_hold": int(holds.eq(True).sum()),
                     "claims_fail": int(holds.eq(False).sum()), "claims_not_measured": int(holds.isna().sum())})
    return pd.DataFrame(rows)


def findings(result: Result) -> str:
    """The headline sentences (Markdown) per model: the trade-off, the overlay's added value, the paper's
    claims, the held-out θ (the counts are :func:`facts`).

    Args:
        result: the θ sweep.

    Returns:
        the Markdown list."""
    return theta_sweep_findings(result.rates, result.attacks, result.added, result.claims, result.selected)
