"""Notebook 10: which saliency map (Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM) the detector uses, per model:
the maps side by side, OSPA and detection rates, ROC-AUC with intervals, and each detector's cost.

The whole experiment in one place: :class:`Config`, :func:`run` -> :class:`Result`, :func:`facts` (the only
analysis) and the formatters :func:`tables`, :func:`figures` and :func:`findings`, which only format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.detectors import SaliencyDetector, detector_costs
from helpers.experiments.export import Table
from helpers.experiments.prose import protocol_text
from helpers.experiments.runs import ModelRun, prepare, score_runs
from helpers.figures import error_bars, label_text
from helpers.labels import NOISE_LEGEND, attack_label
from helpers.models import ModelBundle
from helpers.plotting import (
    DOUBLE_COLUMN,
    MAX_GRID_ROWS,
    Cell,
    figure,
    image_grid,
    image_label,
    page_count,
    page_items,
    save_pages,
)
from helpers.runtime import write_atomically
from helpers.saliency import SALIENCY_TITLES, make_saliency, map_correlation
from helpers.scores import baseline_scores, rates_by_saliency_method, saliency_scores
from helpers.tables import AUC_INTERVAL, auc_by_theta, export_table, paper_layout

NAME = "saliency_ablation"  # the score tables' file names: scores_saliency_ablation_<model>.parquet
REFERENCE = "gradcam"  # the paper's saliency map, the one the others are compared with
CELL = ["model", "noise", "theta", "attack"]  # what an AUC is compared on
COST_COLUMNS = ["saliency_method", "ms_per_image", "ratio_to_inference", "model"]


@dataclass(frozen=True)
class Config:
    """The parameters notebook 10 reads, typed and checked once (:meth:`from_params`).

    Attributes:
        saliency_methods: the saliency methods compared, in order (``REFERENCE`` among them: the paper's).
        thetas, noises: the detector configurations each method is scored at.
        fpr: the matched false-positive rate of the rate table (fraction).
        seed: the seed of the calibration split and of the bootstrap.
        batch_size: images per forward pass.
        cost_images: images the cost is measured on (0 for a saved table).
        figure_images: images in the saliency-map figure.
        results_dir: where the score tables and rates go ('' for a saved table).
        parameters: every checked parameter, as saved with the score tables (not compared)."""

    attacks: tuple[str, ...]
    saliency_methods: tuple[str, ...]
    thetas: tuple[float, ...]
    noises: tuple[str, ...]
    colormap: str
    overlay_order: str
    zero_mean_reference: str
    fpr: float
    seed: int
    batch_size: int
    cost_images: int
    figure_images: int
    results_dir: str
    parameters: Mapping[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Config:
        """The configuration of checked notebook parameters or of a saved score table's metadata.

        Raises:
            KeyError: a parameter the experiment needs is missing."""
        p = params
        return cls(tuple(p["attacks"]), tuple(p["saliency_methods"]), tuple(float(t) for t in p["thetas"]),
                   tuple(p["noises"]), p["colormap"], p["overlay_order"], p["zero_mean_reference"], float(p["fpr"]),
                   int(p["seed"]), int(p["batch_size"]), int(p.get("cost_images", 0)), int(p.get("figure_images", 0)),
                   str(p.get("results_dir", "")), dict(p))

    @property
    def titles(self) -> dict[str, str]:
        """Saliency method -> its display name, in the order of the parameters."""
        return {m: SALIENCY_TITLES[m] for m in self.saliency_methods}


@dataclass(frozen=True)
class Result:
    """One ablation.

    Attributes:
        scores: the stacked score table (each row names its model and saliency method).
        rates: the rate tables of each (model, saliency method) on its own, stacked.
        metadata: model -> its run's metadata.
        costs: the measured costs (``COST_COLUMNS``; ``saliency_method`` 'inference' for the undefended model);
            empty from a saved table."""

    scores: pd.DataFrame
    rates: pd.DataFrame
    metadata: dict[str, dict]
    config: Config
    costs: pd.DataFrame


@dataclass(frozen=True)
class Facts:
    """Every number notebook 10 shows.

    Attributes:
        attacks: the attacks of the parameters that have rows in the rates.
        rates: the rate tables of each (model, saliency method), stacked (fractions, AUCs in 0-1).
        cells: per (model, saliency method, ``against`` 'baseline' or ``REFERENCE``) and (noise, θ, attack) cell
            both have: ``above`` / ``below``, whether the method's AUC bootstrap 95% interval lies wholly above /
            below the other's.
        counts: ``cells`` counted: ``model``, ``saliency_method``, ``against``, ``above``, ``below``, ``compared``.
        best: per model, its saliency AUC row with the highest value (chosen on the data shown: the best observed).
        costs: the measured costs (``COST_COLUMNS``)."""

    config: Config
    models: tuple[str, ...]
    attacks: tuple[str, ...]
    rates: pd.DataFrame
    cells: pd.DataFrame
    counts: pd.DataFrame
    best: pd.DataFrame
    costs: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        """The counts, as ``python -m helpers.report`` writes them."""
        return self.counts


def run(config: Config, runs: Mapping[str, ModelRun] | None = None) -> Result:
    """Score every model's images and attack sets with each saliency method (each noise and θ) and the baseline,
    save the score tables (``results_dir``: ``scores_saliency_ablation_<model>.parquet``) and the rates
    (``saliency_ablation_rates.csv``), and measure each method's cost on ``cost_images`` images.

    Args:
        runs: the prepared models (default: :func:`helpers.experiments.runs.prepare` of its parameters)."""
    c, bs = config, config.batch_size
    runs = prepare(c.parameters) if runs is None else runs
    scores, metadata = score_runs(runs, lambda r: pd.concat([
        *(saliency_scores(r.bundle, r.images, r.attacks, c.thetas, c.noises, c.colormap, c.overlay_order,
                          c.zero_mean_reference, bs, saliency_method=m) for m in c.saliency_methods),
        baseline_scores(r.bundle, r.images, r.attacks, bs)], ignore_index=True), c.parameters, NAME)
    result = from_scores(scores, metadata, c, pd.concat([costs(r, c) for r in runs.values()], ignore_index=True))
    export_table(result.rates, f"{NAME}_rates", c.results_dir, float_format="%.6g", formats=("csv",))
    return result


def costs(run: ModelRun, config: Config) -> pd.DataFrame:
    """Milliseconds per image of inference and of the detector with each saliency method (the first θ and
    noise) on one model's first ``cost_images`` images (wall-clock, this machine).

    Returns:
        one row per pass ('inference', then each method), ``COST_COLUMNS``."""
    c = config
    detectors = {m: SaliencyDetector(run.bundle, c.thetas[0], c.noises[0], c.colormap, c.overlay_order,
                                     c.zero_mean_reference, saliency_method=m) for m in c.saliency_methods}
    measured = detector_costs(run.bundle, run.images.x[:c.cost_images], detectors, batch_size=c.batch_size)
    return measured.rename(columns={"detector": "saliency_method"}).assign(model=run.bundle.name)


def from_scores(scores: pd.DataFrame, metadata: dict[str, dict], config: Config | Mapping[str, Any],
                costs: pd.DataFrame | None = None) -> Result:
    """The :class:`Result` of a score table (e.g. a saved one): the rates of each model and saliency method on
    its own.

    Args:
        scores: the score table of one or several models (``helpers.scores.COLUMNS``).
        metadata: model -> its run's metadata (``helpers.scores.run_metadata``).
        config: the run's :class:`Config`, or its parameters (:meth:`Config.from_params`).
        costs: the measured costs (:func:`costs` of each model, stacked); none from a saved table."""
    config = config if isinstance(config, Config) else Config.from_params(config)
    rates = pd.concat([rates_by_saliency_method(g, config.fpr, config.seed)
                       for _, g in scores.groupby("model", sort=False)], ignore_index=True)
    return Result(scores, rates, dict(metadata), config, pd.DataFrame(columns=COST_COLUMNS) if costs is None else costs)


def protocol(runs: Mapping[str, ModelRun]) -> str:
    """The lines printed first: per model the image protocol, its images and input size, each attack's success.

    Args:
        runs: model name -> its prepared run."""
    return protocol_text(runs, lambda r: f"{r.images.description}, {r.bundle.input_size[0]}x{r.bundle.input_size[1]}")


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

    Raises:
        ValueError: a page that does not exist, or a grid too large for the width."""
    titles = titles or {}
    shown, paging = page_items(len(x), MAX_GRID_ROWS, page)
    cells = [[Cell(x[i], label_text(bundle, pred[0][i], pred[1][i]))]
             + [Cell(x[i], titles[name][i] if name in titles else "", m[i]) for name, m in maps.items()]
             for i in shown]
    return image_grid(cells, ["input x", *maps], [image_label(ids[i]) for i in shown], width,
                      colorbar_label="saliency H (normalised, 0-1)", note=paging or None)


def maps_figure(run: ModelRun, config: Config, folder: str | Path) -> list[Path]:
    """The first ``figure_images`` images of one model under each saliency method (maps upsampled to the
    input), each map titled with its Pearson r against Grad-CAM's, saved as pages of
    ``figure_saliency_methods``.

    Args:
        folder: where the pages go."""
    c, titles = config, config.titles
    bundle, x = run.bundle, run.images.x[:c.figure_images]
    maps = {m: make_saliency(m, bundle.model, bundle.gradcam_layer)(x, batch_size=c.batch_size) for m in titles}
    first = maps[c.saliency_methods[0]]
    upsampled = {titles[m]: s.upsampled(bundle.input_size) for m, s in maps.items()}
    reference = REFERENCE if REFERENCE in maps else c.saliency_methods[0]
    captions = {titles[m]: [f"r = {r:.2f} with {titles[reference]}" for r in map_correlation(s.coarse,
                                                                                             maps[reference].coarse)]
                for m, s in maps.items() if m != reference}
    return save_pages(lambda page: saliency_methods_figure(bundle, x, upsampled, (first.classes, first.confidence),
                                                           run.images.ids[:c.figure_images], captions, page=page),
                      page_count(len(x), MAX_GRID_ROWS), "figure_saliency_methods", folder)


# --- the analysis -------------------------------------------------------------------------------------------


def compared_cells(rates: pd.DataFrame) -> pd.DataFrame:
    """Each saliency method's AUC intervals against the reference's (Grad-CAM's) and the 1 − max softmax
    baseline's, cell by cell (:attr:`Facts.cells`).

    Args:
        rates: the stacked rate tables (``saliency_method`` column).

    Returns:
        ``model``, ``saliency_method``, ``against``, ``noise``, ``theta``, ``attack``, ``above``, ``below``."""
    auc = rates[rates["metric"] == "auc"]
    saliency = auc[auc["detector"] == "saliency"]
    baseline = auc[auc["detector"] == "baseline"][["model", "attack", "ci_low", "ci_high"]]
    references = {"baseline": saliency[CELL].drop_duplicates().merge(baseline, on=["model", "attack"]),
                  REFERENCE: saliency[saliency["saliency_method"] == REFERENCE]}
    parts = []
    for against, reference in references.items():
        ref = reference[CELL + ["ci_low", "ci_high"]].rename(columns={"ci_low": "ref_low", "ci_high": "ref_high"})
        for (model, method), g in saliency.groupby(["model", "saliency_method"], sort=False):
            if against == method or (against == REFERENCE and not (saliency.loc[saliency["model"] == model,
                                                                                "saliency_method"] == REFERENCE).any()):
                continue
            both = g.merge(ref, on=CELL)
            parts.append(both[CELL].assign(saliency_method=method, against=against,
                                           above=(both["ci_low"] > both["ref_high"]).to_numpy(),
                                           below=(both["ci_high"] < both["ref_low"]).to_numpy()))
    columns = ["model", "saliency_method", "against", "noise", "theta", "attack", "above", "below"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def facts(result: Result) -> Facts:
    """The analysis of an ablation: each method's AUC intervals against Grad-CAM's and the baseline's, their
    counts, each model's highest AUC, the costs."""
    cells = compared_cells(result.rates)
    counts = cells.groupby(["model", "saliency_method", "against"], sort=False).agg(
        above=("above", "sum"), below=("below", "sum"), compared=("above", "size")).reset_index()
    counts = counts.astype({"above": int, "below": int, "compared": int})
    saliency = result.rates[(result.rates["metric"] == "auc") & (result.rates["detector"] == "saliency")]
    best = saliency.loc[saliency.groupby("model", sort=False)["value"].idxmax()] if len(saliency) else saliency
    attacks = tuple(a for a in result.config.attacks if (result.rates["attack"] == a).any())
    return Facts(result.config, tuple(result.metadata), attacks, result.rates, cells, counts, best, result.costs)


# --- the formatters -----------------------------------------------------------------------------------------


def tables(facts: Facts) -> dict[str, Table]:
    """OSPA and detection rates by (model, saliency map, noise), and ROC-AUC by (model, score); the models, images
    and seed come from the run's metadata when saved (:meth:`helpers.experiments.export.Table.save`).

    Returns:
        name -> :class:`~helpers.experiments.export.Table`."""
    r, titles, attacks = facts.rates, facts.config.titles, list(facts.config.attacks)
    detection = pd.concat({(model, titles[m], noise): paper_layout(g, noise, attacks)[model]
                           for (model, m), g in r[r["saliency_method"] != ""].groupby(["model", "saliency_method"],
                                                                                      sort=False)
                           for noise in facts.config.noises}, names=["model", "saliency map", "noise"])
    auc = pd.concat({(model, titles.get(m, "1 − max softmax")): auc_by_theta(g, attacks)[model]
                     for (model, m), g in r.groupby(["model", "saliency_method"], sort=False)},
                    names=["model", "score"])
    return {
        "table_saliency_ablation_detection": Table(detection, "OSPA and detection rate by saliency map, noise and "
                                                   "θ. Cells: rate in percent [Wilson 95% confidence interval] (n = "
                                                   "clean inputs for OSPA, successful adversarial examples for an "
                                                   "attack)."),
        "table_saliency_ablation_auc": Table(auc, f"ROC-AUC (0-1) [{AUC_INTERVAL}] of each saliency "
                                             "map's detector score and of the 1 − max softmax baseline.")}


def _method_panel(ax: plt.Axes, here: pd.DataFrame, methods: list[str]) -> None:
    """One (model, attack) panel: each (noise, θ)'s AUC per method, the baseline's dashed in its grey band."""
    base = here[here["detector"] == "baseline"]
    if len(base):
        ax.axhspan(base["ci_low"].iloc[0], base["ci_high"].iloc[0], color="0.9", zorder=0)
        ax.axhline(base["value"].iloc[0], color="k", ls="--", lw=0.8, label="1 − max softmax")
    saliency = here[here["detector"] == "saliency"]
    configs = list(dict.fromkeys(zip(saliency["noise"], saliency["theta"], strict=True)))
    for k, ((noise, theta), marker) in enumerate(zip(configs, "osD^v<>ph*", strict=False)):
        g = saliency[(saliency["noise"] == noise) & np.isclose(saliency["theta"], theta)]
        g = g.set_index("saliency_method").reindex(methods)
        pos = np.arange(len(methods)) + 0.12 * (k - (len(configs) - 1) / 2)
        value, err = error_bars(g["value"], g["ci_low"], g["ci_high"])
        ax.errorbar(pos, value, yerr=err, fmt=marker, ms=3.5, capsize=2, elinewidth=0.7,
                    label=f"{NOISE_LEGEND.get(noise, noise)}, θ = {theta:g}")


def auc_by_method_figure(facts: Facts, width: float = DOUBLE_COLUMN) -> plt.Figure:
    """ROC-AUC with bootstrap 95% intervals per saliency method (x axis), one marker per (noise, θ),
    rows = models, columns = attacks; the 1 − max softmax baseline as a dashed line in a grey band.

    Args:
        width: inches, a journal width."""
    auc, titles, attacks = facts.rates[facts.rates["metric"] == "auc"], facts.config.titles, facts.attacks
    models = list(dict.fromkeys(auc["model"]))
    methods = [m for m in titles if (auc["saliency_method"] == m).any()]
    fig, axes = figure(width, 2.1 * len(models) + 0.5, nrows=len(models), ncols=len(attacks), sharex=True,
                       sharey=True)
    for r, model in enumerate(models):
        for c, attack in enumerate(attacks):
            ax = axes[r, c]
            _method_panel(ax, auc[(auc["model"] == model) & (auc["attack"] == attack)], methods)
            ax.set_title(f"{model}, {attack_label(attack)}")
            ax.set_xticks(range(len(methods)), [titles[m] for m in methods], rotation=20)
            ax.set_xlim(-0.5, len(methods) - 0.5)
            ax.set_ylim(-0.03, 1.03)
            ax.grid(alpha=0.3, axis="y")
        axes[r, 0].set_ylabel("ROC-AUC [95% CI]")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), frameon=False)
    return fig


def figures(result: Result, facts: Facts) -> dict[str, dict[str, plt.Figure]]:
    """The AUC of each saliency method and the baseline, all models in one figure.

    Returns:
        name -> {"": figure}."""
    return {"figure_auc_by_saliency_method": {"": auc_by_method_figure(facts)}}


def cost_table(facts: Facts) -> pd.DataFrame:
    """Each detector pass over plain inference (rows: inference, then each method; a column per model).

    Args:
        facts: the ablation's facts, with measured costs.

    Returns:
        the ratios, index ``saliency_method``, a column per model.

    Raises:
        KeyError: for facts without measured costs (from a saved table)."""
    table = facts.costs.pivot(index="saliency_method", columns="model", values="ratio_to_inference")
    return table.loc[["inference", *facts.config.saliency_methods], list(facts.models)]


def _cell_name(cell: pd.Series) -> str:
    return f"{attack_label(cell['attack'])}, {cell['noise']}, θ = {cell['theta']:g}"


def _comparisons(facts: Facts, model: str, against: str) -> list[str]:
    titles, cells = facts.config.titles, facts.cells[facts.cells["model"] == model]
    parts = []
    for _, c in facts.counts[(facts.counts["model"] == model) & (facts.counts["against"] == against)].iterrows():
        text = f"{titles[c['saliency_method']]} above in {c['above']}, below in {c['below']} of {c['compared']}"
        above = cells[(cells["saliency_method"] == c["saliency_method"]) & (cells["against"] == against)
                      & cells["above"]]
        parts.append(text + (f" ({'; '.join(_cell_name(r) for _, r in above.iterrows())})"
                             if against == REFERENCE and len(above) else ""))
    return parts


def _model_line(facts: Facts, model: str) -> str:
    titles, name = facts.config.titles, facts.config.titles.get(REFERENCE, REFERENCE)
    parts = _comparisons(facts, model, REFERENCE)
    line = (f"- *{model}.* AUC interval against {name}'s: " + "; ".join(parts) + ". " if parts else f"- *{model}.* ")
    line += "Against the 1 − max softmax baseline's: " + "; ".join(_comparisons(facts, model, "baseline")) + "."
    best = facts.best[facts.best["model"] == model]
    if len(best):
        b = best.iloc[0]
        line += (f" Highest AUC: {titles[b['saliency_method']]} ({_cell_name(b)}) {b['value']:.2f} "
                 f"[{b['ci_low']:.2f}, {b['ci_high']:.2f}].")
    measured = facts.costs[(facts.costs["model"] == model) & (facts.costs["saliency_method"] != "inference")]
    if len(facts.costs[facts.costs["saliency_method"] != "inference"]):
        line += " Detector cost (one θ) / inference: " + ", ".join(
            f"{titles.get(m, m)} {r:.2f}" for m, r in zip(measured["saliency_method"], measured["ratio_to_inference"],
                                                           strict=True)) + "."
    return line


def _beaten(facts: Facts, against: str) -> list[str]:
    hits = facts.cells[(facts.cells["against"] == against) & facts.cells["above"]]
    return [f"{r['model']}: {facts.config.titles[r['saliency_method']]} ({_cell_name(r)})" for _, r in hits.iterrows()]


def findings(facts: Facts) -> str:
    """The headline sentences (Markdown): does any method beat Grad-CAM, or the baseline, with AUC intervals
    apart (the counts of :attr:`Facts.counts`), per model, and each detector's cost."""
    name = facts.config.titles.get(REFERENCE, REFERENCE)
    beats_reference, beats_baseline = _beaten(facts, REFERENCE), _beaten(facts, "baseline")
    verdict = ("**Does any method beat Grad-CAM?** "
               + (f"No: in none of the (model, noise, θ, attack) cells does another method's AUC interval lie above "
                  f"{name}'s." if not beats_reference else
                  "Yes, with intervals apart, in " + "; ".join(beats_reference) + ".")
               + " **And the 1 − max softmax baseline?** "
               + ("No method's AUC interval lies above the baseline's in any cell." if not beats_baseline else
                  "Yes, in " + "; ".join(beats_baseline) + "."))
    caveat = (" Intervals that overlap do not show the methods equal: on a few images they are wide, and apart "
              "intervals are a strict test.")
    return "\n".join([verdict + caveat, "", *(_model_line(facts, model) for model in facts.models)])


def save_facts(facts: Facts, folder: str | Path) -> list[Path]:
    """Write the counts (``facts_saliency_ablation.csv``) and the costs (``saliency_ablation_costs.csv``): the
    numbers the printed findings state besides the rates (``saliency_ablation_rates.csv``)."""
    return [write_atomically(Path(folder) / f"{name}.csv", lambda tmp, f=frame: f.to_csv(
        tmp, index=False, float_format="%.6g"), suffix=".csv")
        for name, frame in ((f"facts_{NAME}", facts.counts), (f"{NAME}_costs", facts.costs))]
