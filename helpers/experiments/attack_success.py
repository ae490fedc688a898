"""Notebook 04: the attacks on the undefended model, before any detector: success with its interval, the size
of the successful perturbations, success against the L-inf budget, one input under each attack.

:class:`Config` (the checked parameters, typed), :func:`run` -> :class:`Result`, :func:`facts` (the only
analysis) and the formatters :func:`tables`, :func:`figures`, :func:`captions` and :func:`findings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.attack_report import attack_summary, epsilon_sweep, full_success_budgets
from helpers.attack_settings import SETTINGS
from helpers.attacks import AttackResult
from helpers.cache import attack_sets
from helpers.data import ImageSet, image_protocol
from helpers.experiments.export import Table
from helpers.experiments.runs import setup
from helpers.figures import error_bars, panel_title
from helpers.labels import attack_label, model_label
from helpers.models import ModelBundle
from helpers.plotting import DOUBLE_COLUMN, SINGLE_COLUMN, Cell, ColourBar, figure, image_grid
from helpers.scores import PERCENT, WILSON, run_metadata
from helpers.tables import GREY_LEVELS, RATE_CELL, format_tidy

TABLE = "table_attacks"
EXAMPLE = 1  # the input of the examples figure (the second: the first photograph's second view on the defaults)
# summary column -> (metric, header, factor to grey levels of 255)
SIZES = {"l2_mean": ("l2_mean", "L2 mean", 255.0), "l2_median": ("l2_median", "L2 median", 255.0),
         "linf_mean": ("linf_mean", "L∞ mean", 255.0), "linf_median_255": ("linf_median", "L∞ median", 1.0)}
CAPTION = ("Attacks on the undefended model. Success: share of inputs whose label the attack changed, in percent "
           "[Wilson 95% confidence interval] (n = inputs). Perturbation sizes (L2 and L∞ norms of x_adv - x) of the "
           "successful examples only, in grey levels of 255 (a [0, 1]-unit norm times 255).")


@dataclass(frozen=True)
class Config:
    """The parameters notebook 04 reads (:meth:`from_params`).

    Attributes:
        sweep_attacks: the L-inf attacks of the success-vs-budget check.
        sweep_eps_255: its budgets, in grey levels of 255.
        attack_settings: 'default' (CPU) or 'paper'; the sweep keeps each attack's settings but ``eps``.
        parameters: every checked parameter (the model, images, attacks, cache, seed; saved with the table)."""

    attacks: tuple[str, ...]
    sweep_attacks: tuple[str, ...]
    sweep_eps_255: tuple[float, ...]
    attack_settings: str
    attack_params: Mapping[str, dict]
    only_correct: bool | None
    batch_size: int
    seed: int
    cache_dir: str
    parameters: Mapping[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Config:
        """Raises:
            KeyError: a parameter the experiment needs is missing."""
        p = params
        return cls(tuple(p["attacks"]), tuple(p["sweep_attacks"]), tuple(float(e) for e in p["sweep_eps_255"]),
                   p["attack_settings"], dict(p["attack_params"]), p["only_correct"], int(p["batch_size"]),
                   int(p["seed"]), str(p["cache_dir"]), dict(p))


@dataclass(frozen=True)
class Result:
    """The attack sets of one model and the budget sweep.

    Attributes:
        images: the images attacked (after the image protocol).
        protocol: the image protocol's sentences (accuracy, images dropped).
        results: attack -> its result on ``images``.
        sweep: :func:`helpers.attack_report.epsilon_sweep`'s rows."""

    bundle: ModelBundle
    images: ImageSet
    protocol: tuple[str, ...]
    results: dict[str, AttackResult]
    sweep: pd.DataFrame
    config: Config


@dataclass(frozen=True)
class Facts:
    """Every number notebook 04 shows.

    Attributes:
        summary: :func:`helpers.attack_report.attack_summary` (fractions; sizes in [0, 1] units).
        tidy: the table's numbers with units (:func:`attack_tidy`).
        budgets: :func:`helpers.attack_report.full_success_budgets` of the sweep.
        seconds: attack -> generation seconds per image on the machine that made the cached set."""

    config: Config
    model: str
    n: int
    summary: pd.DataFrame
    tidy: pd.DataFrame
    sweep: pd.DataFrame
    budgets: pd.DataFrame
    seconds: dict[str, float]


def run(config: Config) -> Result:
    """Load the model and images, apply the image protocol, run (or read from the cache) every attack and the
    budget sweep."""
    c = config
    bundle, images = setup(c.parameters)
    images, protocol = image_protocol(images, bundle, c.only_correct, c.batch_size)
    results = attack_sets(bundle, images, list(c.attacks), c.cache_dir, c.attack_settings, c.attack_params,
                          seed=c.seed, batch_size=c.batch_size)
    fixed = {name: {k: v for k, v in SETTINGS[c.attack_settings][name].items() if k != "eps"}
             for name in c.sweep_attacks}
    sweep = epsilon_sweep(bundle, images, fixed, [e / 255 for e in c.sweep_eps_255], c.cache_dir, seed=c.seed,
                          batch_size=c.batch_size)
    return Result(bundle, images, tuple(protocol), results, sweep, c)


def attack_tidy(summary: pd.DataFrame, model: str) -> pd.DataFrame:
    """The summary with units, one row per attack and metric: success in percent (Wilson 95%, n = inputs) and the
    sizes of the successful examples in grey levels of 255 (n = successful examples)."""
    rows = []
    for _, s in summary.iterrows():
        rows.append({"attack": s["attack"], "metric": "success_rate", "value": 100 * s["success_rate"],
                     "ci_low": 100 * s["success_rate_ci_low"], "ci_high": 100 * s["success_rate_ci_high"],
                     "n": s["n"], "n_photographs": s.get("n_photographs", s["n"]), "unit": PERCENT,
                     "interval": WILSON})
        rows += [{"attack": s["attack"], "metric": metric, "value": s[column] * factor, "ci_low": np.nan,
                  "ci_high": np.nan, "n": s["successes"], "unit": GREY_LEVELS, "interval": ""}
                 for column, (metric, _, factor) in SIZES.items()]
    return pd.DataFrame(rows).assign(model=model)


def facts(result: Result) -> Facts:
    """The analysis: success and sizes per attack, the budgets of full success."""
    summary = attack_summary(result.results, result.images.photographs)
    seconds = {name: r.seconds / len(r.success) for name, r in result.results.items()}
    return Facts(result.config, result.bundle.name, len(result.images.x), summary,
                 attack_tidy(summary, result.bundle.name), result.sweep, full_success_budgets(result.sweep), seconds)


# --- the formatters ---------------------------------------------------------------------------------------------


def attack_table(facts: Facts) -> pd.DataFrame:
    """One row per attack: success in percent [Wilson 95% CI] (n) and the sizes in grey levels of 255."""
    rows = []
    for attack, g in facts.tidy.groupby("attack", sort=False):
        values = g.set_index("metric")
        row = {"attack": attack_label(attack), f"success, {RATE_CELL}": format_tidy(values.loc["success_rate"])}
        row |= {f"{header} (/255)": round(float(values.loc[metric, "value"]), 2)
                for metric, header, _ in SIZES.values()}
        rows.append(row)
    return pd.DataFrame(rows)


def tables(facts: Facts) -> dict[str, Table]:
    """Name -> the attack table with its tidy twin and caption."""
    return {TABLE: Table(attack_table(facts), CAPTION, tidy=facts.tidy, index=False)}


def metadata(result: Result) -> dict[str, dict]:
    """Model -> the run's metadata, as saved with the table."""
    return {result.bundle.name: run_metadata(result.bundle, result.images, dict(result.config.parameters))}


def sweep_figure(facts: Facts) -> plt.Figure:
    """Success rate (Wilson 95% bars) against the L-inf budget in grey levels (single column)."""
    sweep = facts.sweep
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


def examples_figure(bundle: ModelBundle, x: np.ndarray, results: dict[str, AttackResult], index: int) -> plt.Figure:
    """Input ``index`` of ``x`` ((N, H, W, 3) RGB 0..255) under each attack (double column): the clean input, then
    per attack the adversarial input and its perturbation, every perturbation amplified by one shared factor
    (stated in the row label and on the colour bar) so their sizes compare."""
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
    rows = ["adversarial", f"x_adv − x\n×{scale:.0f}"]  # short enough for the rows of seven attacks
    bar = ColourBar("gray", f"perturbation per channel (grey levels of 255), shared scale ±{largest:.1f}",
                    list(range(1, len(cols))), (-largest, largest))
    note = "Titles: predicted class (softmax confidence); sizes of x_adv − x in grey levels of 255."
    return image_grid([top, bottom], cols, rows, DOUBLE_COLUMN, colorbars=[bar], note=note)


def captions(result: Result, facts: Facts) -> dict[str, str]:
    """Figure name -> its caption (Markdown)."""
    c = facts.config
    return {
        "figure_attack_success_vs_eps":
            f"**Figure.** Success rate of {', '.join(attack_label(a) for a in c.sweep_attacks)} on the undefended "
            f"{model_label(facts.model)} against the L∞ budget ε in grey levels of 255, n = {facts.n} inputs per point "
            "(legend); bars: Wilson 95% intervals. Points are dodged horizontally so equal rates stay visible.",
        "figure_attack_examples":
            f"**Figure.** Input {result.images.ids[EXAMPLE].split('/')[-1]} under each attack ({c.attack_settings} "
            "settings). Top: the clean input and each adversarial input, titled with the predicted class (softmax "
            "confidence; '(failed)' when the attack left the label unchanged). Bottom: the perturbation x_adv − x, "
            "amplified by one shared factor (row label) so the attacks compare; mid-grey is 0, the colour bar gives "
            "the scale in grey levels of 255; titles give its L2 and L∞ norms in grey levels.",
    }


def sweep_counts(facts: Facts) -> pd.DataFrame:
    """Successful examples by budget (rows, grey levels) and attack (columns)."""
    return facts.sweep.pivot(index="eps_255", columns="attack", values="successes")[list(facts.config.sweep_attacks)]


def findings(facts: Facts) -> str:
    """Markdown list items: each attack's success at its settings and the budget from which the L-inf attacks
    reach 100%."""
    lines = ["- *Success at the default settings:* " + "; ".join(
        f"{attack_label(r['attack'])} {int(r['successes'])}/{int(r['n'])} "
        f"(median L2 {255 * r['l2_median']:.1f} grey levels)"
        for _, r in facts.summary.iterrows()) + "."]
    for _, r in facts.budgets.iterrows():
        if not np.isnan(r["from_eps_255"]):
            reached = f"100% from {r['from_eps_255']:g}/255 on"
        elif r["full_at_255"]:
            reached = f"100% at {', '.join(f'{e:g}' for e in r['full_at_255'])}/255 but not at every larger budget"
        else:
            reached = "never 100% in the budgets tried"
        lines.append(f"- *{attack_label(r['attack'])} against the budget:* {reached}"
                     f"; success at the budgets tried: {', '.join(str(k) for k in r['successes'])} of {r['n']}.")
    return "\n".join(lines)
