"""Result tables: rates formatted with their Wilson intervals, the layouts of the paper's tables
and of detector comparisons (from :func:`helpers.scores.rate_table`'s numbers), and export as CSV
and LaTeX (atomic writes). Formatting only: every number comes from a rate table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from helpers.runtime import write_atomically
from helpers.validation import check_choice


def format_cell(value: float, ci_low: float, ci_high: float, n: int) -> str:
    """A rate as '87.5 [64, 97] (16)': percent, Wilson 95% interval, number of cases; '– (0)' when n = 0."""
    if pd.isna(value):
        return "– (0)"
    return f"{100 * value:.1f} [{100 * ci_low:.0f}, {100 * ci_high:.0f}] ({int(n)})"


def export_table(df: pd.DataFrame, name: str, folder: str | Path, index: bool = False,
                 float_format: str = "%.4g", formats: tuple[str, ...] = ("csv", "tex")) -> list[Path]:
    """Write ``name.csv`` and ``name.tex`` (booktabs LaTeX) into ``folder``, each atomically."""
    render = {"csv": lambda: df.to_csv(index=index, float_format=float_format),
              "tex": lambda: df.to_latex(index=index, float_format=float_format, escape=True)}
    return [write_atomically(Path(folder) / f"{name}.{ext}", lambda tmp, ext=ext: Path(tmp).write_text(render[ext]()))
            for ext in formats]


NOISE_LABELS = {"none": "", "color_reverse": "colour reversing", "zero_mean": "zero mean"}
BASELINE_LABEL = "1 − max softmax (baseline)"


def format_auc(value: float, ci_low: float, ci_high: float) -> str:
    """An AUC as '0.92 [0.85, 0.97]' (bootstrap 95% interval)."""
    return f"{value:.2f} [{ci_low:.2f}, {ci_high:.2f}]"


def method_label(detector: str, noise: str = "", theta: float = float("nan"), squeezer: str = "") -> str:
    """A configuration's name in tables and legends: 'saliency + zero mean, θ=0.1', a squeezer or
    joint detector's name, or the baseline."""
    if detector == "saliency":
        return f"saliency{' + ' + NOISE_LABELS[noise] if NOISE_LABELS[noise] else ''}, θ={theta:g}"
    if detector == "feature_squeezing":
        return squeezer
    return BASELINE_LABEL


def _cell(hit: pd.DataFrame, auc: bool = False) -> str:
    if not len(hit):
        return "–"
    v, lo, hi, n = hit.iloc[0][["value", "ci_low", "ci_high", "n"]]
    return format_auc(v, lo, hi) if auc else format_cell(v, lo, hi, n)


def paper_layout(rates: pd.DataFrame, noise: str, attacks: Sequence[str]) -> pd.DataFrame:
    """One of Tables I-III from a rate table: rows theta; columns OSPA and each attack's detection
    rate, as 'value [low, high] (n)' in percent."""
    sub = rates[(rates["detector"] == "saliency") & (rates["noise"] == noise)
                & rates["metric"].isin(["ospa", "detection_rate"])]
    cells = [format_cell(v, lo, hi, n) for v, lo, hi, n in sub[["value", "ci_low", "ci_high", "n"]].values]
    table = sub.assign(cell=cells).pivot(index="theta", columns="attack", values="cell")
    table = table[["clean"] + [a for a in attacks if a in table.columns]]
    return table.rename(columns={"clean": "OSPA"})


def method_layout(rates: pd.DataFrame, attacks: Sequence[str], mode: str = "own") -> pd.DataFrame:
    """Rows = configurations (named by :func:`method_label`). ``"own"``: OSPA and each attack's
    detection rate at the detector's own rule; ``"matched"``: held-out FPR and each attack's held-out
    TPR at the threshold fitted for the target FPR; ``"auc"``: each attack's AUC [bootstrap 95% CI]."""
    check_choice(mode, ("own", "matched", "auc"), "layout mode")
    metric, first = {"own": ("detection_rate", ("ospa", "OSPA")),
                     "matched": ("tpr_at_fpr", ("fpr_heldout", "held-out FPR")), "auc": ("auc", None)}[mode]
    rows = []
    for key, g in rates.groupby(["detector", "noise", "theta", "squeezer"], sort=False, dropna=False):
        if mode == "own" and not (g["metric"] == "ospa").any():
            continue  # a score-only configuration has no own decision rule
        row = {"method": method_label(*key)}
        if first is not None:
            row[first[1]] = _cell(g[g["metric"] == first[0]])
        for attack in attacks:
            row[attack] = _cell(g[(g["attack"] == attack) & (g["metric"] == metric)], auc=mode == "auc")
        rows.append(row)
    return pd.DataFrame(rows)


def auc_by_theta(rates: pd.DataFrame, attacks: Sequence[str]) -> pd.DataFrame:
    """AUC [bootstrap 95% CI] of the saliency score by noise and theta (and the baseline's), columns = attacks."""
    auc = rates[rates["metric"] == "auc"]
    auc = auc.assign(cell=[format_auc(v, lo, hi) for v, lo, hi in auc[["value", "ci_low", "ci_high"]].values],
                     noise=auc["noise"].where(auc["detector"] == "saliency", auc["detector"]))
    table = auc.pivot_table(index=["noise", "theta"], columns="attack", values="cell", aggfunc="first", dropna=False)
    return table.dropna(how="all")[[a for a in attacks if a in table.columns]]


def selected_theta_layout(selected: pd.DataFrame, attacks: Sequence[str]) -> pd.DataFrame:
    """:func:`helpers.scores.select_theta`'s rows as one row per noise: theta, OSPA and detection rates."""
    rows = []
    for (noise, theta), g in selected.groupby(["noise", "theta"], sort=False):
        row = {"noise": noise, "theta": theta, "OSPA": _cell(g[g["attack"] == "clean"])}
        row |= {a: _cell(g[g["attack"] == a]) for a in attacks if (g["attack"] == a).any()}
        rows.append(row)
    return pd.DataFrame(rows)
