"""The theta sweep of Tables I-III: every (noise, theta) on clean inputs and on the successful
adversarial examples of each attack, from one Grad-CAM pass per input.

Results come as a tidy table (model, attack, noise, theta, metric, value, ci_low, ci_high, n):

- ``ospa`` (attack ``"clean"``) and ``detection_rate`` for the paper's label-change decision,
  with Wilson 95% intervals;
- ``auc``: ROC-AUC of the continuous score (L1 distance of softmax outputs), clean vs successful
  adversarial, with a stratified-bootstrap 95% interval;
- ``tpr_at_fpr`` and ``fpr_heldout``: a score threshold fitted at the target false-positive rate
  on the calibration half of the images, evaluated on the other half (adversarial examples are
  assigned to the half of the image they came from).

A trivial baseline, the score 1 - max softmax probability of x (no saliency, no noise), gets its
own ``auc`` and ``tpr_at_fpr`` rows under ``noise = "baseline"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.attacks import AttackResult
from helpers.detector import EmphasisEvaluator
from helpers.metrics import calibration_split, detection_rate, ospa, rate_row, score_rows
from helpers.models import ModelBundle
from helpers.tables import format_cell

BASELINE = "baseline"  # the noise label of the 1 - max softmax rows
COLUMNS = ["model", "attack", "noise", "theta", "metric", "value", "ci_low", "ci_high", "n"]


@dataclass(frozen=True)
class EvaluatedSet:
    """The evaluator's output for one input set, and for each input the index of its source image."""

    report: dict[str, np.ndarray]
    source: np.ndarray

    def flags(self, k: int, t: int) -> np.ndarray:
        """Label-change decisions for noise k and theta t."""
        return self.report["emphasis_labels"][k, t] != self.report["labels"]


@dataclass(frozen=True)
class Sweep:
    """Evaluated clean inputs and successful adversarial examples of each attack."""

    model: str
    thetas: tuple[float, ...]
    noises: tuple[str, ...]
    sets: dict[str, EvaluatedSet]  # "clean" and one entry per attack
    saliency_method: str = "gradcam"


def run_sweep(bundle: ModelBundle, x_clean: np.ndarray, attacks: dict[str, AttackResult], thetas: Sequence[float],
              noises: Sequence[str], colormap: str = "jet", overlay_order: str = "coarse",
              zero_mean_reference: str = "imagenet", batch_size: int = 32, progress: bool = False,
              saliency_method: str = "gradcam") -> Sweep:
    """Evaluate every (noise, theta) on ``x_clean`` and on each attack's successful examples, with the
    saliency map ``saliency_method`` (see ``helpers.saliency.SALIENCY_METHODS``)."""
    evaluator = EmphasisEvaluator(bundle, thetas, noises, colormap, overlay_order, zero_mean_reference,
                                  saliency_method)
    sets = {"clean": EvaluatedSet(evaluator(x_clean, batch_size, progress), np.arange(len(x_clean)))}
    for name, result in attacks.items():
        if len(result.success) != len(x_clean):
            raise ValueError(f"attack {name} has {len(result.success)} examples for {len(x_clean)} clean inputs")
        source = np.flatnonzero(result.success)
        if source.size:
            sets[name] = EvaluatedSet(evaluator(result.x_adv[source], batch_size, progress), source)
    return Sweep(bundle.name, evaluator.thetas, evaluator.noises, sets, saliency_method)


def tidy_results(sweep: Sweep, fpr: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """The sweep as a tidy table (see the module docstring); ``seed`` fixes the calibration split
    and the bootstrap."""
    clean = sweep.sets["clean"]
    calib = calibration_split(len(clean.source), seed)
    attacks = [a for a in sweep.sets if a != "clean"]
    rows = []
    for k, noise in enumerate(sweep.noises):
        for t, theta in enumerate(sweep.thetas):
            key = {"model": sweep.model, "noise": noise, "theta": theta}
            rows.append({**key, "attack": "clean", "metric": "ospa", **rate_row(ospa(clean.flags(k, t)))})
            for attack in attacks:
                adv = sweep.sets[attack]
                rows.append({**key, "attack": attack, "metric": "detection_rate",
                             **rate_row(detection_rate(adv.flags(k, t)))})
                rows += [{**key, "attack": attack, **r} for r in score_rows(
                    clean.report["score"][k, t], adv.report["score"][k, t], calib, calib[adv.source], fpr, seed)]
    for attack in attacks:  # the trivial baseline: 1 - max softmax of x itself
        adv = sweep.sets[attack]
        rows += [{"model": sweep.model, "noise": BASELINE, "theta": np.nan, "attack": attack, **r}
                 for r in score_rows(1 - clean.report["confidence"], 1 - adv.report["confidence"], calib,
                                      calib[adv.source], fpr, seed)]
    return pd.DataFrame(rows, columns=COLUMNS)


def paper_layout(tidy: pd.DataFrame, noise: str, attacks: Sequence[str]) -> pd.DataFrame:
    """One of Tables I-III: rows theta; columns OSPA and each attack's detection rate, as
    'value [low, high] (n)' in percent."""
    sub = tidy[(tidy["noise"] == noise) & tidy["metric"].isin(["ospa", "detection_rate"])]
    cells = [format_cell(v, lo, hi, n) for v, lo, hi, n in sub[["value", "ci_low", "ci_high", "n"]].values]
    table = sub.assign(cell=cells).pivot(index="theta", columns="attack", values="cell")
    table = table[["clean"] + [a for a in attacks if a in table.columns]]
    return table.rename(columns={"clean": "OSPA"})


def select_theta(sweep: Sweep, seed: int = 0) -> pd.DataFrame:
    """Per noise, the theta chosen on the calibration half of the images (highest balanced accuracy
    of the label-change decision: mean of OSPA and the attacks' mean detection rate), and its OSPA
    and detection rates on the held-out half, with Wilson intervals. Never tuned on what it reports."""
    clean = sweep.sets["clean"]
    calib = calibration_split(len(clean.source), seed)
    attacks = [a for a in sweep.sets if a != "clean"]

    def balanced(k: int, t: int, keep: np.ndarray) -> float:
        detect = [detection_rate(sweep.sets[a].flags(k, t)[keep[sweep.sets[a].source]]).value for a in attacks]
        return (ospa(clean.flags(k, t)[keep]).value + np.nanmean(detect)) / 2

    rows = []
    for k, noise in enumerate(sweep.noises):
        best = int(np.nanargmax([balanced(k, t, calib) for t in range(len(sweep.thetas))]))
        row = {"noise": noise, "theta": sweep.thetas[best],
               "OSPA": format_cell(**rate_row(ospa(clean.flags(k, best)[~calib])))}
        for a in attacks:
            adv = sweep.sets[a]
            row[a] = format_cell(**rate_row(detection_rate(adv.flags(k, best)[~calib[adv.source]])))
        rows.append(row)
    return pd.DataFrame(rows)


def saliency_added_value(tidy: pd.DataFrame) -> pd.DataFrame:
    """Per noise and attack: AUC of the noise alone (θ = 0), the best AUC over θ > 0 (chosen in
    hindsight, so an optimistic bound for the overlay), and the 1 - max softmax baseline."""
    auc = tidy[tidy["metric"] == "auc"]
    rows = []
    for (noise, attack), g in auc[auc["noise"] != BASELINE].groupby(["noise", "attack"], sort=False):
        zero, positive = g[g["theta"] == 0], g[g["theta"] > 0]
        base = auc[(auc["noise"] == BASELINE) & (auc["attack"] == attack)]["value"]
        best = positive.loc[positive["value"].idxmax()] if len(positive) else None
        rows.append({"noise": noise, "attack": attack,
                     "AUC θ=0": zero["value"].iloc[0] if len(zero) else np.nan,
                     "best θ>0": best["theta"] if best is not None else np.nan,
                     "AUC best θ>0": best["value"] if best is not None else np.nan,
                     "AUC 1-max softmax": base.iloc[0] if len(base) else np.nan})
    out = pd.DataFrame(rows)
    out["overlay beats noise alone"] = out["AUC best θ>0"] > out["AUC θ=0"]
    out["overlay beats baseline"] = out["AUC best θ>0"] > out["AUC 1-max softmax"]
    return out
