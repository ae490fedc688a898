"""Notebook 07: the saliency detector against Feature Squeezing (the paper's Table V), at each detector's
own operating point, at a matched false-positive rate, by ROC-AUC and by cost.

The whole experiment in one place: :class:`Config` (the checked parameters it reads, typed), :func:`run` ->
:class:`Result`, :func:`facts` (the only analysis: every number a table, figure or sentence shows, with its
interval and n) and the formatters :func:`tables`, :func:`figures` and :func:`findings`, which only format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import fill
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.attack_report import boundary_caveat
from helpers.detectors import FeatureSqueezingDetector, SaliencyDetector, detector_costs
from helpers.experiments.export import Table
from helpers.experiments.prose import images_text, protocol_text
from helpers.experiments.runs import ModelRun, prepare, score_runs
from helpers.figures import AUC_BELOW_HALF
from helpers.findings import each_model, said
from helpers.labels import DetectorKey, attack_label, auc_text, method_label
from helpers.metrics import MIN_EXPECTED_FALSE_POSITIVES
from helpers.paper import paper_tables_4_5
from helpers.plotting import DOUBLE_COLUMN, figure, panel_rows
from helpers.runtime import write_atomically
from helpers.scores import (
    METHOD,
    baseline_scores,
    rate_table,
    roc_curves,
    rule_rows,
    saliency_scores,
    squeezing_scores,
)
from helpers.tables import (
    AUC_INTERVAL,
    for_reading,
    method_header,
    method_layout,
    method_tidy,
    model_columns,
    rate_caption,
)
from helpers.verdicts import dominates, interval_verdict

NAME = "comparison"  # the score tables' file names: scores_comparison_<model>.parquet
NOISES = ("color_reverse", "zero_mean")  # the saliency detector's noises in Table V
TABLES = {"own": "table5_comparison_own_operating_point", "matched": "table5_comparison_matched_fpr",
          "auc": "table5_comparison_auc"}
CAPTIONS = {"own": rate_caption("Each detector at its own operating point (label-change rule)."),
            "auc": f"ROC-AUC (0-1) of each detector's continuous score [{AUC_INTERVAL}] on clean inputs and "
                   "successful adversarial examples."}
# The paper's Table V rows (data/paper/tables_4_5.csv, VGG16) as our configurations.
PAPER_V = {"saliency_color_reverse": DetectorKey("saliency", "color_reverse", 0.1),
           "saliency_zero_mean": DetectorKey("saliency", "zero_mean", 0.1),
           "feature_squeezing": DetectorKey("feature_squeezing", squeezers=("bit_depth:5", "median:2x2", "nlm:11-3-4"))}
INFERENCE = "inference"  # the cost table's row of the undefended model's forward pass


@dataclass(frozen=True)
class Config:
    """The parameters notebook 07 reads, typed and checked once (:meth:`from_params`).

    Attributes:
        attacks: the attacks, in order; the first is the one the Table V verdict reads.
        theta: the saliency detector's θ (the paper's Table V: 0.1).
        joint: the joint Feature Squeezing detector's squeezer specs (max L1 over them).
        channel_order: what OpenCV's non-local means is given ('rgb' or 'bgr').
        fpr: the matched false-positive rate (fraction).
        seed: the seed of the calibration split and of the bootstrap.
        batch_size: images per forward pass.
        cost_images: images the cost is measured on (0: no cost measured, e.g. a saved table or a study).
        parameters: every checked parameter, as saved with the score tables (not compared)."""

    attacks: tuple[str, ...]
    theta: float
    joint: tuple[str, ...]
    colormap: str
    overlay_order: str
    zero_mean_reference: str
    channel_order: str
    fpr: float
    seed: int
    batch_size: int
    cost_images: int
    parameters: Mapping[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Config:
        """The configuration of checked notebook parameters, of a saved score table's metadata or of a study's
        (:func:`helpers.report.study_config`).

        Args:
            params: the parameters; tables saved before notebook 07 named the joint detector ``joint`` carry
                it as ``squeezers``.

        Raises:
            KeyError: a parameter the experiment needs is missing."""
        p = params
        joint = p["joint"] if "joint" in p else p["squeezers"]
        return cls(tuple(p["attacks"]), float(p["theta"]), tuple(joint), p["colormap"], p["overlay_order"],
                   p["zero_mean_reference"], p["channel_order"], float(p["fpr"]), int(p["seed"]),
                   int(p["batch_size"]), int(p.get("cost_images", 0)), dict(p))

    @property
    def saliency_key(self) -> DetectorKey:
        """The saliency detector whose cost is measured: colour reversing at ``theta``."""
        return DetectorKey("saliency", "color_reverse", self.theta)

    @property
    def squeezing_key(self) -> DetectorKey:
        """The joint Feature Squeezing detector."""
        return DetectorKey("feature_squeezing", squeezers=self.joint)


@dataclass(frozen=True)
class Result:
    """One comparison run.

    Attributes:
        scores: the stacked score table of every model (``helpers.scores.COLUMNS``).
        rates: its :func:`helpers.scores.rate_table`.
        metadata: model -> its run's metadata.
        costs: model -> its measured costs (:func:`costs`); empty from a saved table."""

    scores: pd.DataFrame
    rates: pd.DataFrame
    metadata: dict[str, dict]
    config: Config
    costs: dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Facts:
    """Every number notebook 07 shows. Rate rows are :func:`helpers.scores.rate_table` rows (fractions, with
    ``ci_low``, ``ci_high``, ``n``); configurations are identified by their ``METHOD`` columns.

    Attributes:
        images: model -> its images, in words.
        rows: mode ('own', 'matched', 'auc') -> the rate rows Table V shows in it
            (:func:`helpers.scores.rule_rows`); the matched rows of each (model, attack) with the highest
            held-out TPR have ``best`` True.
        curves: ROC points: ``model``, ``METHOD``, ``attack``, ``fpr``, ``tpr`` (fractions), ``n_clean``, ``n_adv``.
        costs: ``model``, ``METHOD`` (``detector`` 'inference' for the undefended model), ``ms_per_image``,
            ``ratio_to_inference``.
        summary: one row per model: ``attack`` (the verdict's), ``n_wins``, ``wins`` (the winning
            configurations' labels joined by '; '), ``cost_ratio`` (Feature Squeezing's time per image over
            the saliency detector's; NaN when not measured).
        wins: model -> the saliency configurations that beat every Feature Squeezing configuration on OSPA and
            on the first attack's detection rate at their own rules (the paper's Table V advantage)."""

    config: Config
    images: dict[str, str]
    rows: dict[str, pd.DataFrame]
    curves: pd.DataFrame
    costs: pd.DataFrame
    summary: pd.DataFrame
    wins: dict[str, tuple[DetectorKey, ...]]


def run(config: Config, runs: Mapping[str, ModelRun] | None = None) -> Result:
    """Score every model's images and attack sets with the saliency detector (colour reversing and zero mean at
    ``theta``), joint Feature Squeezing and the baseline, save the score tables (``results_dir``:
    ``scores_comparison_<model>.parquet``) and measure each detector's cost on ``cost_images`` images.

    Args:
        runs: the prepared models (default: :func:`helpers.experiments.runs.prepare` of its parameters)."""
    c, bs = config, config.batch_size
    runs = prepare(c.parameters) if runs is None else runs
    scores, metadata = score_runs(runs, lambda r: pd.concat([
        saliency_scores(r.bundle, r.images, r.attacks, [c.theta], NOISES, c.colormap, c.overlay_order,
                        c.zero_mean_reference, batch_size=bs),
        squeezing_scores(r.bundle, r.images, r.attacks, joint=[list(c.joint)], channel_order=c.channel_order,
                         batch_size=bs),
        baseline_scores(r.bundle, r.images, r.attacks, bs)], ignore_index=True), c.parameters, NAME)
    return from_scores(scores, metadata, c, {model: costs(r, c) for model, r in runs.items()})


def costs(run: ModelRun, config: Config) -> pd.DataFrame:
    """Milliseconds per image of inference, the saliency detector and Feature Squeezing on one model's first
    ``cost_images`` images (wall-clock, this machine).

    Returns:
        :func:`helpers.detectors.detector_costs`' frame; ``detector`` holds 'inference' and each
        detector's :class:`~helpers.labels.DetectorKey`."""
    c = config
    detectors = {c.saliency_key: SaliencyDetector(run.bundle, c.theta, "color_reverse", c.colormap, c.overlay_order),
                 c.squeezing_key: FeatureSqueezingDetector(run.bundle, list(c.joint), "label_change",
                                                           c.channel_order)}
    return detector_costs(run.bundle, run.images.x[:c.cost_images], detectors, batch_size=c.batch_size)


def from_scores(scores: pd.DataFrame, metadata: dict[str, dict], config: Config | Mapping[str, Any],
                costs: Mapping[str, pd.DataFrame] | None = None) -> Result:
    """The :class:`Result` of a score table (e.g. a saved one).

    Args:
        scores: the score table of one or several models (``helpers.scores.COLUMNS``).
        metadata: model -> its run's metadata (``helpers.scores.run_metadata``).
        config: the run's :class:`Config`, or its parameters (:meth:`Config.from_params`).
        costs: model -> its measured costs (:func:`costs`); none from a saved table."""
    config = config if isinstance(config, Config) else Config.from_params(config)
    return Result(scores, rate_table(scores, fpr=config.fpr, seed=config.seed), dict(metadata), config,
                  dict(costs or {}))


def protocol(runs: Mapping[str, ModelRun], config: Config) -> str:
    """The lines printed first: per model the image protocol, the overlay settings, each attack's success.

    Args:
        runs: model name -> its prepared run."""
    c = config
    return protocol_text(runs, lambda r: f"{r.images.description}; θ = {c.theta:g}, {c.colormap} overlay, "
                                         f"{c.overlay_order} order")


# --- the analysis -------------------------------------------------------------------------------------------


def _key(row: pd.Series) -> DetectorKey:
    return DetectorKey.from_columns(*row[METHOD])


def _key_columns(key: DetectorKey) -> dict[str, Any]:
    """The ``METHOD`` columns of a key's rows ('' and NaN where a column does not apply)."""
    theta = np.nan if key.theta is None else key.theta
    return {"detector": key.detector, "noise": key.noise or "", "theta": theta, "squeezer": key.squeezer}


def table_v_wins(rates: pd.DataFrame, attack: str) -> tuple[DetectorKey, ...]:
    """The saliency configurations of one model's rates that keep more clean labels (OSPA) *and* detect more
    of ``attack`` than every Feature Squeezing configuration, at their own rules, both by their 95% intervals
    (:func:`helpers.verdicts.dominates`): the paper's Table V advantage, where the data resolve it.

    Args:
        rates: one model's :func:`helpers.scores.rate_table` (or its own-rule rows).
        attack: the attack the detection rate is read on.

    Returns:
        the winning configurations (none when none wins, or without both kinds of detector)."""
    own = rule_rows(rates, [attack], "own")
    points = {}
    for key, g in own.groupby(METHOD, sort=False, dropna=False):
        ospa, det = g[g["metric"] == "ospa"], g[g["metric"] == "detection_rate"]
        if len(ospa) and len(det):
            points[DetectorKey.from_columns(*key)] = tuple(r[["ci_low", "ci_high"]].iloc[0] for r in (ospa, det))
    squeezing = [v for k, v in points.items() if k.detector == "feature_squeezing"]
    return tuple(k for k, v in points.items() if k.detector == "saliency" and dominates(v, squeezing))


def _cost_rows(result: Result) -> pd.DataFrame:
    columns = ["model", *METHOD, "ms_per_image", "ratio_to_inference"]
    rows = [{"model": model, **({"detector": INFERENCE, "noise": "", "theta": np.nan, "squeezer": ""}
                                if r["detector"] == INFERENCE else _key_columns(r["detector"])),
             "ms_per_image": r["ms_per_image"], "ratio_to_inference": r["ratio_to_inference"]}
            for model, c in result.costs.items() for _, r in c.iterrows()]
    return pd.DataFrame(rows, columns=columns)


def _cost_ratio(costs: pd.DataFrame | None, config: Config) -> float:
    """Feature Squeezing's time per image over the saliency detector's in one model's :func:`costs` (NaN: none)."""
    if costs is None:
        return np.nan
    ms = dict(zip(costs["detector"], costs["ms_per_image"], strict=True))  # DetectorKey (or 'inference') -> ms
    return float(ms[config.squeezing_key] / ms[config.saliency_key])


def _with_best(matched: pd.DataFrame) -> pd.DataFrame:
    """The matched rows with ``best``: the held-out TPR rows with the highest value of their (model, attack)."""
    tpr = matched["metric"] == "tpr_at_fpr"
    top = matched[tpr].groupby(["model", "attack"], sort=False)["value"].transform("max")
    return matched.assign(best=tpr & matched["value"].eq(top.reindex(matched.index)))


def facts(result: Result) -> Facts:
    """The analysis of a comparison: the rows of Table V's three views, the ROC curves, the costs and, per
    model, the Table V verdict on the first attack."""
    c, attack = result.config, result.config.attacks[0]
    rows = {mode: rule_rows(result.rates, c.attacks, mode) for mode in TABLES}
    rows["matched"] = _with_best(rows["matched"])
    costs = _cost_rows(result)
    wins, summary = {}, []
    for model, rates in result.rates.groupby("model", sort=False):
        wins[model] = table_v_wins(rates, attack)
        summary.append({"model": model, "attack": attack, "n_wins": len(wins[model]),
                        "wins": "; ".join(k.label for k in wins[model]),
                        "cost_ratio": _cost_ratio(result.costs.get(model), c)})
    images = {model: meta.get("images", "") for model, meta in result.metadata.items()}
    return Facts(c, images, rows, roc_curves(result.scores), costs,
                 pd.DataFrame(summary, columns=["model", "attack", "n_wins", "wins", "cost_ratio"]), wins)


def save_facts(facts: Facts, folder: str | Path) -> list[Path]:
    """Write each model's rows of Table V's three views as ``facts_comparison_<model>.csv`` (fractions;
    ``view`` names the view, ``best`` marks the matched view's highest held-out TPR per attack, ``target_fpr``
    is the matched false-positive rate), and the measured costs (``view`` 'cost': ``ms_per_image``,
    ``ratio_to_inference``, ``cost_ratio_to_saliency``): what the README's findings are written from."""
    costs = facts.costs.melt(id_vars=["model", *METHOD], var_name="metric", value_name="value")
    ratio = facts.summary[["model", "cost_ratio"]].rename(columns={"cost_ratio": "value"}).assign(
        metric="cost_ratio_to_saliency", **_key_columns(facts.config.squeezing_key))
    rows = pd.concat([*(r.assign(view=mode) for mode, r in facts.rows.items()), costs.assign(view="cost"),
                      ratio.assign(view="cost")], ignore_index=True)
    rows = rows.assign(best=rows["best"].fillna(False).astype(bool), target_fpr=facts.config.fpr)
    return [write_atomically(Path(folder) / f"facts_{NAME}_{model}.csv",
                             lambda tmp, g=g: g.to_csv(tmp, index=False, float_format="%.6g"), suffix=".csv")
            for model, g in rows.groupby("model", sort=False)]


# --- the formatters -----------------------------------------------------------------------------------------


def tables(facts: Facts) -> dict[str, Table]:
    """Table V three ways: each detector at its own rule, at a matched FPR, and by ROC-AUC (a column group
    per model).

    Returns:
        name -> :class:`~helpers.experiments.export.Table`."""
    captions = {**CAPTIONS, "matched": rate_caption(
        f"Each detector at a matched false-positive rate: threshold fitted at {facts.config.fpr:.0%} FPR on a "
        "seeded calibration half of the photographs' clean images, held-out FPR and TPR on the other half.")}
    out = {}
    for mode, name in TABLES.items():
        if mode == "matched" and not matched_resolvable(facts):
            continue  # every TPR 'not resolvable': no table (matched_text says what the rate would need)
        tidy, layout = view_layout(facts, mode)
        out[name] = Table(layout, captions[mode], tidy, method_header(layout.columns, mode))
    return out


def view_layout(facts: Facts, mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One view of Table V ('own', 'matched' or 'auc'): its tidy rows and its layout (a column group per model)."""
    tidy = method_tidy(facts.rows[mode].drop(columns="best", errors="ignore"))
    return tidy, method_layout(tidy, list(facts.config.attacks), mode)


def matched_resolvable(facts: Facts) -> bool:
    """Whether any detector's held-out TPR at the matched FPR has a number (else every one is 'not resolvable')."""
    rows = facts.rows["matched"]
    return bool(rows.loc[rows["metric"] == "tpr_at_fpr", "value"].notna().any())


def matched_text(facts: Facts) -> str:
    """The matched view as printed: its table, or why there is none and how many calibration photographs the
    target false-positive rate would need (:data:`helpers.metrics.MIN_EXPECTED_FALSE_POSITIVES` expected false
    positives among them)."""
    fpr = facts.config.fpr
    if matched_resolvable(facts):
        return f"target FPR {fpr:.0%}\n{for_reading(view_layout(facts, 'matched')[1]).to_string()}"
    notes = sorted(set(facts.rows["matched"]["note"].dropna()) - {""})
    needed = math.ceil(MIN_EXPECTED_FALSE_POSITIVES / fpr)
    return (f"No matched-FPR table: every held-out TPR is {' / '.join(notes) or 'not measured'} calibration "
            f"photographs. A {fpr:.0%} false-positive rate needs at least {needed} calibration photographs "
            f"({MIN_EXPECTED_FALSE_POSITIVES} expected false positives among them); calibration uses half of the "
            "photographs.")


def table_v(facts: Facts) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table V as published (VGG16, percent) and ours: each configuration with its own decision rule, OSPA
    and each attack's detection rate in percent (rows: display names; a column group per model).

    Returns:
        (the paper's Table V, ours)."""
    paper = paper_tables_4_5().query("table == 'V'").pivot_table(index="method", columns="metric", values="value",
                                                                  sort=False)[["ospa", "fgsm", "cw_l2"]]
    paper = paper.rename(index={m: k.label for m, k in PAPER_V.items()}, columns=_column_label)
    own = method_tidy(facts.rows["own"])
    own = own.assign(column=own["attack"].where(own["attack"] != "clean", "ospa"))

    def ours(of_model: pd.DataFrame) -> pd.DataFrame:
        table = of_model.pivot_table(index="method", columns="column", values="value", sort=False)
        table = table[["ospa", *[a for a in facts.config.attacks if a in table.columns]]]
        return table.rename(columns=_column_label)

    return paper.rename_axis(index=None, columns=None), model_columns(own, ours)


def _column_label(column: str) -> str:
    return "OSPA" if column == "ospa" else attack_label(column)


def _legend_name(key: DetectorKey) -> str:
    """A configuration's name in a legend, wrapped to a panel's width (never inside 'θ=0.1')."""
    return fill(key.label.replace(" = ", "="), 34)


def _roc_panel(ax: plt.Axes, curves: pd.DataFrame, auc: pd.DataFrame, attack: str) -> bool:
    """One attack's ROC curves of one model on ``ax``, AUC [95% CI] from ``auc``; whether an AUC is below 0.5."""
    below_half, n_clean, n_adv = False, 0, 0
    for _, c in curves[curves["attack"] == attack].iterrows():
        key = _key(c)
        a = auc[np.array([_key(r) == key for _, r in auc.iterrows()], bool) & (auc["attack"] == attack).to_numpy()]
        a = a.iloc[0]
        n_clean, n_adv = c["n_clean"], c["n_adv"]
        below_half |= a["value"] < 0.5
        style = {"color": "k", "ls": "--", "lw": 1} if key.detector == "baseline" else {"lw": 1.2}
        ax.plot(100 * c["fpr"], 100 * c["tpr"], label=f"{_legend_name(key)}\nAUC "
                f"{auc_text(a['value'], a['ci_low'], a['ci_high'])}", **style)
    ax.plot([0, 100], [0, 100], color="0.8", lw=0.8, zorder=0)
    ax.set_title(f"{attack_label(attack)}\nn = {n_clean} clean, {n_adv} adversarial")
    ax.set(xlabel="false-positive rate (%)", xlim=(-5, 105), ylim=(-5, 105))
    ax.set_aspect("equal")
    return below_half


def roc_figure(facts: Facts, model: str) -> plt.Figure:
    """One model's ROC curves of every configuration on the same inputs (double column), one panel per attack,
    AUC [bootstrap 95% CI] (the rate table's) in the legend under each panel, n in the titles; the baseline
    dashed black."""
    attacks = list(facts.config.attacks)
    curves, auc = (f[f["model"] == model] for f in (facts.curves, facts.rows["auc"]))
    rows = panel_rows(attacks)
    # each row of panels has a row of legends under it, sized by their lines of 7 pt text (0.14 in each)
    lines = sum(_legend_name(_key(c)).count("\n") + 2 for _, c in curves.drop_duplicates(METHOD).iterrows())
    fig, axes = figure(DOUBLE_COLUMN, 0.3 + (2.9 + 0.14 * lines) * len(rows), nrows=2 * len(rows),
                       ncols=len(rows[0]), gridspec_kw={"height_ratios": [2.9, 0.14 * lines] * len(rows)})
    panels, legends = axes[0::2].flat, axes[1::2].flat
    below_half = False
    for k, (ax, under) in enumerate(zip(panels, legends, strict=True)):
        under.axis("off")
        if k >= len(attacks):
            ax.remove()
            continue
        below_half |= _roc_panel(ax, curves, auc, attacks[k])
        under.legend(*ax.get_legend_handles_labels(), frameon=False, loc="upper center", labelspacing=0.6)
        if k % len(rows[0]):
            ax.tick_params(labelleft=False)
        else:
            ax.set_ylabel("true-positive rate (%)")
    if below_half:
        fig.suptitle(AUC_BELOW_HALF, fontsize=7)  # at the top: the legends fill the bottom
    return fig


def figures(result: Result, facts: Facts) -> dict[str, dict[str, plt.Figure]]:
    """The ROC curves of every detector, a figure per model.

    Args:
        result: the comparison (its models, in order).
        facts: its facts (curves and AUCs).

    Returns:
        name -> model -> figure."""
    return {"figure_roc_comparison": {model: roc_figure(facts, model) for model in result.metadata}}


def captions(facts: Facts) -> dict[str, str]:
    """Each figure's caption (Markdown), with the run's images and settings.

    Returns:
        figure name -> caption."""
    images = images_text({model: {"images": text} for model, text in facts.images.items()})
    return {"figure_roc_comparison":
            f"**Figure.** ROC curves of each detector's continuous score on the same inputs "
            f"({images}), one panel per attack "
            f"({', '.join(attack_label(a) for a in facts.config.attacks)}): the saliency score (L1 distance of "
            f"the softmax outputs of x and E, θ = {facts.config.theta:g}) with colour reversing and with zero mean, "
            "Feature Squeezing's max L1 score, and the 1 − max softmax baseline (dashed). Legends: AUC [bootstrap "
            "95% interval]; titles: n clean inputs and n successful adversarial examples. An AUC below 0.5 means "
            "the score ranks adversarial inputs *below* clean ones (e.g. PGD makes the model more confident, so "
            "1 − max softmax falls)."}


def costs_text(facts: Facts) -> str:
    """Per model: the cost table (ms per image, rounded) and the ratio, as printed."""
    blocks = []
    for model, c in facts.costs.groupby("model", sort=False):
        names = [INFERENCE if r["detector"] == INFERENCE else _key(r).label for _, r in c.iterrows()]
        shown = c[["ms_per_image", "ratio_to_inference"]].set_axis(pd.Index(names, name="detector"))
        ratio = facts.summary.set_index("model").loc[model, "cost_ratio"]
        blocks.append(f"{model}:\n{shown.round(2).to_string()}\nfeature squeezing / saliency detector = {ratio:.1f}")
    return "\n".join(blocks)


def table_v_text(facts: Facts) -> str:
    """The paper's Table V (VGG16, percent) and ours (label change, percent, a column group per model)."""
    paper, ours = table_v(facts)
    return (f"{for_reading(paper).to_string()}\n\nours (label change, percent):\n"
            f"{for_reading(ours.round(1)).to_string()}")


def _matched_line(matched: pd.DataFrame, attack: str) -> str | None:
    tpr = matched[(matched["metric"] == "tpr_at_fpr") & (matched["attack"] == attack)]
    if not len(tpr):
        return None
    if tpr["value"].isna().all():
        return f"- *{attack_label(attack)} at the matched FPR:* {tpr['note'].iloc[0] or 'not measured'}."
    best = tpr[tpr["best"]]
    return (f"- *{attack_label(attack)} at the matched FPR:* detected most by "
            f"{' and '.join(_key(r).label for _, r in best.iterrows())} ({said(best.iloc[0])}); "
            + ", ".join(f"{_key(r).label} {100 * r['value']:.1f}%" for _, r in tpr.iterrows()) + ".")


def _auc_line(auc: pd.DataFrame, attack: str) -> str | None:
    """Each saliency configuration's ROC-AUC against Feature Squeezing's on ``attack``, judged by their bootstrap
    intervals: 'better', 'worse' or 'not resolved' (None without both detectors)."""
    rows = {_key(r): r for _, r in auc[auc["attack"] == attack].iterrows()}
    squeezing = [r for k, r in rows.items() if k.detector == "feature_squeezing"]
    if not squeezing:
        return None
    fs = squeezing[0]
    parts = [f"{k.label} {auc_text(r['value'], r['ci_low'], r['ci_high'])}: "
             f"{interval_verdict(r['ci_low'], r['ci_high'], fs['ci_low'], fs['ci_high'])}"
             for k, r in rows.items() if k.detector == "saliency"]
    return (f"- *ROC-AUC on {attack_label(attack)}* (bootstrap 95% intervals, against Feature Squeezing's "
            f"{auc_text(fs['value'], fs['ci_low'], fs['ci_high'])}): " + "; ".join(parts) + ".") if parts else None


def _model_findings(facts: Facts, model: str) -> str:
    c, attack = facts.config, facts.config.attacks[0]
    own = facts.rows["own"][facts.rows["own"]["model"] == model]
    points = [(_key(g.iloc[0]), g) for _, g in own.groupby(METHOD, sort=False, dropna=False)]
    lines = ["- *Own operating points (label change):* " + "; ".join(
        f"{key.label}: OSPA {said(g[g['metric'] == 'ospa'].iloc[0])}, {attack_label(attack)} "
        f"{said(g[(g['metric'] == 'detection_rate') & (g['attack'] == attack)].iloc[0])}"
        for key, g in points) + "."]
    matched = facts.rows["matched"][facts.rows["matched"]["model"] == model]
    lines += [line for a in c.attacks if (line := _matched_line(matched, a)) is not None]
    if {"saliency", "feature_squeezing"} <= {key.detector for key, _ in points}:
        wins = facts.wins[model]
        verdict = (f"seen here for {', '.join(k.label for k in wins)}" if wins else "not seen here: no saliency "
                   f"setting keeps more clean labels and detects more {attack_label(attack)} than Feature "
                   "Squeezing at once with the 95% intervals apart")
        lines.append(f"- *The paper's Table V advantage* (more OSPA and more {attack_label(attack)} detection than "
                     f"Feature Squeezing): {verdict}.")
    auc = facts.rows["auc"][facts.rows["auc"]["model"] == model]
    lines += [line for a in c.attacks if (line := _auc_line(auc, a)) is not None]
    auc = facts.rows["auc"][facts.rows["auc"]["model"] == model]
    lines += [line for a in c.attacks if (line := _auc_line(auc, a)) is not None]
    ratio = facts.summary.set_index("model").loc[model, "cost_ratio"]
    if not np.isnan(ratio):
        lines.append(f"- *Cost:* Feature Squeezing takes {ratio:.1f}× the saliency detector's time per image "
                     "(measured in this run).")
    return "\n".join(lines)


def findings(facts: Facts) -> str:
    """The headline sentences (Markdown) per model: own operating points, matched FPR, the Table V advantage,
    the cost.

    Returns:
        the Markdown list (with several models, each statement starts with its model's name)."""
    caveat = boundary_caveat(facts.config.parameters)
    text = each_model(list(facts.summary["model"]), lambda model: _model_findings(facts, model))
    return f"{text}\n{caveat}" if caveat else text


# --- the README's lines -------------------------------------------------------------------------------------


def matched_fpr_lines(facts: pd.DataFrame) -> list[str]:
    """README lines of notebook 07's matched view: per attack, each detector's held-out TPR and FPR at the
    threshold fitted for the target FPR, or why it is not resolvable.

    Args:
        facts: one model's ``facts_comparison_<model>.csv`` (:func:`helpers.experiments.comparison.save_facts`).

    Returns:
        one Markdown list item per attack; one for all the attacks where no detector resolves."""
    facts = facts.fillna({"note": "", "noise": "", "squeezer": ""})
    matched = facts[facts["view"] == "matched"]
    fpr = 100 * matched["target_fpr"].iloc[0] if len(matched) else np.nan
    lines, unresolved = [], {}
    for a in dict.fromkeys(matched.loc[matched["metric"] == "tpr_at_fpr", "attack"]):
        tpr = matched[(matched["metric"] == "tpr_at_fpr") & (matched["attack"] == a)]
        held = matched[(matched["metric"] == "fpr_heldout") & (matched["attack"] == a)]
        notes = set(tpr["note"])
        if len(notes) == 1 and "" not in notes:
            unresolved.setdefault(notes.pop(), []).append(attack_label(a))
            continue
        cells = ", ".join(f"{method_label(*r[METHOD])} "
                          + (r["note"] if r["note"] else f"{100 * r['value']:.1f}% (held-out FPR {100 * f:.1f}%)")
                          for (_, r), f in zip(tpr.iterrows(), held["value"], strict=True))
        lines.append(f"- {attack_label(a)} at a matched {fpr:g}% false-positive rate (held-out half): {cells}.")
    for note, attacks in unresolved.items():
        lines.append(f"- {', '.join(attacks)} at a matched {fpr:g}% false-positive rate (held-out half): {note} "
                     f"calibration photographs for every detector ({fpr:g}% of them is under "
                     f"{MIN_EXPECTED_FALSE_POSITIVES} expected false positives).")
    return lines


def readme_lines(results_dir: str | Path, model: str) -> list[str]:
    """The README's lines of notebook 07 (the matched view), formatted from what :func:`save_facts` wrote."""
    return matched_fpr_lines(pd.read_csv(Path(results_dir) / f"facts_comparison_{model}.csv"))
