"""The paper's published Tables I-V (``data/paper/``) next to our numbers (from a
:func:`helpers.scores.rate_table`), and a check of the main claims of Tables I-III."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.tables import RATE_CELL, format_percent, method_label

PAPER_DIR = Path(__file__).resolve().parents[1] / "data" / "paper"
# Our metric name for each column of the paper's tables.
_PAPER_METRIC = {"ospa": ("clean", "ospa"), "fgsm": ("fgsm", "detection_rate"), "cw_l2": ("cw_l2", "detection_rate")}


def paper_tables_1_3() -> pd.DataFrame:
    """Tables I-III as transcribed: table, noise, model, theta, metric, value (percent)."""
    return pd.read_csv(PAPER_DIR / "tables_1_3.csv")


def paper_tables_4_5() -> pd.DataFrame:
    """Tables IV-V as transcribed: table, method, setting, model, metric, value (percent)."""
    return pd.read_csv(PAPER_DIR / "tables_4_5.csv")


def _ours(rates: pd.DataFrame, noise: str, theta: float, metric: str) -> pd.Series | None:
    attack, name = _PAPER_METRIC[metric]
    hit = rates[(rates["detector"] == "saliency") & (rates["noise"] == noise) & np.isclose(rates["theta"], theta)
                & (rates["attack"] == attack) & (rates["metric"] == name)]
    return hit.iloc[0] if len(hit) else None


PAPER_MODELS = {"vgg16": "VGG16", "resnet50": "ResNet50"}
SIDE_BY_SIDE_COLUMNS = {"ospa": "OSPA", "fgsm": "FGSM", "cw_l2": "C&W-L2"}


def side_by_side_tidy(rates: pd.DataFrame) -> pd.DataFrame:
    """The numbers of :func:`side_by_side`: noise, theta, metric (ospa, fgsm, cw_l2), source ('paper
    VGG16', 'paper ResNet50', 'ours'), value, ci_low, ci_high, n, unit (percent), interval (ours:
    Wilson 95%; the paper gives no interval or n). Only cells we measured."""
    paper = paper_tables_1_3()
    rows = []
    for (noise, theta, metric), group in paper.groupby(["noise", "theta", "metric"], sort=False):
        ours = _ours(rates, noise, theta, metric)
        if ours is None:
            continue
        key = {"noise": noise, "theta": theta, "metric": metric}
        for model, label in PAPER_MODELS.items():
            value = group.loc[group["model"] == model, "value"]
            rows.append({**key, "source": f"paper {label}", "value": float(value.iloc[0]) if len(value) else np.nan,
                         "ci_low": np.nan, "ci_high": np.nan, "n": np.nan, "unit": "%", "interval": ""})
        rows.append({**key, "source": "ours", "value": 100 * ours["value"], "ci_low": 100 * ours["ci_low"],
                     "ci_high": 100 * ours["ci_high"], "n": ours["n"], "unit": "%", "interval": "Wilson 95%"})
    return pd.DataFrame(rows, columns=["noise", "theta", "metric", "source", "value", "ci_low", "ci_high", "n",
                                       "unit", "interval"])


def side_by_side(rates: pd.DataFrame) -> pd.DataFrame:
    """One row per noise and theta measured; for each of the paper's columns (OSPA, FGSM, C&W-L2)
    the paper's values as 'VGG16 / ResNet50' and ours as 'value [95% CI] (n)', all in percent
    (formatted from :func:`side_by_side_tidy`; the column headers say which is which)."""
    tidy = side_by_side_tidy(rates)
    rows = {}
    for (noise, theta, metric), g in tidy.groupby(["noise", "theta", "metric"], sort=False):
        row = rows.setdefault((noise, theta), {"noise": noise, "theta": theta})
        paper = g[g["source"] != "ours"].set_index("source")["value"]
        ours = g[g["source"] == "ours"].iloc[0]
        name = SIDE_BY_SIDE_COLUMNS[metric]
        row[f"{name} paper (VGG16 / ResNet50), %"] = " / ".join(f"{v:.1f}" for v in paper)
        row[f"{name} ours, {RATE_CELL}"] = format_percent(ours["value"], ours["ci_low"], ours["ci_high"], ours["n"])
    return pd.DataFrame(list(rows.values()))


SIDE_BY_SIDE_CAPTION = ("The paper's Tables I-III (VGG16 / ResNet50, percent, no intervals or sample sizes "
                        "published) next to ours: rate in percent [Wilson 95% confidence interval] (n = clean "
                        "inputs for OSPA, successful adversarial examples for an attack).")


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
    """Each claim of Tables I-III: whether it holds for VGG16, ResNet50 (paper) and for us, with
    the two numbers compared (percent). 'n/a' where we did not measure the needed cells."""
    paper = paper_tables_1_3()

    def lookup(model: str) -> Callable:
        def get(noise, theta, metric):
            if model == "ours":
                r = _ours(rates, noise, theta, metric)
                return np.nan if r is None else 100 * r["value"]
            hit = paper[(paper["noise"] == noise) & np.isclose(paper["theta"], theta) & (paper["model"] == model)
                        & (paper["metric"] == metric)]
            return float(hit["value"].iloc[0])
        return get

    rows = []
    for claim, compare in _claims():
        row = {"claim": claim}
        for model in ("vgg16", "resnet50", "ours"):
            left, right = compare(lookup(model))
            verdict = "n/a" if np.isnan(left) or np.isnan(right) else ("yes" if left > right else "no")
            row[model] = f"{verdict} ({left:.1f} vs {right:.1f})"
        rows.append(row)
    return pd.DataFrame(rows)


def paper_setting(squeezer: str) -> str:
    """The paper's name of a squeezer: 'bit_depth:5' -> '5-bit', 'median:2x2' -> '2x2', 'nlm:11-3-4' -> '11-3-4'."""
    kind, arg = squeezer.split(":", 1)
    return f"{arg}-bit" if kind == "bit_depth" else arg


def table_iv_side_by_side(rates: pd.DataFrame, joint: dict[str, list[str]]) -> pd.DataFrame:
    """Table IV (VGG16, FGSM, label change) next to ours: OSPA and FGSM detection in percent, one row
    per squeezer of the paper; ours for the squeezers and the ``joint`` detectors (name -> squeezers) we ran."""
    paper = paper_tables_4_5().query("table == 'IV'").pivot_table(index="setting", columns="metric", values="value",
                                                                   sort=False)
    fs = rates[(rates["detector"] == "feature_squeezing") & rates["attack"].isin(["clean", "fgsm"])
               & rates["metric"].isin(["ospa", "detection_rate"])]
    ours = (fs.pivot_table(index="squeezer", columns="metric", values="value", sort=False) * 100)
    settings = {s: paper_setting(s) for s in ours.index if s not in joint}
    settings |= {name: ", ".join(paper_setting(m) for m in members) for name, members in joint.items()}
    rows = []
    for setting in paper.index:
        mine = [s for s, v in settings.items() if v == setting]
        row = ours.loc[mine[0]] if mine else None
        rows.append({"squeezer": mine[0] if mine else setting, "paper OSPA": paper.loc[setting, "ospa"],
                     "ours OSPA": np.nan if row is None else row.get("ospa", np.nan),
                     "paper FGSM": paper.loc[setting, "fgsm"],
                     "ours FGSM": np.nan if row is None else row.get("detection_rate", np.nan)})
    return pd.DataFrame(rows)


def table_v(rates: pd.DataFrame, attacks: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table V as published (VGG16, percent) and ours: each configuration with its own decision rule,
    OSPA and each attack's detection rate in percent (rows named by :func:`helpers.tables.method_label`)."""
    paper = paper_tables_4_5().query("table == 'V'").pivot_table(index="method", columns="metric", values="value",
                                                                  sort=False)[["ospa", "fgsm", "cw_l2"]]
    own = rates[rates["metric"].isin(["ospa", "detection_rate"])]
    own = own.assign(column=own["attack"].where(own["attack"] != "clean", "ospa"),
                     method=[method_label(*k) for k in own[["detector", "noise", "theta", "squeezer"]].values])
    ours = 100 * own.pivot_table(index="method", columns="column", values="value", sort=False)
    return paper, ours[["ospa", *[a for a in attacks if a in ours.columns]]]
