"""Notebook 06: Feature Squeezing (Xu, Evans, Qi, NDSS 2018), the paper's baseline detector (Table IV): each
squeezer at the label-change rule, the joint detector at a matched false-positive rate, ROC-AUC.

The whole experiment in one place: :class:`Config`, :func:`run` -> :class:`Result`, :func:`facts` (the only
analysis) and the formatters :func:`tables`, :func:`figures` and :func:`findings`, which only format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.experiments.export import Table
from helpers.experiments.prose import protocol_text
from helpers.experiments.runs import ModelRun, prepare, score_runs
from helpers.findings import each_model, find_rate, said
from helpers.labels import DetectorKey, attack_label, auc_text, method_label
from helpers.paper import paper_setting, paper_tables_4_5
from helpers.scores import rate_table, rule_rows, squeezing_scores
from helpers.tables import AUC_INTERVAL, method_header, method_layout, method_tidy, model_columns, rate_caption

NAME = "feature_squeezing"  # the score tables' file names: scores_feature_squeezing_<model>.parquet
TABLES = {"own": "table4_feature_squeezing_label_change", "auc": "table4_feature_squeezing_auc"}
CAPTIONS = {"own": rate_caption("Table IV: each squeezer under the label-change rule (flag when the squeezed "
                                "input's label differs)."),
            "auc": f"ROC-AUC (0-1) of each squeezer's L1 score [{AUC_INTERVAL}] on clean inputs and successful "
                   "adversarial examples."}


@dataclass(frozen=True)
class Config:
    """The parameters notebook 06 reads, typed and checked once (:meth:`from_params`).

    Attributes:
        squeezers: each squeezer scored on its own (Table IV's rows).
        joint: the joint detector's squeezer specs (max L1 over them).
        channel_order: what OpenCV's non-local means is given ('rgb' or 'bgr').
        fpr: the matched false-positive rate (fraction).
        seed: the seed of the calibration split and of the bootstrap.
        batch_size: images per forward pass.
        parameters: every checked parameter, as saved with the score tables (not compared)."""

    attacks: tuple[str, ...]
    squeezers: tuple[str, ...]
    joint: tuple[str, ...]
    channel_order: str
    fpr: float
    seed: int
    batch_size: int
    parameters: Mapping[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Config:
        """The configuration of checked notebook parameters or of a saved score table's metadata.

        Raises:
            KeyError: a parameter the experiment needs is missing."""
        p = params
        return cls(tuple(p["attacks"]), tuple(p["squeezers"]), tuple(p["joint"]), p["channel_order"],
                   float(p["fpr"]), int(p["seed"]), int(p["batch_size"]), dict(p))

    @property
    def joint_key(self) -> DetectorKey:
        """The joint detector."""
        return DetectorKey("feature_squeezing", squeezers=self.joint)


@dataclass(frozen=True)
class Result:
    """One Feature Squeezing run.

    Attributes:
        scores: the stacked score table of every model (each squeezer and the joint detector).
        rates: its :func:`helpers.scores.rate_table`.
        metadata: model -> its run's metadata."""

    scores: pd.DataFrame
    rates: pd.DataFrame
    metadata: dict[str, dict]
    config: Config


@dataclass(frozen=True)
class Facts:
    """Every number notebook 06 shows: rate-table rows (fractions, with ``ci_low``, ``ci_high``, ``n``).

    Attributes:
        rows: mode ('own', 'auc': every squeezer; 'matched': the joint detector) -> its rule rows
            (:func:`helpers.scores.rule_rows`).
        rates: the whole rate table (the paper's Table IV side by side reads its OSPA and FGSM rows)."""

    config: Config
    models: tuple[str, ...]
    rows: dict[str, pd.DataFrame]
    rates: pd.DataFrame


def run(config: Config, runs: Mapping[str, ModelRun] | None = None) -> Result:
    """Score every model's images and attack sets with each squeezer and the joint detector and save the score
    tables (``results_dir``: ``scores_feature_squeezing_<model>.parquet``).

    Args:
        runs: the prepared models (default: :func:`helpers.experiments.runs.prepare` of its parameters)."""
    c = config
    runs = prepare(c.parameters) if runs is None else runs
    scores, metadata = score_runs(runs, lambda r: squeezing_scores(r.bundle, r.images, r.attacks, list(c.squeezers),
                                                                   [list(c.joint)], c.channel_order, c.batch_size),
                                  c.parameters, NAME)
    return from_scores(scores, metadata, c)


def from_scores(scores: pd.DataFrame, metadata: dict[str, dict], config: Config | Mapping[str, Any]) -> Result:
    """The :class:`Result` of a score table (e.g. a saved one).

    Args:
        scores: the score table of one or several models (``helpers.scores.COLUMNS``).
        metadata: model -> its run's metadata (``helpers.scores.run_metadata``).
        config: the run's :class:`Config`, or its parameters (:meth:`Config.from_params`)."""
    config = config if isinstance(config, Config) else Config.from_params(config)
    return Result(scores, rate_table(scores, fpr=config.fpr, seed=config.seed), dict(metadata), config)


def protocol(runs: Mapping[str, ModelRun], config: Config) -> str:
    """The lines printed first: per model the image protocol, the squeezers' input, each attack's success.

    Args:
        runs: model name -> its prepared run."""
    return protocol_text(runs, lambda r: f"{r.images.description}; non-local means on "
                                         f"{config.channel_order.upper()} input")


def facts(result: Result) -> Facts:
    """The analysis of a Feature Squeezing run: the rows of Table IV's views."""
    r, attacks = result.rates, result.config.attacks
    rows = {mode: rule_rows(r, attacks, mode) for mode in TABLES}
    rows["matched"] = rule_rows(r[r["squeezer"] == result.config.joint_key.squeezer], attacks, "matched")
    return Facts(result.config, tuple(result.metadata), rows, r)


def tables(facts: Facts) -> dict[str, Table]:
    """Table IV (each squeezer at the label-change rule) and the AUC of each squeezer's L1 score, a column
    group per model.

    Returns:
        name -> :class:`~helpers.experiments.export.Table`."""
    out = {}
    for mode, name in TABLES.items():
        tidy = method_tidy(facts.rows[mode])
        layout = method_layout(tidy, list(facts.config.attacks), mode)
        out[name] = Table(layout, CAPTIONS[mode], tidy, method_header(layout.columns, mode))
    return out


def figures(result: Result, facts: Facts) -> dict[str, dict[str, plt.Figure]]:
    """No figure: notebook 06 draws none (its ROC curves are notebook 07's, next to the saliency detector's)."""
    return {}


def matched(facts: Facts) -> pd.DataFrame:
    """The joint detector at a matched FPR: threshold on the calibration half, rates on the held-out half.

    Returns:
        the layout, index ``method``, columns (model, column)."""
    return method_layout(method_tidy(facts.rows["matched"]), list(facts.config.attacks), "matched")


def table_iv(rates: pd.DataFrame, joint: tuple[str, ...]) -> pd.DataFrame:
    """Table IV (VGG16, FGSM, label change) next to ours: OSPA and FGSM detection in percent, one row per
    squeezer of the paper (named by :attr:`helpers.labels.DetectorKey.label`); ours for the squeezers and the
    ``joint`` detector we ran, a column group per model.

    Args:
        rates: a :func:`helpers.scores.rate_table` of one or several models.

    Returns:
        the table, index ``squeezer``, columns (model, column)."""
    paper = paper_tables_4_5().query("table == 'IV'").pivot_table(index="setting", columns="metric", values="value",
                                                                   sort=False)
    joint_key = DetectorKey("feature_squeezing", squeezers=tuple(joint))

    def layout(of_model: pd.DataFrame) -> pd.DataFrame:
        fs = of_model[(of_model["detector"] == "feature_squeezing") & of_model["attack"].isin(["clean", "fgsm"])
                      & of_model["metric"].isin(["ospa", "detection_rate"])]
        ours = fs.pivot_table(index="squeezer", columns="metric", values="value", sort=False) * 100
        settings = {s: paper_setting(s) for s in ours.index if s != joint_key.squeezer}
        settings[joint_key.squeezer] = ", ".join(paper_setting(m) for m in joint)
        rows = []
        for setting in paper.index:
            mine = [s for s, v in settings.items() if v == setting and s in ours.index]
            row = ours.loc[mine[0]] if mine else None
            rows.append({"squeezer": method_label("feature_squeezing", squeezer=mine[0]) if mine else setting,
                         "paper OSPA": paper.loc[setting, "ospa"],
                         "ours OSPA": np.nan if row is None else row.get("ospa", np.nan),
                         "paper FGSM": paper.loc[setting, "fgsm"],
                         "ours FGSM": np.nan if row is None else row.get("detection_rate", np.nan)})
        return pd.DataFrame(rows).set_index("squeezer")

    return model_columns(rates, layout)


def side_by_side(facts: Facts) -> pd.DataFrame:
    """Our Table IV (percent) next to the paper's (VGG16, FGSM, label change), a column group per model.

    Returns:
        the table, index ``squeezer``, columns (model, column)."""
    return table_iv(facts.rates, facts.config.joint)


def _model_findings(facts: Facts, model: str) -> str:
    rates, attacks = facts.rates[facts.rates["model"] == model], facts.config.attacks
    fs = {"detector": "feature_squeezing", "squeezer": facts.config.joint_key.squeezer}
    own = [f"{attack_label(a)} {said(find_rate(rates, 'detection_rate', a, **fs))}" for a in attacks]
    matched_ = [f"{attack_label(a)} {said(find_rate(rates, 'tpr_at_fpr', a, **fs))}" for a in attacks]
    held_fpr = [r for a in attacks if (r := find_rate(rates, "fpr_heldout", a, **fs)) is not None]
    auc = [f"{attack_label(a)} {auc_text(r['value'], r['ci_low'], r['ci_high'])}"
           for a in attacks if (r := find_rate(rates, "auc", a, **fs)) is not None]
    lines = [f"- *Label-change rule (the paper's Table IV):* the joint detector keeps "
             f"{said(find_rate(rates, 'ospa', 'clean', **fs))} of clean labels and flags " + "; ".join(own) + "."]
    if held_fpr:
        lines.append(f"- *Max-L1 score at the target FPR (Xu et al.):* held-out FPR {said(held_fpr[0])}; "
                     "detection on the held-out half: " + "; ".join(matched_) + ".")
    lines.append("- *AUC [bootstrap 95% CI]:* " + "; ".join(auc) + ".")
    return "\n".join(lines)


def findings(facts: Facts) -> str:
    """The headline sentences (Markdown) per model: the joint detector under the label-change rule, at a matched
    FPR, and its AUCs.

    Returns:
        the Markdown list (with several models, each statement starts with its model's name)."""
    return each_model(list(facts.models), lambda model: _model_findings(facts, model))
