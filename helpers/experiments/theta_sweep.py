"""Notebook 05: the θ sweep (the paper's Tables I-III), with intervals, ROC, the held-out choice of θ
and the paper's numbers side by side.

The whole experiment in one place: :class:`Config` (the checked parameters it reads, typed), :func:`run` ->
:class:`Result`, :func:`facts` (the only analysis) and the formatters :func:`tables`, :func:`figures` and
:func:`findings`, which only format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.attack_report import boundary_caveat, cw_confidence
from helpers.experiments.export import Table
from helpers.experiments.paper_tables import SIDE_BY_SIDE_CAPTION, claims_check, side_by_side, side_by_side_tidy
from helpers.experiments.prose import images_text, protocol_text
from helpers.experiments.runs import ModelRun, prepare, score_runs
from helpers.figures import AUC_BELOW_HALF, error_bars
from helpers.findings import each_model, find_rate, said, verb
from helpers.labels import NOISE_LEGEND, Cell, attack_label, auc_text, model_label, noise_label
from helpers.paper import PAPER_MODELS
from helpers.plotting import DOUBLE_COLUMN, figure, panel_rows
from helpers.runtime import write_atomically
from helpers.scores import (
    baseline_scores,
    rate_table,
    rates_tidy,
    roc_curves,
    saliency_added_value,
    saliency_method,
    saliency_scores,
    select_theta,
)
from helpers.tables import (
    auc_by_theta,
    export_table,
    first_cell,
    folder_names,
    for_reading,
    model_columns,
    paper_layout,
    paper_tidy,
    rate_caption,
    rate_header,
    with_cells,
)
from helpers.verdicts import BETTER, NOT_RESOLVED, REVERSED, WORSE, interval_verdict

NAME = "theta_sweep"  # the score tables' file names: scores_theta_sweep_<model>.parquet
TITLES = {"none": "Table I: saliency map", "color_reverse": "Table II: saliency map & colour reversing",
          "zero_mean": "Table III: saliency map & zero mean"}


@dataclass(frozen=True)
class Config:
    """The parameters notebook 05 reads, typed and checked once (:meth:`from_params`).

    Attributes:
        thetas: the saliency proportions swept (0: the noise alone).
        noises: the noises, one of Tables I-III each.
        roc_thetas: the thetas drawn on the ROC figure besides 0.
        fpr: the matched false-positive rate (fraction).
        seed: the seed of the calibration split and of the bootstrap.
        batch_size: images per forward pass.
        results_dir: where the score tables and facts go ('' for a saved table or a study).
        parameters: every checked parameter, as saved with the score tables (not compared)."""

    attacks: tuple[str, ...]
    thetas: tuple[float, ...]
    noises: tuple[str, ...]
    colormap: str
    overlay_order: str
    zero_mean_reference: str
    roc_thetas: tuple[float, ...]
    fpr: float
    seed: int
    batch_size: int
    results_dir: str
    parameters: Mapping[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Config:
        """The configuration of checked notebook parameters, of a saved score table's metadata or of a study's
        (:func:`helpers.report.study_config`).

        Raises:
            KeyError: a parameter the experiment needs is missing."""
        p = params
        return cls(tuple(p["attacks"]), tuple(float(t) for t in p["thetas"]), tuple(p["noises"]), p["colormap"],
                   p["overlay_order"], p["zero_mean_reference"], tuple(float(t) for t in p["roc_thetas"]),
                   float(p["fpr"]), int(p["seed"]), int(p["batch_size"]), str(p.get("results_dir", "")), dict(p))


@dataclass(frozen=True)
class Result:
    """One θ sweep.

    Attributes:
        scores: the stacked score table of every model (``helpers.scores.COLUMNS``).
        rates: its :func:`helpers.scores.rate_table`.
        metadata: model -> its run's metadata."""

    scores: pd.DataFrame
    rates: pd.DataFrame
    metadata: dict[str, dict]
    config: Config


@dataclass(frozen=True)
class Facts:
    """Every number notebook 05 shows. Rate rows are :func:`helpers.scores.rate_table` rows (fractions, with
    ``ci_low``, ``ci_high``, ``n``).

    Attributes:
        images: model -> its images, in words.
        added: :func:`helpers.scores.saliency_added_value` (the overlay's best θ, chosen in hindsight).
        selected: :func:`helpers.scores.select_theta`'s rows (θ chosen on the calibration half, rates on the
            held-out half).
        claims: :func:`claims_check` of the rates.
        counts: one row per model (:func:`counts_of`): ``pairs`` (noise, attack) by the overlay's verdicts, the
            paper's ``claims`` by theirs.
        curves: :func:`helpers.scores.roc_curves` of the saliency and baseline scores."""

    config: Config
    images: dict[str, str]
    rates: pd.DataFrame
    added: pd.DataFrame
    selected: pd.DataFrame
    claims: pd.DataFrame
    counts: pd.DataFrame
    curves: pd.DataFrame

    @property
    def summary(self) -> pd.DataFrame:
        """The counts (one row per model), as ``python -m helpers.report`` writes them."""
        return self.counts


def run(config: Config, runs: Mapping[str, ModelRun] | None = None) -> Result:
    """Score every model's images and attack sets for each noise and θ and the baseline, save the score tables
    (``results_dir``: ``scores_theta_sweep_<model>.parquet``) and each model's rates (``theta_sweep_<model>.csv``).

    Args:
        runs: the prepared models (default: :func:`helpers.experiments.runs.prepare` of its parameters)."""
    c = config
    runs = prepare(c.parameters) if runs is None else runs
    scores, metadata = score_runs(runs, lambda r: pd.concat([
        saliency_scores(r.bundle, r.images, r.attacks, c.thetas, c.noises, c.colormap, c.overlay_order,
                        c.zero_mean_reference, batch_size=c.batch_size, progress=True),
        baseline_scores(r.bundle, r.images, r.attacks, c.batch_size)], ignore_index=True), c.parameters, NAME)
    result = from_scores(scores, metadata, c)
    method = saliency_method(scores)
    for model, model_rates in result.rates.groupby("model", sort=False):  # the study's tidy schema (rates.csv)
        export_table(model_rates, f"{NAME}_{model}", c.results_dir, float_format="%.6g", formats=("csv",),
                     tidy=rates_tidy(model_rates, method))
    return result


def from_scores(scores: pd.DataFrame, metadata: dict[str, dict], config: Config | Mapping[str, Any]) -> Result:
    """The :class:`Result` of a score table (e.g. a saved one).

    Args:
        scores: the score table of one or several models (``helpers.scores.COLUMNS``).
        metadata: model -> its run's metadata (``helpers.scores.run_metadata``).
        config: the run's :class:`Config`, or its parameters (:meth:`Config.from_params`)."""
    config = config if isinstance(config, Config) else Config.from_params(config)
    return Result(scores, rate_table(scores, fpr=config.fpr, seed=config.seed), dict(metadata), config)


def protocol(runs: Mapping[str, ModelRun], config: Config) -> str:
    """The lines printed first: per model the image protocol, the overlay settings, each attack's success.

    Args:
        runs: model name -> its prepared run."""
    c = config
    return protocol_text(runs, lambda r: f"{r.images.description}; {c.colormap} overlay, {c.overlay_order} "
                                         f"order; zero mean on {c.zero_mean_reference}")


def selected_theta_layout(selected: pd.DataFrame, attacks: Sequence[str]) -> pd.DataFrame:
    """:func:`helpers.scores.select_theta`'s rows as one row per noise, a column group per model: theta,
    OSPA and detection rates (formatted from :func:`rates_tidy` of them).

    Args:
        selected: :func:`helpers.scores.select_theta`'s rows, of one or several models.
        attacks: the attack columns, in order (those measured).

    Returns:
        the layout, index ``noise``, columns (model, column)."""
    def layout(of_model: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for (noise, theta), g in of_model.groupby(["noise", "theta"], sort=False):
            row = {"noise": noise, "theta": theta, "OSPA": first_cell(g[g["attack"] == "clean"])}
            row |= {a: first_cell(g[g["attack"] == a]) for a in attacks if (g["attack"] == a).any()}
            rows.append(row)
        return pd.DataFrame(rows).set_index("noise")

    return model_columns(with_cells(rates_tidy(selected)), layout)


# --- the analysis -------------------------------------------------------------------------------------------


def counts_of(added: pd.DataFrame, claims: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The counts the findings state, per model: (noise, attack) pairs by the overlay's verdicts against the noise
    alone and the baseline, and the paper's claims by verdict on this model.

    Args:
        added: :func:`helpers.scores.saliency_added_value` rows.
        claims: :func:`claims_check` rows.

    Returns:
        ``Facts.counts``."""
    rows = []
    for model in models:
        pairs = added[added["model"] == model]
        alone, base = pairs["overlay vs noise alone"], pairs["overlay vs baseline"]
        verdicts = claims[claims["model"] == model]["verdict"]
        rows.append({"model": model, "pairs": len(pairs),
                     "overlay_better_than_noise_alone": int((alone == BETTER).sum()),
                     "overlay_better_than_baseline": int((base == BETTER).sum()),
                     "overlay_worse_than_baseline": int((base == WORSE).sum()),
                     "overlay_vs_baseline_not_resolved": int((base == NOT_RESOLVED).sum()),
                     "baseline_reversed": int((base == REVERSED).sum()),
                     "claims": len(verdicts), "claims_hold": int((verdicts == "holds").sum()),
                     "claims_fail": int((verdicts == "fails").sum()),
                     "claims_not_resolved": int((verdicts == "not resolved").sum()),
                     "claims_not_measured": int((verdicts == "not measured").sum())})
    return pd.DataFrame(rows)


def facts(result: Result) -> Facts:
    """The analysis of a θ sweep: the rates, the overlay's added value, the held-out θ, the paper's claims,
    their counts per model and the ROC curves."""
    rates = result.rates
    added, claims = saliency_added_value(rates), claims_check(rates)
    scores = result.scores[result.scores["detector"].isin(["saliency", "baseline"])]
    images = {model: meta.get("images", "") for model, meta in result.metadata.items()}
    return Facts(result.config, images, rates, added, select_theta(result.scores, seed=result.config.seed), claims,
                 counts_of(added, claims, list(result.metadata)), roc_curves(scores))


def save_facts(facts: Facts, folder: str | Path) -> list[Path]:
    """Write per model the counts (``facts_theta_sweep_<model>.csv``) and the θ chosen on the calibration half
    with its held-out rates (``selected_theta_<model>.csv``, fractions): what the README's findings are
    written from."""
    paths = []
    for model in facts.images:
        for name, rows in ((f"facts_{NAME}", facts.counts[facts.counts["model"] == model]),
                           ("selected_theta", facts.selected[facts.selected["model"] == model])):
            paths.append(write_atomically(Path(folder) / f"{name}_{model}.csv", lambda tmp, r=rows: r.to_csv(
                tmp, index=False, float_format="%.6g"), suffix=".csv"))
    return paths


# --- the formatters -----------------------------------------------------------------------------------------


def tables(facts: Facts) -> dict[str, Table]:
    """Tables I-III in the paper's layout (one per noise), the held-out θ and the paper side by side.

    Returns:
        name -> :class:`~helpers.experiments.export.Table`."""
    r, attacks = facts.rates, list(facts.config.attacks)
    out = {}
    for noise in facts.config.noises:
        layout = paper_layout(r, noise, attacks)  # a column group per model
        out[f"table_{noise}_{NAME}"] = Table(
            layout, rate_caption(f"{TITLES[noise]}. OSPA on clean inputs, detection success rate on each attack's "
                                 "successful adversarial examples, by saliency proportion θ."),
            paper_tidy(r, noise, attacks), rate_header(layout.columns))
    chosen = selected_theta_layout(facts.selected, attacks)
    out["table_selected_theta_heldout"] = Table(
        chosen, rate_caption("θ chosen per noise on a seeded calibration half of the photographs (highest mean of "
                             "OSPA and detection rate), OSPA and detection rates on the held-out half."),
        rates_tidy(facts.selected), rate_header(chosen.columns))
    out["table_paper_side_by_side"] = Table(side_by_side(r), SIDE_BY_SIDE_CAPTION, side_by_side_tidy(r))
    return out


def paper_text(tables: Mapping[str, Table], noises: Sequence[str]) -> str:
    """Tables I-III as printed: each title, then its table.

    Args:
        tables: :func:`tables`' output.

    Returns:
        the titles and tables, as printed."""
    return "".join(f"{TITLES[noise]}\n{for_reading(tables[f'table_{noise}_{NAME}'].frame).to_string()}\n\n"
                   for noise in noises)


def auc_table(facts: Facts) -> pd.DataFrame:
    """ROC-AUC [bootstrap 95% CI] by noise and θ, the baseline in its own row (a column group per model).

    Returns:
        the layout, index (noise, θ), columns (model, attack)."""
    return auc_by_theta(facts.rates, list(facts.config.attacks))


def tradeoff_figure(facts: Facts, model: str) -> plt.Figure:
    """OSPA against detection success rate (double column), one panel per attack, one curve per noise through
    the thetas in order (hollow marker: first θ, large marker: last), Wilson 95% intervals as thin
    translucent bars in both directions."""
    tidy = facts.rates[(facts.rates["model"] == model) & (facts.rates["detector"] == "saliency")]
    thetas = sorted(tidy["theta"].unique())
    attacks = list(facts.config.attacks)
    rows = panel_rows(attacks)
    fig, axes = figure(DOUBLE_COLUMN, 0.9 + 2.6 * len(rows), nrows=len(rows), ncols=len(rows[0]), sharey=True)
    for ax in axes.flat[len(attacks):]:
        ax.remove()
    for ax, attack in zip(axes.flat, attacks, strict=False):
        n_clean = n_adv = 0
        for noise, marker in zip(NOISE_LEGEND, "osD", strict=True):
            o = tidy[(tidy["noise"] == noise) & (tidy["metric"] == "ospa")].sort_values("theta")
            d = tidy[(tidy["noise"] == noise) & (tidy["attack"] == attack)
                     & (tidy["metric"] == "detection_rate")].sort_values("theta")
            if o.empty or d.empty:
                continue
            n_clean, n_adv = int(o["n"].max()), int(d["n"].max())
            x, xerr = error_bars(o["value"], o["ci_low"], o["ci_high"], 100)
            y, yerr = error_bars(d["value"], d["ci_low"], d["ci_high"], 100)
            line, _, bars = ax.errorbar(x, y, xerr=xerr, yerr=yerr, marker=marker, ms=3.5, lw=1.2, capsize=0,
                                        elinewidth=0.6, label=NOISE_LEGEND[noise])
            for b in bars:
                b.set_alpha(0.35)
            # theta order without text labels (they collide): hollow marker at the first theta, large at the last
            ax.plot(x[0], y[0], marker=marker, ms=6, color=line.get_color(), mfc="white", mew=1.2, ls="none")
            ax.plot(x[-1], y[-1], marker=marker, ms=7, color=line.get_color(), ls="none")
        ax.set(title=f"{attack_label(attack)} (n = {n_adv} successful)", xlabel=f"OSPA (%), n = {n_clean} clean",
               xlim=(-5, 108), ylim=(-5, 105))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("detection success rate (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], marker="o", ms=6, mfc="white", mec="0.3", ls="none"),
                plt.Line2D([], [], marker="o", ms=7, color="0.3", ls="none")]
    labels += [f"θ = {thetas[0]:g} (first)", f"θ = {thetas[-1]:g} (last)"]
    fig.legend(handles, labels, frameon=False, loc="outside lower center", ncols=min(len(labels), 3),
               title="curves through θ = " + ", ".join(f"{t:g}" for t in thetas) + "; bars: Wilson 95% CI")
    return fig


def _curve(ax: plt.Axes, curve: pd.Series, auc: pd.DataFrame, name: str, **style) -> bool:
    """One ROC curve with its AUC [95% CI] (the rate table's row of its configuration) in the legend; whether
    the AUC is below 0.5."""
    same = ((auc["detector"] == curve["detector"]) & (auc["noise"] == curve["noise"])
            & (auc["attack"] == curve["attack"]))
    if curve["detector"] == "saliency":
        same &= np.isclose(auc["theta"], curve["theta"])
    a = auc[same].iloc[0]
    label = f"{name}: {auc_text(a['value'], a['ci_low'], a['ci_high'])}"
    ax.plot(100 * curve["fpr"], 100 * curve["tpr"], label=label, **style)
    return a["value"] < 0.5


def _roc_panel(ax: plt.Axes, curves: pd.DataFrame, auc: pd.DataFrame, noise: str, attack: str, thetas: list) -> bool:
    """One (noise, attack) panel: θ = 0 and ``thetas``, and the baseline dashed; whether an AUC is below 0.5."""
    here = curves[curves["attack"] == attack]
    saliency = here[(here["detector"] == "saliency") & (here["noise"] == noise)]
    below_half = False
    for _, c in saliency[[any(np.isclose(t, thetas)) for t in saliency["theta"]]].iterrows():
        below_half |= _curve(ax, c, auc, f"θ={c['theta']:g}", lw=1.2)
    baseline = here[here["detector"] == "baseline"].iloc[0]
    below_half |= _curve(ax, baseline, auc, "1 − max softmax", color="k", ls="--", lw=1)
    ax.plot([0, 100], [0, 100], color="0.8", lw=0.8, zorder=0)
    ax.set_title(f"{NOISE_LEGEND[noise]}, {attack_label(attack)}\n"
                 f"n = {baseline['n_clean']} clean, {saliency['n_adv'].iloc[0]} adversarial")
    ax.set_aspect("equal")
    return below_half


def roc_figure(facts: Facts, model: str, page: int = 0) -> plt.Figure:
    """ROC curves of the saliency score (L1 distance of softmax outputs), rows = noises, columns = attacks (at most
    :data:`helpers.plotting.PANELS_PER_ROW`; ``page`` picks which, see :func:`roc_figures`): θ = 0 (the noise
    alone), ``roc_thetas`` and the 1 − max softmax baseline; AUC [bootstrap 95% CI] (the rate table's) in the
    legends, n in the titles."""
    curves, auc = facts.curves[facts.curves["model"] == model], facts.rates[facts.rates["model"] == model]
    auc = auc[auc["metric"] == "auc"]
    saliency = curves[curves["detector"] == "saliency"]
    noises = list(dict.fromkeys(saliency["noise"]))
    attacks = panel_rows([a for a in facts.config.attacks if (saliency["attack"] == a).any()])[page]
    thetas = [0.0, *facts.config.roc_thetas]
    fig, axes = figure(DOUBLE_COLUMN, 0.6 + 3.2 * len(noises), nrows=len(noises), ncols=len(attacks),
                       sharex=True, sharey=True)
    below_half = False
    for r, noise in enumerate(noises):
        for c, attack in enumerate(attacks):
            below_half |= _roc_panel(axes[r, c], curves, auc, noise, attack, thetas)
            axes[r, c].legend(title="AUC [95% CI]", loc="upper center", handlelength=1.2, borderaxespad=0.0,
                              bbox_to_anchor=(0.5, -0.24 if r == len(noises) - 1 else -0.08), labelspacing=0.2,
                              frameon=False)  # under the panel
    for ax in axes[-1]:
        ax.set_xlabel("false-positive rate (%)")
    for ax in axes[:, 0]:
        ax.set_ylabel("true-positive rate (%)")
    if below_half:
        fig.suptitle(AUC_BELOW_HALF, fontsize=7)  # at the top: the legends under the panels fill the bottom
    return fig


def roc_figures(facts: Facts) -> dict[str, dict[str, plt.Figure]]:
    """:func:`roc_figure` of every model: ``figure_roc_theta`` for the first attacks, ``figure_roc_theta_page2``
    ... for the next ones (name -> model -> figure)."""
    pages = len(panel_rows(facts.config.attacks))
    return {"figure_roc_theta" + (f"_page{k + 1}" if k else ""): {m: roc_figure(facts, m, k) for m in facts.images}
            for k in range(pages)}


def figures(result: Result, facts: Facts) -> dict[str, dict[str, plt.Figure]]:
    """The trade-off of Tables I-III and the ROC curves, a figure per model each.

    Args:
        result: the θ sweep (its models, in order).

    Returns:
        name -> model -> figure."""
    return {"figure_tradeoff_ospa_vs_detection": {m: tradeoff_figure(facts, m) for m in result.metadata},
            **roc_figures(facts)}


def captions(facts: Facts) -> dict[str, str]:
    """Each figure's caption (Markdown), with the run's images and settings.

    Returns:
        figure name -> caption."""
    c = facts.config
    images = images_text({model: {"images": text} for model, text in facts.images.items()})
    return {
        "figure_tradeoff_ospa_vs_detection":
            f"**Figure.** The trade-off of Tables I-III ({images}): OSPA (clean inputs not "
            "flagged) against detection success rate (successful adversarial examples flagged), one panel per "
            f"attack, one curve per noise through θ = {', '.join(f'{t:g}' for t in c.thetas)} (the first and "
            "last θ labelled); bars: Wilson 95% intervals; n in the titles and axis labels. A perfect detector "
            "sits at the top right.",
        "figure_roc_theta":
            "**Figure.** ROC curves of the saliency score (L1 distance between the softmax outputs of x and E), "
            "rows = noises, columns = attacks, for θ = 0 (the noise alone) and θ = "
            f"{', '.join(f'{t:g}' for t in c.roc_thetas)}; dashed: the 1 − max softmax baseline; grey: chance. "
            "Legends: AUC [bootstrap 95% interval]; titles: n clean inputs and n successful adversarial examples. "
            "An AUC below 0.5 means the score ranks adversarial inputs *below* clean ones: PGD, for instance, "
            "drives the model to a confident wrong label, so 1 − max softmax is lower on its examples than on "
            "clean inputs."}


def _moved(lo: pd.Series, hi: pd.Series, lo_text: str, hi_text: str, at: tuple[str, str] = ("", "")) -> str:
    """How a rate moves from row ``lo`` to row ``hi``, judged by their 95% intervals: 'rises from A to B', 'falls
    from A to B', 'stays at A', or 'goes from A to B, not resolved by the intervals' (``at``: where each is read,
    e.g. ' at θ = 0.1', written after it when the rate moves)."""
    if lo["value"] == hi["value"]:
        return f"stays at {lo_text}"
    lo_text, hi_text = lo_text + at[0], hi_text + at[1]
    verdict = interval_verdict(hi["ci_low"], hi["ci_high"], lo["ci_low"], lo["ci_high"])
    verb = {BETTER: "rises", WORSE: "falls"}.get(verdict, "goes")
    return f"{verb} from {lo_text} to {hi_text}" + ("" if verdict in (BETTER, WORSE) else
                                                     ", not resolved by the intervals")


def _tradeoff_line(saliency: pd.DataFrame, attacks: Sequence[str]) -> str | None:
    thetas = sorted(t for t in saliency["theta"].unique() if t > 0)
    if "none" not in set(saliency["noise"]) or len(thetas) < 2:
        return None
    lo, hi = thetas[0], thetas[-1]
    o_lo, o_hi = (find_rate(saliency, "ospa", "clean", noise="none", theta=t) for t in (lo, hi))
    parts = [f"OSPA {_moved(o_lo, o_hi, said(o_lo), said(o_hi), (f' at θ = {lo:g}', f' at θ = {hi:g}'))}"]
    for a in attacks:
        d_lo, d_hi = (find_rate(saliency, "detection_rate", a, noise="none", theta=t) for t in (lo, hi))
        if d_lo is not None and d_hi is not None:
            texts = [f"{100 * r['value']:.1f}%" for r in (d_lo, d_hi)]
            parts.append(f"{attack_label(a)} detection {_moved(d_lo, d_hi, *texts)}")
    return "- *Trade-off without noise.* " + "; ".join(parts) + "."


def margin_line(saliency: pd.DataFrame, parameters: Mapping[str, Any]) -> str | None:
    """C&W-L2's detection at κ = 0 beside C&W-L2 κ>0's, no noise, at the smallest θ > 0 (a Markdown list item), with
    the verdict of their 95% intervals; None unless the run has both attacks and that θ.

    Args:
        saliency: one model's saliency rows of a :func:`helpers.scores.rate_table` (fractions).
        parameters: the run's checked parameters (for κ, :func:`helpers.attack_report.cw_confidence`)."""
    kappa = cw_confidence(parameters, "cw_l2_kappa")
    thetas = sorted(t for t in saliency["theta"].unique() if t > 0)
    if kappa is None or cw_confidence(parameters) != 0 or not thetas:
        return None
    zero, margin = (find_rate(saliency, "detection_rate", a, noise="none", theta=thetas[0])
                    for a in ("cw_l2", "cw_l2_kappa"))
    if zero is None or margin is None:
        return None
    verdict = interval_verdict(margin["ci_low"], margin["ci_high"], zero["ci_low"], zero["ci_high"])
    reading = {WORSE: "lower, by the intervals", BETTER: "higher, by the intervals"}.get(verdict,
                                                                                       "not resolved by the intervals")
    return (f"- *C&W-L2 with and without a margin* (no noise, θ = {thetas[0]:g}): detected in {said(zero)} at κ = 0, "
            f"in {said(margin)} with a margin of κ = {kappa:g} ({reading}). At κ = 0 the examples end on the decision "
            "boundary, where the overlay's change alone can undo them.")


def verdict_counts(counts: pd.Series, against: str) -> str:
    """'better in 1, worse in 0, not resolved in 7, baseline reversed in 1': a row of ``Facts.counts`` against the
    noise alone (``against`` 'alone') or the baseline ('baseline')."""
    if against == "alone":
        return (f"better in {counts['overlay_better_than_noise_alone']}, not better in "
                f"{counts['pairs'] - counts['overlay_better_than_noise_alone']}")
    return (f"better in {counts['overlay_better_than_baseline']}, worse in {counts['overlay_worse_than_baseline']}, "
            f"not resolved in {counts['overlay_vs_baseline_not_resolved']}, baseline reversed in "
            f"{counts['baseline_reversed']}")


def claims_counts(counts: pd.Series) -> str:
    """'1 holds, 0 fail, 5 are not resolved, 0 not measured' of the paper's claims (a row of ``Facts.counts``)."""
    hold, fail = int(counts["claims_hold"]), int(counts["claims_fail"])
    return (f"{hold} {verb(hold, 'holds', 'hold')}, {fail} {verb(fail, 'fails', 'fail')}, "
            f"{counts['claims_not_resolved']} not resolved, {counts['claims_not_measured']} not measured")


def _model_findings(facts: Facts, model: str) -> str:
    attacks = list(facts.config.attacks)
    rates = facts.rates[facts.rates["model"] == model]
    added = facts.added[facts.added["model"] == model]
    counts = facts.counts.set_index("model").loc[model]
    saliency = rates[rates["detector"] == "saliency"]
    lines = [line for line in [_tradeoff_line(saliency, attacks), margin_line(saliency, facts.config.parameters)]
             if line]
    if len(added):
        def auc(r: pd.Series, name: str) -> str:
            return auc_text(r[name], r[f"{name} low"], r[f"{name} high"])

        vs_base = [f"{attack_label(r['attack'])} with {noise_label(r['noise'])}: best AUC {auc(r, 'AUC best θ>0')} "
                   f"(θ = {r['best θ>0']:g}) vs {auc(r, 'AUC 1-max softmax')}"
                   for _, r in added.iterrows() if r["overlay vs baseline"] == BETTER]
        lines.append("- *Does the overlay add anything?* (verdicts from the AUCs' 95% intervals; its best θ is chosen "
                     "in hindsight, an optimistic bound) Over the noise alone (θ = 0): "
                     f"{verdict_counts(counts, 'alone')} of {counts['pairs']} (noise, attack) pairs. Against the "
                     f"1 − max softmax baseline: {verdict_counts(counts, 'baseline')}"
                     + (f" ({'; '.join(vs_base)})." if vs_base else ".")
                     + (" Reversed: the baseline's AUC interval lies below 0.5, so its score separates the inputs "
                        "with its sign flipped (e.g. PGD makes the model more confident); that is no win of the "
                        "overlay." if counts["baseline_reversed"] else ""))
    lines.append(f"- *The paper's claims (Tables I-III):* {claims_counts(counts)} on this model (verdicts from the "
                 "rates' 95% intervals).")
    selected = facts.selected[facts.selected["model"] == model]
    held = [f"{noise_label(row['noise'])}, θ = {row['theta']:g}: OSPA {row['OSPA']}, "
            + ", ".join(f"{attack_label(a)} {row[a]}" for a in attacks if a in row and isinstance(row[a], str | Cell))
            for _, row in (selected_theta_layout(selected, attacks)[model].reset_index().iterrows()
                           if len(selected) else [])]
    if held:
        lines.append("- *θ chosen on the calibration half, reported on the held-out half* (rate [95% CI] (n)): "
                     + "; ".join(held) + ".")
    return "\n".join(lines)


def caveats(facts: Facts) -> str:
    """What limits this run's comparison with the paper, read from the run: views of one photograph, the widest
    rate interval, a model other than the paper's (Markdown list items, per model)."""
    def write(model: str) -> str:
        rates = facts.rates[(facts.rates["model"] == model) & facts.rates["metric"].isin(["ospa", "detection_rate"])]
        lines = [f"- This run: {model_label(model)} on {folder_names(facts.images.get(model, 'its images'))}."]
        if "n_photographs" in rates and (rates["n_photographs"] < rates["n"]).any():
            lines.append("- Several inputs are views of one photograph: they are not independent images (the "
                         "intervals count each photograph once, so they are wider than n suggests).")
        if len(rates):
            widest = rates.loc[(rates["ci_high"] - rates["ci_low"]).idxmax()]
            lines.append(f"- The widest rate interval spans {100 * (widest['ci_high'] - widest['ci_low']):.0f} "
                         f"percentage points (n = {int(widest['n'])}).")
        if model not in PAPER_MODELS:
            lines.append(f"- The model differs from the paper's ({', '.join(PAPER_MODELS.values())}).")
        return "\n".join(lines)

    return each_model(list(facts.images), write)


def findings(facts: Facts) -> str:
    """The headline sentences (Markdown) per model: the trade-off, the overlay's added value, the paper's
    claims, the held-out θ.

    Returns:
        the Markdown list (with several models, each statement starts with its model's name)."""
    caveat = boundary_caveat(facts.config.parameters)
    text = each_model(list(facts.images), lambda model: _model_findings(facts, model))
    return f"{text}\n{caveat}" if caveat else text


# --- the README's lines -------------------------------------------------------------------------------------


def held_out_lines(selected: pd.DataFrame, attacks: Sequence[str]) -> list[str]:
    """README lines of notebook 05's held-out choice of θ: per noise, the θ chosen on the calibration half and
    its OSPA and detection rates on the held-out half (never chosen on what they report).

    Args:
        selected: one model's :func:`helpers.scores.select_theta` rows (``selected_theta_<model>.csv``).

    Returns:
        one Markdown list item per noise."""
    lines = []
    for (noise, theta), g in selected.groupby(["noise", "theta"], sort=False):
        rows = {r["attack"]: r for _, r in g.iterrows()}
        rates = [f"{attack_label(a)} {said(rows[a])}" for a in attacks if a in rows]
        lines.append(f"- Held-out θ, {noise_label(noise)}: θ = {theta:g} chosen on a calibration half of the "
                     f"photographs; on the other half OSPA {said(rows.get('clean'))}, detection " + ", ".join(rates)
                     + ".")
    return lines


def readme_lines(results_dir: str | Path, model: str, parameters: Mapping[str, Any]) -> list[str]:
    """The README's lines of notebook 05, formatted from what :func:`save_facts` and the notebook wrote for ``model``:
    the held-out θ, C&W-L2 with and without a margin, the paper's claims, the overlay against the confidence
    baseline (Markdown list items).

    Args:
        parameters: the run's checked parameters (``attacks``; for C&W-L2's κ, ``attack_settings``,
            ``attack_params``)."""
    results = Path(results_dir)
    counts = pd.read_csv(results / f"facts_theta_sweep_{model}.csv").iloc[0]
    lines = held_out_lines(pd.read_csv(results / f"selected_theta_{model}.csv"), parameters["attacks"])
    rates = pd.read_csv(results / f"{NAME}_{model}.csv").fillna({"note": ""})  # an empty note reads as NaN
    margin = margin_line(rates[rates["detector"] == "saliency"], parameters)
    lines += [margin] if margin else []
    lines.append(f"- Of the paper's {counts['claims']} claims about Tables I-III, on this model (verdicts from the "
                 f"95% intervals): {claims_counts(counts)} (notebook 05).")
    lines.append("- Even at its best θ, chosen in hindsight on these data (optimistic), the overlay against the "
                 f"trivial 1 − max softmax score's AUC: {verdict_counts(counts, 'baseline')} of {counts['pairs']} "
                 "(noise, attack) pairs.")
    return lines
