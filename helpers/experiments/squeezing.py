"""Notebook 06: Feature Squeezing (Xu, Evans, Qi, NDSS 2018), the paper's baseline detector (Table IV): each
squeezer at the label-change rule, the joint detector at a matched false-positive rate, ROC-AUC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from helpers.experiments.common import ModelRun, Table, prepare, protocol_text, score_runs
from helpers.findings import squeezing_findings
from helpers.labels import DetectorKey
from helpers.paper import table_iv_side_by_side
from helpers.scores import rate_table, rule_rows, squeezing_scores
from helpers.tables import method_header, method_layout, method_tidy, rate_caption

NAME = "feature_squeezing"  # the score tables' file names: scores_feature_squeezing_<model>.parquet


@dataclass(frozen=True)
class Result:
    """One Feature Squeezing run: the score table of every model (each squeezer and the joint detector), its
    rates, the run's metadata and parameters (``config``).

    Attributes:
        scores: the stacked score table (``helpers.scores.COLUMNS``).
        rates: its :func:`helpers.scores.rate_table`.
        metadata: model -> its run's metadata.
        config: the run's parameters."""

    scores: pd.DataFrame
    rates: pd.DataFrame
    metadata: dict[str, dict]
    config: dict[str, Any]

    @property
    def attacks(self) -> list[str]:
        """The attacks, in the order of the parameters."""
        return list(self.config["attacks"])


def run(config: Mapping[str, Any], runs: Mapping[str, ModelRun] | None = None) -> Result:
    """Score every model's images and attack sets with each squeezer and the joint detector and save the score
    tables (``results_dir``: ``scores_feature_squeezing_<model>.parquet``).

    Args:
        config: the checked parameters of notebook 06.
        runs: the prepared models (default: :func:`helpers.experiments.common.prepare` of ``config``).

    Returns:
        the :class:`Result`."""
    c = config
    runs = prepare(c) if runs is None else runs
    scores, metadata = score_runs(runs, lambda r: squeezing_scores(r.bundle, r.images, r.attacks, c["squeezers"],
                                                                   [c["joint"]], c["channel_order"], c["batch_size"]),
                                  c, NAME)
    return from_scores(scores, metadata, c)


def from_scores(scores: pd.DataFrame, metadata: dict[str, dict], config: Mapping[str, Any]) -> Result:
    """The :class:`Result` of a score table (e.g. a saved one), with ``config``'s ``fpr``, ``seed``, ``attacks``.

    Args:
        scores: the score table of one or several models (``helpers.scores.COLUMNS``).
        metadata: model -> its run's metadata (``helpers.scores.run_metadata``).
        config: the run's parameters.

    Returns:
        the :class:`Result`."""
    return Result(scores, rate_table(scores, fpr=config["fpr"], seed=config["seed"]), dict(metadata), dict(config))


def protocol(runs: Mapping[str, ModelRun], config: Mapping[str, Any]) -> str:
    """The lines printed first: per model the image protocol, the squeezers' input, each attack's success.

    Args:
        runs: model name -> its prepared run.
        config: the checked parameters.

    Returns:
        the lines."""
    return protocol_text(runs, lambda r: f"{r.images.description}; non-local means on "
                                         f"{config['channel_order'].upper()} input")


def joint_key(config: Mapping[str, Any]) -> DetectorKey:
    """The joint detector of the parameters (``joint``).

    Args:
        config: the checked parameters.

    Returns:
        the :class:`~helpers.labels.DetectorKey`."""
    return DetectorKey("feature_squeezing", squeezers=tuple(config["joint"]))


def tables(result: Result) -> dict[str, Table]:
    """Table IV (each squeezer at the label-change rule) and the AUC of each squeezer's L1 score, a column
    group per model.

    Args:
        result: the run.

    Returns:
        name -> :class:`~helpers.experiments.common.Table`."""
    r, attacks = result.rates, result.attacks
    tidy = {mode: method_tidy(rule_rows(r, attacks, mode)) for mode in ("own", "auc")}
    own, auc = (method_layout(tidy[mode], attacks, mode) for mode in ("own", "auc"))
    return {
        "table4_feature_squeezing_label_change": Table(
            own, rate_caption("Table IV: each squeezer under the label-change rule (flag when the squeezed input's "
                              "label differs)."), tidy["own"], method_header(own.columns, "own")),
        "table4_feature_squeezing_auc": Table(
            auc, "ROC-AUC (0-1) of each squeezer's L1 score [stratified bootstrap 95% interval, 1000 resamples] on "
                 "clean inputs and successful adversarial examples.", tidy["auc"], method_header(auc.columns, "auc"))}


def figures(result: Result) -> dict[str, dict[str, plt.Figure]]:
    """No figure: notebook 06 draws none (its ROC curves are notebook 07's, next to the saliency detector's).

    Args:
        result: the run.

    Returns:
        an empty dict."""
    return {}


def matched(result: Result) -> pd.DataFrame:
    """The joint detector at a matched FPR: threshold on the calibration half, rates on the held-out half.

    Args:
        result: the run.

    Returns:
        the layout, index ``method``, columns (model, column)."""
    r = result.rates
    rows = rule_rows(r[r["squeezer"] == joint_key(result.config).squeezer], result.attacks, "matched")
    return method_layout(method_tidy(rows), result.attacks, "matched")


def side_by_side(result: Result) -> pd.DataFrame:
    """Our Table IV (percent) next to the paper's (VGG16, FGSM, label change), a column group per model.

    Args:
        result: the run.

    Returns:
        the table, index ``squeezer``, columns (model, column)."""
    return table_iv_side_by_side(result.rates, result.config["joint"])


def findings(result: Result) -> str:
    """The headline sentences (Markdown): the squeezers' trade-off and the joint detector, per model.

    Args:
        result: the run.

    Returns:
        the Markdown list."""
    return squeezing_findings(result.rates, result.attacks, result.config["joint"])
