"""Notebook 10: which saliency map (Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM) the detector uses, per model:
the maps side by side, OSPA and detection rates, ROC-AUC with intervals, and each detector's cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from helpers.detectors import SaliencyDetector, detector_costs
from helpers.experiments.common import ModelRun, Table, prepare, protocol_text, score_runs
from helpers.figures import auc_by_method_figure, saliency_methods_figure
from helpers.findings import saliency_ablation_findings
from helpers.plotting import MAX_GRID_ROWS, page_count, save_pages
from helpers.saliency import SALIENCY_TITLES, make_saliency, map_correlation
from helpers.scores import baseline_scores, rates_by_saliency_method, saliency_scores
from helpers.tables import auc_by_theta, export_table, paper_layout

NAME = "saliency_ablation"  # the score tables' file names: scores_saliency_ablation_<model>.parquet
REFERENCE = "gradcam"  # the paper's saliency map, the one the others are compared with


@dataclass(frozen=True)
class Result:
    """One ablation: the score table of every model (each row names its model and saliency method), the rates
    of each (model, saliency method) on its own, the run's metadata and parameters (``config``), and the
    measured costs (``model``, ``saliency_method`` (or ``inference``), ``ms_per_image``,
    ``ratio_to_inference``; empty from a saved table).

    Attributes:
        scores: the stacked score table (``helpers.scores.COLUMNS``).
        rates: the rate tables of each (model, saliency method), stacked.
        metadata: model -> its run's metadata.
        config: the run's parameters.
        costs: the measured costs."""

    scores: pd.DataFrame
    rates: pd.DataFrame
    metadata: dict[str, dict]
    config: dict[str, Any]
    costs: pd.DataFrame

    @property
    def titles(self) -> dict[str, str]:
        """Saliency method -> its display name, in the order of the parameters."""
        return {m: SALIENCY_TITLES[m] for m in self.config["saliency_methods"]}

    @property
    def attacks(self) -> list[str]:
        """The attacks of the parameters that have rows in the rates."""
        return [a for a in self.config["attacks"] if (self.rates["attack"] == a).any()]


def run(config: Mapping[str, Any], runs: Mapping[str, ModelRun] | None = None) -> Result:
    """Score every model's images and attack sets with each saliency method (each noise and θ) and the baseline,
    save the score tables (``results_dir``: ``scores_saliency_ablation_<model>.parquet``) and the rates
    (``saliency_ablation_rates.csv``), and measure each method's cost on ``cost_images`` images.

    Args:
        config: the checked parameters of notebook 10.
        runs: the prepared models (default: :func:`helpers.experiments.common.prepare` of ``config``).

    Returns:
        the :class:`Result`."""
    c, bs = config, config["batch_size"]
    runs = prepare(c) if runs is None else runs
    scores, metadata = score_runs(runs, lambda r: pd.concat([
        *(saliency_scores(r.bundle, r.images, r.attacks, c["thetas"], c["noises"], c["colormap"], c["overlay_order"],
                          c["zero_mean_reference"], bs, saliency_method=m) for m in c["saliency_methods"]),
        baseline_scores(r.bundle, r.images, r.attacks, bs)], ignore_index=True), c, NAME)
    result = from_scores(scores, metadata, c, pd.concat([costs(r, c) for r in runs.values()], ignore_index=True))
    export_table(result.rates, f"{NAME}_rates", c["results_dir"], float_format="%.6g", formats=("csv",))
    return result


def costs(run: ModelRun, config: Mapping[str, Any]) -> pd.DataFrame:
    """Milliseconds per image of inference and of the detector with each saliency method (the first θ and
    noise) on one model's first ``cost_images`` images (wall-clock, this machine).

    Args:
        run: one model's prepared run.
        config: the checked parameters (``thetas``, ``noises``, ``saliency_methods``, ``cost_images``, ...).

    Returns:
        one row per pass ('inference', then each method): ``saliency_method``, ``ms_per_image``,
        ``ratio_to_inference``, ``model``."""
    c = config
    detectors = {m: SaliencyDetector(run.bundle, c["thetas"][0], c["noises"][0], c["colormap"], c["overlay_order"],
                                     c["zero_mean_reference"], saliency_method=m) for m in c["saliency_methods"]}
    measured = detector_costs(run.bundle, run.images.x[:c["cost_images"]], detectors, batch_size=c["batch_size"])
    return measured.rename(columns={"detector": "saliency_method"}).assign(model=run.bundle.name)


def from_scores(scores: pd.DataFrame, metadata: dict[str, dict], config: Mapping[str, Any],
                costs: pd.DataFrame | None = None) -> Result:
    """The :class:`Result` of a score table (e.g. a saved one): the rates of each model and saliency method on
    its own, with ``config``'s ``fpr`` and ``seed``.

    Args:
        scores: the score table of one or several models (``helpers.scores.COLUMNS``).
        metadata: model -> its run's metadata (``helpers.scores.run_metadata``).
        config: the run's parameters.
        costs: the measured costs (:func:`costs` of each model, stacked); none from a saved table.

    Returns:
        the :class:`Result`."""
    rates = pd.concat([rates_by_saliency_method(g, config["fpr"], config["seed"])
                       for _, g in scores.groupby("model", sort=False)], ignore_index=True)
    return Result(scores, rates, dict(metadata), dict(config),
                  pd.DataFrame(columns=["saliency_method", "ms_per_image", "ratio_to_inference", "model"])
                  if costs is None else costs)


def protocol(runs: Mapping[str, ModelRun]) -> str:
    """The lines printed first: per model the image protocol, its images and input size, each attack's success.

    Args:
        runs: model name -> its prepared run.

    Returns:
        the lines."""
    return protocol_text(runs, lambda r: f"{r.images.description}, {r.bundle.input_size[0]}x{r.bundle.input_size[1]}")


def maps_figure(run: ModelRun, config: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """The first ``figure_images`` images of one model under each saliency method (maps upsampled to the
    input), each map titled with its Pearson r against Grad-CAM's, saved as pages of
    ``figure_saliency_methods``.

    Args:
        run: one model's prepared run.
        config: the checked parameters (``figure_images``, ``saliency_methods``, ``batch_size``).
        folder: where the pages go.

    Returns:
        the paths written."""
    c, titles = config, {m: SALIENCY_TITLES[m] for m in config["saliency_methods"]}
    bundle, x = run.bundle, run.images.x[:c["figure_images"]]
    maps = {m: make_saliency(m, bundle.model, bundle.gradcam_layer)(x, batch_size=c["batch_size"]) for m in titles}
    first = maps[c["saliency_methods"][0]]
    upsampled = {titles[m]: s.upsampled(bundle.input_size) for m, s in maps.items()}
    reference = REFERENCE if REFERENCE in maps else c["saliency_methods"][0]
    captions = {titles[m]: [f"r = {r:.2f} with {titles[reference]}" for r in map_correlation(s.coarse,
                                                                                             maps[reference].coarse)]
                for m, s in maps.items() if m != reference}
    return save_pages(lambda page: saliency_methods_figure(bundle, x, upsampled, (first.classes, first.confidence),
                                                           run.images.ids[:c["figure_images"]], captions, page=page),
                      page_count(len(x), MAX_GRID_ROWS), "figure_saliency_methods", folder)


def tables(result: Result) -> dict[str, Table]:
    """OSPA and detection rates by (model, saliency map, noise), and ROC-AUC by (model, score); the models, images
    and seed come from the run's metadata when saved (:meth:`helpers.experiments.common.Table.save`).

    Args:
        result: the ablation.

    Returns:
        name -> :class:`~helpers.experiments.common.Table`."""
    r, titles, attacks = result.rates, result.titles, result.config["attacks"]
    detection = pd.concat({(model, titles[m], noise): paper_layout(g, noise, attacks)[model]
                           for (model, m), g in r[r["saliency_method"] != ""].groupby(["model", "saliency_method"],
                                                                                      sort=False)
                           for noise in result.config["noises"]}, names=["model", "saliency map", "noise"])
    auc = pd.concat({(model, titles.get(m, "1 − max softmax")): auc_by_theta(g, attacks)[model]
                     for (model, m), g in r.groupby(["model", "saliency_method"], sort=False)},
                    names=["model", "score"])
    return {
        "table_saliency_ablation_detection": Table(detection, "OSPA and detection rate by saliency map, noise and "
                                                   "θ. Cells: rate in percent [Wilson 95% confidence interval] (n = "
                                                   "clean inputs for OSPA, successful adversarial examples for an "
                                                   "attack)."),
        "table_saliency_ablation_auc": Table(auc, "ROC-AUC (0-1) [stratified bootstrap 95% interval] of each saliency "
                                             "map's detector score and of the 1 − max softmax baseline.")}


def figures(result: Result) -> dict[str, dict[str, plt.Figure]]:
    """The AUC of each saliency method and the baseline, all models in one figure (name -> {"": figure}).

    Args:
        result: the ablation.

    Returns:
        name -> {"": figure}."""
    return {"figure_auc_by_saliency_method": {"": auc_by_method_figure(result.rates, result.attacks, result.titles)}}


def cost_table(result: Result) -> pd.DataFrame:
    """Each detector pass over plain inference (rows: inference, then each method; a column per model).

    Args:
        result: the ablation, with measured costs.

    Returns:
        the ratios, index ``saliency_method``, a column per model.

    Raises:
        KeyError: for a result without measured costs (from a saved table)."""
    table = result.costs.pivot(index="saliency_method", columns="model", values="ratio_to_inference")
    return table.loc[["inference", *result.config["saliency_methods"]], list(result.metadata)]


def facts(result: Result) -> pd.DataFrame:
    """In how many (noise, θ, attack) cells each model's saliency method has its AUC bootstrap 95% interval wholly
    above / below the reference's (Grad-CAM's, ``against`` = ``gradcam``) and the 1 − max softmax baseline's
    (``against`` = ``baseline``), out of ``compared`` cells.

    Args:
        result: the ablation.

    Returns:
        columns model, saliency_method, against, above, below, compared."""
    auc = result.rates[result.rates["metric"] == "auc"]
    keys = ["model", "noise", "theta", "attack"]
    saliency = auc[auc["detector"] == "saliency"]
    baseline = auc[auc["detector"] == "baseline"][["model", "attack", "ci_low", "ci_high"]]
    references = {"baseline": saliency[keys].drop_duplicates().merge(baseline, on=["model", "attack"]),
                  REFERENCE: saliency[saliency["saliency_method"] == REFERENCE]}
    rows = []
    for against, reference in references.items():
        ref = reference[keys + ["ci_low", "ci_high"]].rename(columns={"ci_low": "ref_low", "ci_high": "ref_high"})
        for (model, method), g in saliency.groupby(["model", "saliency_method"], sort=False):
            if against == method:
                continue
            both = g.merge(ref, on=keys)
            rows.append({"model": model, "saliency_method": method, "against": against,
                         "above": int((both["ci_low"] > both["ref_high"]).sum()),
                         "below": int((both["ci_high"] < both["ref_low"]).sum()), "compared": len(both)})
    return pd.DataFrame(rows, columns=["model", "saliency_method", "against", "above", "below", "compared"])


def findings(result: Result) -> str:
    """The headline sentences (Markdown): does any method beat Grad-CAM, or the baseline, per model (the counts
    are :func:`facts`), and each detector's cost.

    Args:
        result: the ablation.

    Returns:
        the Markdown paragraph and list."""
    measured = result.costs[result.costs["saliency_method"] != "inference"]
    return saliency_ablation_findings(result.rates, result.titles, measured if len(measured) else None)
