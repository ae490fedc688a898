"""Notebook 05's comparison with the paper: its Tables I-III (VGG16, ResNet50) beside our rates, and each of
its claims judged on the paper's numbers and on ours (by the 95% intervals). Part of the θ sweep
(:mod:`helpers.experiments.theta_sweep`), kept apart so that each module stays short.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from helpers.labels import Cell, rate_cell
from helpers.paper import PAPER_MODELS, paper_tables_1_3
from helpers.tables import RATE_CELL
from helpers.verdicts import claim_verdict

# Our (attack, metric) for each column of the paper's tables.
_PAPER_METRIC = {"ospa": ("clean", "ospa"), "fgsm": ("fgsm", "detection_rate"), "cw_l2": ("cw_l2", "detection_rate")}


def _ours(rates: pd.DataFrame, noise: str, theta: float, metric: str) -> pd.Series | None:
    attack, name = _PAPER_METRIC[metric]
    hit = rates[(rates["detector"] == "saliency") & (rates["noise"] == noise) & np.isclose(rates["theta"], theta)
                & (rates["attack"] == attack) & (rates["metric"] == name)]
    return hit.iloc[0] if len(hit) else None


SIDE_BY_SIDE_COLUMNS = {"ospa": "OSPA", "fgsm": "FGSM", "cw_l2": "C&W-L2"}


def side_by_side_tidy(rates: pd.DataFrame) -> pd.DataFrame:
    """The numbers of :func:`side_by_side`: noise, theta, metric (ospa, fgsm, cw_l2), source ('paper
    VGG16', 'paper ResNet50', 'ours'), model ('vgg16', 'resnet50', ours: the ``model`` column of
    ``rates``), value, ci_low, ci_high, n, unit (percent), interval (ours: Wilson 95%; the paper gives
    no interval or n). Only cells we measured (on any of our models).

    Args:
        rates: a :func:`helpers.scores.rate_table` of one or several models."""
    paper = paper_tables_1_3()
    our_rates = dict(tuple(rates.groupby("model", sort=False)))
    rows = []
    for (noise, theta, metric), group in paper.groupby(["noise", "theta", "metric"], sort=False):
        ours = {model: _ours(part, noise, theta, metric) for model, part in our_rates.items()}
        if all(r is None for r in ours.values()):
            continue
        key = {"noise": noise, "theta": theta, "metric": metric}
        for model, label in PAPER_MODELS.items():
            value = group.loc[group["model"] == model, "value"]
            rows.append({**key, "source": f"paper {label}", "model": model,
                         "value": float(value.iloc[0]) if len(value) else np.nan, "ci_low": np.nan,
                         "ci_high": np.nan, "n": np.nan, "unit": "%", "interval": ""})
        rows += [{**key, "source": "ours", "model": model, "value": 100 * r["value"], "ci_low": 100 * r["ci_low"],
                  "ci_high": 100 * r["ci_high"], "n": r["n"], "unit": "%", "interval": "Wilson 95%"}
                 for model, r in ours.items() if r is not None]
    return pd.DataFrame(rows, columns=["noise", "theta", "metric", "source", "model", "value", "ci_low", "ci_high",
                                       "n", "unit", "interval"])


def side_by_side(rates: pd.DataFrame) -> pd.DataFrame:
    """Rows (noise, theta) measured; one column group per model as in the paper's Tables I-III: the
    paper's VGG16 and ResNet50 ('VGG16 (paper), %': value in percent), then each of ours ('ours, %
    [95% CI] (n)', or the model's name, for rates with a ``model`` column), each with the paper's
    columns OSPA, FGSM, C&W-L2 (formatted from :func:`side_by_side_tidy`).

    Args:
        rates: a :func:`helpers.scores.rate_table` of one or several models.

    Returns:
        the table, index (noise, theta), columns (group, column)."""
    tidy = side_by_side_tidy(rates)
    paper = tidy["source"] != "ours"
    group = np.where(paper, tidy["source"].str.removeprefix("paper ") + " (paper), %",
                     tidy["model"] + f", {RATE_CELL}")
    cells = [Cell(f"{r['value']:.1f}", f"{r['value']:.1f}") if is_paper  # the paper gives no interval or n
             else rate_cell(r["value"], r["ci_low"], r["ci_high"], r["n"], percent=True)
             for is_paper, (_, r) in zip(paper, tidy.iterrows(), strict=True)]
    tidy = tidy.assign(group=group, column=tidy["metric"].map(SIDE_BY_SIDE_COLUMNS), cell=cells)
    table = tidy.pivot(index=["noise", "theta"], columns=["group", "column"], values="cell")
    columns = [(g, c) for g in dict.fromkeys(tidy["group"]) for c in SIDE_BY_SIDE_COLUMNS.values()
               if (g, c) in table.columns]
    rows = list(dict.fromkeys(zip(tidy["noise"], tidy["theta"], strict=True)))
    return table.loc[rows, columns].rename_axis(columns=[None, None])


SIDE_BY_SIDE_CAPTION = ("The paper's Tables I-III (VGG16 and ResNet50, percent, no intervals or sample sizes "
                        "published) next to ours, one column group per model: rate in percent [Wilson 95% "
                        "confidence interval] (n = clean inputs for OSPA, successful adversarial examples for an "
                        "attack).")


def _claims() -> list[tuple[str, Callable[[Callable], tuple[float, float]]]]:
    """(claim, function of a lookup get(noise, theta, metric) -> (left, right)); the claim holds when left > right."""
    return [
        ("OSPA falls from θ=0.1 to θ=0.5 (no noise)", lambda g: (g("none", 0.1, "ospa"), g("none", 0.5, "ospa"))),
        ("FGSM detection rises from θ=0.1 to θ=0.5 (no noise)",
         lambda g: (g("none", 0.5, "fgsm"), g("none", 0.1, "fgsm"))),
        ("C&W-L2 detection rises from θ=0.1 to θ=0.5 (no noise)",
         lambda g: (g("none", 0.5, "cw_l2"), g("none", 0.1, "cw_l2"))),
        ("colour reversing alone (θ=0) detects FGSM better than saliency alone at θ=0.1",
         lambda g: (g("color_reverse", 0.0, "fgsm"), g("none", 0.1, "fgsm"))),
        ("zero mean keeps more OSPA than no noise at θ=0.3",
         lambda g: (g("zero_mean", 0.3, "ospa"), g("none", 0.3, "ospa"))),
        ("zero mean detects FGSM better than colour reversing at θ=0.1",
         lambda g: (g("zero_mean", 0.1, "fgsm"), g("color_reverse", 0.1, "fgsm"))),
    ]


def claims_check(rates: pd.DataFrame) -> pd.DataFrame:
    """Each claim of Tables I-III for VGG16 and ResNet50 (the paper's numbers) and for each of our models: the two
    numbers compared (percent, ours with their 95% intervals) and the verdict: 'holds', 'fails', 'tie' (the
    paper's, equal numbers), 'not resolved' (ours, overlapping intervals) or 'not measured'.

    Args:
        rates: a :func:`helpers.scores.rate_table` of one or several models.

    Returns:
        one row per (claim, model): claim, model ('vgg16', 'resnet50', then ours), left, left_low, left_high,
        right, right_low, right_high, verdict."""
    paper = paper_tables_1_3()
    ours = dict(tuple(rates.groupby("model", sort=False)))

    def lookup(model: str) -> Callable:
        def get(noise, theta, metric):
            if model in ours:
                r = _ours(ours[model], noise, theta, metric)
                return (np.nan,) * 3 if r is None else tuple(100 * r[c] for c in ("value", "ci_low", "ci_high"))
            hit = paper[(paper["noise"] == noise) & np.isclose(paper["theta"], theta) & (paper["model"] == model)
                        & (paper["metric"] == metric)]
            return (float(hit["value"].iloc[0]),) * 3
        return get

    rows = []
    for claim, compare in _claims():
        for model in (*PAPER_MODELS, *ours):
            left, right = compare(lookup(model))
            rows.append({"claim": claim, "model": model, "left": left[0], "left_low": left[1], "left_high": left[2],
                         "right": right[0], "right_low": right[1], "right_high": right[2],
                         "verdict": claim_verdict(left, right, model in PAPER_MODELS)})
    return pd.DataFrame(rows)


def claims_table(claims: pd.DataFrame) -> pd.DataFrame:
    """:func:`claims_check` for reading: one row per claim, a column per model (the paper's, then ours), cells
    'holds (81.0 vs 62.5)', 'not resolved (56.2 [31, 79] vs 62.5 [34, 84])', 'tie (78.6 vs 78.6)'."""
    def side(v, lo, hi):
        return f"{v:.1f}" if lo == hi or np.isnan(lo) else f"{v:.1f} [{lo:.0f}, {hi:.0f}]"
    cells = [f"{r['verdict']} ({side(r['left'], r['left_low'], r['left_high'])} vs "
             f"{side(r['right'], r['right_low'], r['right_high'])})" for _, r in claims.iterrows()]
    table = claims.assign(cell=cells).pivot(index="claim", columns="model", values="cell")
    table = table.loc[list(dict.fromkeys(claims["claim"])), list(dict.fromkeys(claims["model"]))]
    return table.rename_axis(columns=None).reset_index()
